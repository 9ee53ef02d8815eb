"""The shape of an endpoint tool and the host it runs against.

A tool is a typed, versioned action with one implementation per OS. Implementations never
see shell text: they receive a validated pydantic model and run argv lists through a Host.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

RiskClass = Literal["read", "change", "destructive"]
Platform = Literal["linux", "macos", "windows"]
ALL_PLATFORMS: frozenset[Platform] = frozenset({"linux", "macos", "windows"})

#: cap on what a single command may hand back, before the tool's own output limit applies
COMMAND_OUTPUT_CAP = 4 * 1024 * 1024


class ToolError(Exception):
    """Base of the agent tool errors."""


class UnknownTool(ToolError):
    """The tool name is not on this agent's allow-list."""

    def __init__(self, name: str) -> None:
        super().__init__(f"tool {name!r} is not on the allow-list")
        self.name = name


class InvalidToolArguments(ToolError):
    """The arguments do not validate against the tool's model; the message names the field."""

    def __init__(self, tool: str, problems: list[dict[str, Any]]) -> None:
        parts = [f"{p['field']}: {p['message']}" for p in problems]
        super().__init__(f"invalid arguments for {tool}: " + "; ".join(parts))
        self.tool = tool
        self.problems = problems


class ToolUnavailable(ToolError):
    """The tool cannot run on this device (a command or facility is missing)."""

    def __init__(self, reason: str, *, missing: str | None = None) -> None:
        super().__init__(f"not available on this device: {reason}")
        self.reason = reason
        self.missing = missing


class ToolFailed(ToolError):
    """The tool ran but the action failed; ``output`` carries what is known."""

    def __init__(self, message: str, output: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.output = dict(output or {})


class ToolOutcome(BaseModel):
    """What one tool call produced; never raised, always returned."""

    tool: str
    ok: bool
    output: dict[str, Any]
    error: str | None = None
    truncated: bool = False
    duration_ms: int


class NoArgs(BaseModel):
    """Argument model of tools that take no arguments."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class CommandResult:
    """Exit status and decoded output of one argv run."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Host:
    """The device a tool acts on: its platform, its programs, and a way to run argv lists.

    Subclassed in tests to record the argv that macOS/Windows implementations build.
    """

    def __init__(self, platform: Platform | None = None) -> None:
        self.platform: Platform = platform or current_platform()

    def which(self, program: str) -> str | None:
        """Full path of ``program`` if installed, else None."""
        return shutil.which(program)

    def require(self, program: str) -> str:
        """Full path of ``program``, or ToolUnavailable naming it."""
        path = self.which(program)
        if path is None:
            raise ToolUnavailable(f"{program} missing", missing=program)
        return path

    def systemd_running(self) -> bool:
        """True when systemd is PID 1 (the check systemd's own sd_booted() uses)."""
        return os.path.isdir("/run/systemd/system")

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 60.0,  # noqa: ASYNC109 - per-command limit is part of the API
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run argv without a shell; kill it if the timeout or a cancellation hits."""
        if not argv or any(not isinstance(a, str) for a in argv):
            raise ToolError(f"argv must be a non-empty list of strings, got {argv!r}")
        full_env = None
        if env:
            full_env = dict(os.environ)
            full_env.update(env)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=full_env,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except BaseException:
            # timeout or cancellation: never leave a half-finished action running unseen
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        return CommandResult(
            argv=tuple(argv),
            returncode=proc.returncode if proc.returncode is not None else -1,
            stdout=out[:COMMAND_OUTPUT_CAP].decode("utf-8", "replace"),
            stderr=err[:COMMAND_OUTPUT_CAP].decode("utf-8", "replace"),
        )

    async def run_checked(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 60.0,  # noqa: ASYNC109 - per-command limit is part of the API
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run argv and raise ToolFailed (with exit code and stderr) if it fails."""
        result = await self.run(argv, timeout=timeout, env=env)
        if not result.ok:
            raise ToolFailed(
                f"{argv[0]} exited with {result.returncode}: {(result.stderr or result.stdout).strip()[:500]}",
                {"argv": list(argv), "exit_code": result.returncode},
            )
        return result


def current_platform() -> Platform:
    """This machine's platform in MSPclaw's vocabulary."""
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


Implementation = Callable[[Any, Host], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class EndpointTool:
    """One allow-listed tool: identity, typed arguments, risk, limits and per-OS code."""

    name: str
    version: str
    description: str
    args_model: type[BaseModel]
    risk: RiskClass
    implementations: Mapping[Platform, Implementation]
    timeout_seconds: float = 60.0
    max_output_bytes: int = 64 * 1024
    verification_hint: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def platforms(self) -> frozenset[Platform]:
        """The OSes this tool has an implementation for."""
        return frozenset(self.implementations)


def cross_platform_tool(
    name: str,
    description: str,
    args_model: type[BaseModel],
    risk: RiskClass,
    implementation: Implementation,
    *,
    version: str = "1.0.0",
    **options: Any,
) -> EndpointTool:
    """A tool whose one implementation serves every OS (it branches on ``host.platform``)."""
    return EndpointTool(
        name=name,
        version=version,
        description=description,
        args_model=args_model,
        risk=risk,
        implementations=dict.fromkeys(ALL_PLATFORMS, implementation),
        **options,
    )


def powershell_argv(script: str) -> list[str]:
    """argv for a fixed PowerShell script; no profile, no prompts."""
    return [
        "powershell.exe",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
        "-Command",
        script,
    ]


def ps_literal(value: str) -> str:
    """A PowerShell single-quoted literal of an already-validated value.

    Values reach here only after a strict pattern check; quoting is a second fence, so
    that even a value the pattern missed cannot leave the string literal.
    """
    return "'" + value.replace("'", "''") + "'"
