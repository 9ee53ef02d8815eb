"""Asking the person at the device: questions and consent requests from the server.

Uses the terminal when the agent runs interactively, else a native dialog (osascript on
macOS, zenity on a Linux desktop, a PowerShell dialog on Windows). When none can get an
answer it shows a notification if it can and reports ``unavailable``; it never guesses.

Unattended answers (tests, kiosks, lab machines): ``MSPCLAW_AGENT_ANSWER_FILE`` names a JSON
file mapping a question's ``key`` (e.g. ``"resolution_feedback"``) or ``"*"`` to the answer
text. It is read at each question, so it can change while the agent runs; a question it has no
entry for goes to the usual channels. It never answers consent requests (``approve``): those
always need the person at the device.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import Callable

from mspclaw_agent.protocol import Answer, ApprovalRequest, ApprovalResponse, Question

_MAX_TEXT = 500
#: a JSON file of prepared answers to questions, by question key or "*" (never consent)
ANSWER_FILE_ENV = "MSPCLAW_AGENT_ANSWER_FILE"


def _clean(text: str) -> str:
    # Text comes from the server and ends up in a dialog or a terminal: no control chars.
    return "".join(ch for ch in text if ch.isprintable() or ch == "\n")[:_MAX_TEXT]


def _applescript_string(text: str) -> str:
    return '"' + _clean(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ps_string(text: str) -> str:
    return "'" + _clean(text).replace("'", "''") + "'"


def prepared_answer(question: Question) -> str | None:
    """The answer ``MSPCLAW_AGENT_ANSWER_FILE`` holds for ``question``, if any."""
    path = os.environ.get(ANSWER_FILE_ENV)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            answers = json.load(handle)
    except (OSError, ValueError):
        return None  # no file (yet), or half-written: ask as usual
    if not isinstance(answers, dict):
        return None
    found = answers.get(question.key or "", answers.get("*"))
    return _clean(found) if isinstance(found, str) and found.strip() else None


class EndUserPrompter:
    """Chooses how to reach the local user once, then asks through that channel."""

    def __init__(self, *, interactive: bool | None = None) -> None:
        self.interactive = sys.stdin.isatty() and sys.stdout.isatty() if interactive is None else interactive

    def channel(self) -> str:
        """``terminal``, ``osascript``, ``zenity``, ``powershell`` or ``none``."""
        if self.interactive:
            return "terminal"
        if sys.platform == "darwin" and shutil.which("osascript"):
            return "osascript"
        if sys.platform == "win32" and shutil.which("powershell"):
            return "powershell"
        has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if has_display and shutil.which("zenity"):
            return "zenity"
        return "none"

    async def ask(self, question: Question) -> Answer:
        """Put the question to the user; ``unavailable`` when nobody can be asked."""
        prepared = prepared_answer(question)
        if prepared is not None:
            return Answer(question_id=question.question_id, status="answered", answer=prepared.strip())
        channel = self.channel()
        text = _clean(question.prompt)
        if question.choices:
            text += " [" + "/".join(_clean(c) for c in question.choices) + "]"
        reply: str | None
        if channel == "terminal":
            reply = await self._terminal(text + " ", question.timeout)
        elif channel in ("osascript", "zenity", "powershell"):
            reply = await self._dialog_text(channel, text, question.timeout)
        else:
            await self._notify(text)
            return Answer(question_id=question.question_id, status="unavailable")
        if reply is None:
            return Answer(question_id=question.question_id, status="timeout")
        return Answer(question_id=question.question_id, status="answered", answer=reply.strip())

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        """Ask for consent; anything but an explicit yes is a denial."""
        channel = self.channel()
        text = _clean(f"{request.title}\n{request.message}".strip())
        if channel == "none":
            await self._notify(text)
            return ApprovalResponse(request_id=request.request_id, status="unavailable")
        if channel == "terminal":
            reply = await self._terminal(text + " [y/N] ", request.timeout)
            if reply is None:
                return ApprovalResponse(request_id=request.request_id, status="timeout")
            approved = reply.strip().lower() in ("y", "yes")
        else:
            decided = await self._dialog_yes_no(channel, text, request.timeout)
            if decided is None:
                return ApprovalResponse(request_id=request.request_id, status="timeout")
            approved = decided
        return ApprovalResponse(request_id=request.request_id, status="approved" if approved else "denied")

    # -- channels ----------------------------------------------------------------------
    async def _terminal(self, text: str, wait: float) -> str | None:
        read: Callable[[], str] = lambda: input(text)  # noqa: E731
        try:
            return await asyncio.wait_for(asyncio.to_thread(read), wait)
        except (TimeoutError, EOFError):
            return None

    async def _run(self, argv: list[str], wait: float) -> tuple[int, str] | None:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), wait)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None
        return proc.returncode or 0, out.decode("utf-8", "replace")

    def _dialog_argv(self, channel: str, text: str, wait: float, *, yes_no: bool) -> list[str]:
        """The native dialog command: a text entry, or a yes/no question."""
        if channel == "osascript":
            shown = _applescript_string(text)
            if yes_no:
                options = 'buttons {"Deny", "Allow"} default button "Deny"'
                script = f"button returned of (display dialog {shown} {options} "
            else:
                script = f'text returned of (display dialog {shown} default answer "" '
            script += f'with title "MSPclaw" giving up after {int(wait)})'
            return ["osascript", "-e", script]
        if channel == "zenity":
            kind = "--question" if yes_no else "--entry"
            return ["zenity", kind, "--title=MSPclaw", f"--text={_clean(text)}"]
        if yes_no:
            script = (
                "Add-Type -AssemblyName PresentationFramework;"
                f"[System.Windows.MessageBox]::Show({_ps_string(text)}, 'MSPclaw', 'YesNo')"
            )
        else:
            script = (
                "Add-Type -AssemblyName Microsoft.VisualBasic;"
                f"[Microsoft.VisualBasic.Interaction]::InputBox({_ps_string(text)}, 'MSPclaw')"
            )
        return ["powershell", "-NoProfile", "-Command", script]

    async def _dialog_text(self, channel: str, text: str, wait: float) -> str | None:
        done = await self._run(self._dialog_argv(channel, text, wait, yes_no=False), wait)
        if done is None or done[0] != 0 or not done[1].strip():
            return None
        return done[1]

    async def _dialog_yes_no(self, channel: str, text: str, wait: float) -> bool | None:
        done = await self._run(self._dialog_argv(channel, text, wait, yes_no=True), wait)
        if done is None:
            return None
        code, out = done
        if channel == "zenity":
            return code == 0
        return out.strip() in ("Allow", "Yes")

    async def _notify(self, text: str) -> None:
        """Best effort: tell the user something was asked even if they cannot answer here."""
        if sys.platform == "win32" and shutil.which("msg"):
            argv = ["msg", "*", "/TIME:60", f"MSPclaw: {_clean(text)}"]
        elif shutil.which("notify-send") and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            argv = ["notify-send", "MSPclaw", _clean(text)]
        else:
            return
        await self._run(argv, 10.0)
