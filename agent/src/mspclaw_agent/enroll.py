"""Enrolment: trade a client-scoped enrolment token for a per-device credential.

Collects the facts the server needs to register the device under its client (hostname,
OS, serial, logged-in user) and posts them once; the token is never stored or reused.
"""

from __future__ import annotations

import getpass
import json
import platform
import shutil
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
from pydantic import BaseModel, ValidationError

from mspclaw_agent import __version__
from mspclaw_agent.state import AgentState, new_state

ENROL_PATH = "/api/v1/agents/enroll"


class EnrolmentError(Exception):
    """Enrolment did not succeed; the message says what to fix."""


class DeviceFacts(BaseModel):
    """What the server learns about the device at enrolment (for asset mapping)."""

    hostname: str
    os: str
    os_version: str
    serial: str
    logged_in_user: str
    agent_version: str = __version__


class EnrolmentResponse(BaseModel):
    """The server's answer: who the device is and how to reach the gateway."""

    device_id: str
    device_credential: str
    gateway_url: str


def os_name() -> str:
    """``linux``, ``darwin`` or ``windows`` (the names tools are keyed by)."""
    return {"win32": "windows", "darwin": "darwin"}.get(sys.platform, "linux")


def _command_output(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return ""
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            argv, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def read_serial() -> str:
    """The hardware serial number where the OS exposes it without elevation; else ''."""
    if sys.platform == "darwin":
        for line in _command_output(["ioreg", "-rd1", "-c", "IOPlatformExpertDevice"]).splitlines():
            if "IOPlatformSerialNumber" in line:
                return line.split("=", 1)[-1].strip().strip('"')
        return ""
    if sys.platform == "win32":
        out = _command_output(
            ["powershell", "-NoProfile", "-Command", "(Get-CimInstance Win32_BIOS).SerialNumber"]
        )
        return out.strip()
    for candidate in ("/sys/class/dmi/id/product_serial", "/sys/class/dmi/id/board_serial"):
        try:
            value = Path(candidate).read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if value:
            return value
    return ""


def logged_in_user() -> str:
    """The interactive user (console session first), falling back to the agent's user."""
    try:
        users = psutil.users()
    except (OSError, RuntimeError):
        users = []
    if users:
        return str(users[0].name)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def collect_facts() -> DeviceFacts:
    """Gather the device facts sent at enrolment and in hello."""
    return DeviceFacts(
        hostname=socket.gethostname(),
        os=os_name(),
        os_version=platform.release(),
        serial=read_serial(),
        logged_in_user=logged_in_user(),
    )


def enrol(server_url: str, token: str, *, facts: DeviceFacts, timeout: float = 30.0) -> AgentState:
    """POST the enrolment and return the state to store. Raises :class:`EnrolmentError`."""
    base = server_url.rstrip("/")
    scheme = urllib.parse.urlsplit(base).scheme
    if scheme not in ("http", "https"):
        raise EnrolmentError(f"--server must be an http(s) URL, got {server_url!r}")
    body = json.dumps({"token": token, **facts.model_dump()}).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        base + ENROL_PATH,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"mspclaw-agent/{__version__}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            payload = response.read(1024 * 1024)
    except urllib.error.HTTPError as exc:
        detail = exc.read(2000).decode("utf-8", "replace")
        raise EnrolmentError(f"server refused enrolment (HTTP {exc.code}): {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise EnrolmentError(f"cannot reach {base}: {exc}") from None
    try:
        answer = EnrolmentResponse.model_validate_json(payload)
    except ValidationError:
        raise EnrolmentError("server answered enrolment with an unexpected body") from None
    return new_state(
        server_url=base,
        gateway_url=answer.gateway_url,
        device_id=answer.device_id,
        device_credential=answer.device_credential,
    )
