"""The agent's connection loop: one outbound WebSocket to the gateway, kept alive.

Sends hello and heartbeats, runs dispatched tools from the allow-list, keeps every result
in the persistent outbox until the server acks it, answers re-sent dispatches from the
outbox, and reconnects with exponential backoff plus jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import platform
import random
import socket
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from mspclaw_agent import __version__
from mspclaw_agent.enroll import os_name
from mspclaw_agent.prompt import EndUserPrompter
from mspclaw_agent.protocol import (
    MAX_MESSAGE_BYTES,
    Ack,
    ApprovalRequest,
    Bye,
    Dispatch,
    Error,
    Heartbeat,
    Hello,
    HelloAck,
    ProtocolError,
    Question,
    Result,
    ToolOutcome,
    encode_message,
    parse_message,
    utcnow,
)
from mspclaw_agent.state import AgentState, StateStore

log = logging.getLogger("mspclaw_agent")

# Exit codes the service manager can act on (systemd RestartPreventExitStatus=3).
EXIT_REVOKED = 3
# Consecutive 401/403 answers to the upgrade before the agent believes it was revoked.
REFUSALS_BEFORE_EXIT = 3
# Room for the envelope around a tool's output inside one frame.
_ENVELOPE_ROOM = 4096


class AgentRevoked(Exception):
    """The server rejected this device's credential or told it it was revoked."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, so a restarted server is not stampeded."""

    initial: float = 1.0
    maximum: float = 300.0
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (0-based)."""
        ceiling = min(self.maximum, self.initial * self.factor**attempt)
        return random.uniform(ceiling / 2, ceiling)


def websocket_url(gateway_url: str, server_url: str) -> str:
    """The ws(s):// URL to dial; a relative gateway URL is resolved against the server."""
    if gateway_url.startswith(("ws://", "wss://")):
        return gateway_url
    if gateway_url.startswith(("http://", "https://")):
        return "ws" + gateway_url[4:]
    base = server_url.rstrip("/")
    scheme_base = "ws" + base[4:] if base.startswith("http") else base
    return scheme_base + "/" + gateway_url.lstrip("/")


def _not_allowed(tool: str) -> str:
    return f"tool {tool!r} is not on this agent's allow-list"


def _failed(tool: str, error: str) -> ToolOutcome:
    return ToolOutcome(tool=tool, ok=False, output={}, error=error)


def fit_result(result: Result) -> Result:
    """A result that fits in one frame: oversize output is dropped and flagged."""
    if len(encode_message(result)) <= MAX_MESSAGE_BYTES - _ENVELOPE_ROOM:
        return result
    outcome = result.outcome.model_copy(
        update={
            "output": {"note": "output exceeded the message size limit"},
            "truncated": True,
        }
    )
    return Result(command_id=result.command_id, outcome=outcome)


class AgentConnection:
    """Runs the agent until it is revoked or cancelled."""

    def __init__(
        self,
        state: AgentState,
        store: StateStore,
        *,
        backoff: Backoff | None = None,
        prompter: EndUserPrompter | None = None,
        heartbeat_seconds: float | None = None,
    ) -> None:
        self.state = state
        self.store = store
        self.backoff = backoff or Backoff()
        self.prompter = prompter or EndUserPrompter()
        self.heartbeat_override = heartbeat_seconds
        self.url = websocket_url(state.gateway_url, state.server_url)
        self._ws: ClientConnection | None = None
        self._running: dict[str, asyncio.Task[None]] = {}
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self._send_lock = asyncio.Lock()

    # -- lifecycle -------------------------------------------------------------------
    async def run_forever(self) -> None:
        """Connect, serve, reconnect. Returns never; raises :class:`AgentRevoked`."""
        attempt = 0
        refusals = 0
        while True:
            wait_extra = 0.0
            try:
                async with connect(
                    self.url,
                    additional_headers={"Authorization": f"Bearer {self.state.device_credential}"},
                    # Deflate costs ~100 KiB per socket on the server; messages are small.
                    compression=None,
                    max_size=2 * MAX_MESSAGE_BYTES,
                    open_timeout=15,
                    ping_interval=20,
                    ping_timeout=20,
                    user_agent_header=f"mspclaw-agent/{__version__}",
                ) as ws:
                    reason = await self._serve(ws)
                    attempt = refusals = 0
                    if reason == "replaced":
                        # Another live process holds this identity: do not fight over it.
                        wait_extra = self.backoff.maximum
            except InvalidStatus as exc:
                status = exc.response.status_code
                refusals = refusals + 1 if status in (401, 403) else 0
                # A proxy or WAF can refuse once by mistake; a revoked credential is
                # refused every time, so only a run of refusals stops the agent.
                if refusals >= REFUSALS_BEFORE_EXIT:
                    raise AgentRevoked(
                        f"gateway refused the device credential (HTTP {status})"
                    ) from None
                log.warning("gateway answered HTTP %s", status)
            except (OSError, TimeoutError, WebSocketException, ProtocolError) as exc:
                log.info("connection to %s failed: %s", self.url, type(exc).__name__)
            finally:
                self._ws = None
            delay = wait_extra or self.backoff.delay(attempt)
            attempt += 1
            log.info("reconnecting in %.1fs", delay)
            await asyncio.sleep(delay)

    async def _serve(self, ws: ClientConnection) -> str:
        """One session: hello, outbox flush, then messages until the socket ends."""
        await ws.send(
            encode_message(
                Hello(
                    device_id=self.state.device_id,
                    agent_version=__version__,
                    os=os_name(),
                    os_version=platform.release(),
                    hostname=socket.gethostname(),
                    tools=sorted(_tool_names()),
                )
            )
        )
        ack = parse_message(await asyncio.wait_for(ws.recv(), 15))
        if isinstance(ack, Bye):
            return self._on_bye(ack)
        if not isinstance(ack, HelloAck):
            raise ProtocolErrorClosed(f"expected hello_ack, got {ack.type}")
        self._ws = ws
        log.info("connected to %s as %s", self.url, self.state.device_id)
        interval = self.heartbeat_override or ack.heartbeat_seconds
        heartbeat = asyncio.create_task(self._heartbeat(ws, interval))
        try:
            for pending in self.store.pending_results():
                await self._send(pending)
            async for raw in ws:
                try:
                    message = parse_message(raw)
                except ProtocolError as exc:
                    await self._send(Error(code=exc.code, message=exc.message))
                    continue
                if isinstance(message, Bye):
                    return self._on_bye(message)
                await self._handle(message)
        except ConnectionClosed:
            pass
        finally:
            heartbeat.cancel()
            self._ws = None
        return "closed"

    def _on_bye(self, bye: Bye) -> str:
        log.info("gateway said bye: %s", bye.reason)
        if bye.reason == "revoked":
            raise AgentRevoked("the device credential was revoked")
        return bye.reason

    async def _heartbeat(self, ws: ClientConnection, interval: float) -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(interval)
                async with self._send_lock:
                    await ws.send(encode_message(Heartbeat()))

    async def _send(self, message: Any) -> bool:
        """Send on the live socket if there is one; False means the outbox keeps it."""
        ws = self._ws
        if ws is None:
            return False
        try:
            async with self._send_lock:
                await ws.send(encode_message(message))
        except ConnectionClosed:
            return False
        return True

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
        return task

    # -- messages --------------------------------------------------------------------
    async def _handle(self, message: Any) -> None:
        if isinstance(message, Dispatch):
            await self._on_dispatch(message)
        elif isinstance(message, Ack):
            self.store.ack(message.command_id)
        elif isinstance(message, Question):
            self._spawn(self._answer(message))
        elif isinstance(message, ApprovalRequest):
            self._spawn(self._consent(message))
        elif isinstance(message, Error):
            log.warning("gateway reported %s: %s", message.code, message.message)
        elif not isinstance(message, Heartbeat):
            refusal = f"agent does not accept {message.type}"
            await self._send(Error(code="unexpected", message=refusal))

    async def _on_dispatch(self, dispatch: Dispatch) -> None:
        stored = self.store.stored_result(dispatch.command_id)
        if stored is not None:
            # Already ran: replay, never run twice.
            await self._send(stored)
            return
        if dispatch.command_id in self._running:
            return  # still running; its result goes out when done
        task = self._spawn(self._execute(dispatch))
        self._running[dispatch.command_id] = task
        task.add_done_callback(lambda _t: self._running.pop(dispatch.command_id, None))

    async def _execute(self, dispatch: Dispatch) -> None:
        outcome = await self._run_tool(dispatch)
        result = fit_result(Result(command_id=dispatch.command_id, outcome=outcome))
        # Persist before sending: a crash or a dropped socket must not lose the result.
        self.store.put_result(result)
        await self._send(result)

    async def _run_tool(self, dispatch: Dispatch) -> ToolOutcome:
        from mspclaw_agent.tools import TOOLS, InvalidToolArguments, UnknownTool, run_tool

        tool = TOOLS.get(dispatch.tool)
        if tool is None:
            return _failed(dispatch.tool, _not_allowed(dispatch.tool))
        limit = tool.timeout_seconds
        if dispatch.timeout is not None:
            limit = min(limit, dispatch.timeout)
        if dispatch.deadline is not None:
            remaining = (dispatch.deadline - utcnow()).total_seconds()
            if remaining <= 0:
                return _failed(dispatch.tool, "deadline passed before the tool could start")
            limit = min(limit, remaining)
        try:
            done = await run_tool(dispatch.tool, dispatch.args, timeout=limit)
        except UnknownTool:
            return _failed(dispatch.tool, _not_allowed(dispatch.tool))
        except InvalidToolArguments as exc:
            return _failed(dispatch.tool, f"invalid arguments: {exc}")
        except Exception as exc:  # a tool bug must never take the agent down
            log.exception("tool %s crashed", dispatch.tool)
            return _failed(dispatch.tool, f"tool crashed: {type(exc).__name__}")
        return ToolOutcome.model_validate(done.model_dump())

    async def _answer(self, question: Question) -> None:
        await self._send(await self.prompter.ask(question))

    async def _consent(self, request: ApprovalRequest) -> None:
        await self._send(await self.prompter.approve(request))


class ProtocolErrorClosed(WebSocketException):
    """The gateway broke the handshake sequence; reconnect rather than continue."""


def _tool_names() -> list[str]:
    from mspclaw_agent.tools import TOOLS

    return list(TOOLS)
