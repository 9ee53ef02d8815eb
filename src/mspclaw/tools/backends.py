"""How the executor carries a tool out: the ``ToolBackend`` protocol and ``LocalEndpointBackend``,
which runs endpoint tools on this machine through the agent's CLI in a subprocess.

The subprocess boundary is the same one the real agent has (JSON in, ToolOutcome JSON out),
so executor tests exercise real tools before the gateway exists.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from mspclaw_agent.tools import Platform, ToolOutcome, current_platform
from pydantic import BaseModel, ConfigDict

from mspclaw.errors import MSPclawError
from mspclaw.tools.spec import BackendKind, ToolArgumentsInvalid, ToolSpec, UnknownToolError


class ToolContext(BaseModel):
    """Who and what a tool call is for; backends use what they need (device, ticket, ...)."""

    model_config = ConfigDict(frozen=True)

    tenant_id: UUID | None = None
    client_id: UUID | None = None
    ticket_id: str | None = None
    device_id: str | None = None
    device_os: Platform | None = None
    run_id: UUID | None = None
    step_id: str | None = None
    idempotency_key: str | None = None
    actor: str | None = None


class BackendUnsupported(MSPclawError):
    """The backend cannot carry this tool out (wrong kind or OS)."""

    code = "backend_unsupported"


@runtime_checkable
class ToolBackend(Protocol):
    """Carries out tool calls of one backend kind; returns an outcome, raises only for misuse."""

    kind: BackendKind

    async def execute(self, tool: ToolSpec, args: dict[str, Any], context: ToolContext) -> ToolOutcome: ...


class LocalEndpointBackend:
    """Runs endpoint tools on this machine via ``python -m mspclaw_agent.tools run``."""

    kind: BackendKind = "endpoint"

    def __init__(self, python: str | None = None, *, grace_seconds: float = 10.0) -> None:
        self.python = python or sys.executable
        self.grace_seconds = grace_seconds
        self.platform: Platform = current_platform()

    async def execute(self, tool: ToolSpec, args: dict[str, Any], context: ToolContext) -> ToolOutcome:
        """Validate, run the tool in a child process, and return its ToolOutcome."""
        if context.device_os is not None and context.device_os != self.platform:
            raise BackendUnsupported(
                f"this backend runs tools on a {self.platform} machine, the device is {context.device_os}",
                detail={"tool": tool.name, "device_os": context.device_os},
            )
        if not tool.runs_on("endpoint", self.platform):
            raise BackendUnsupported(
                f"{tool.name} cannot run on the {self.platform} endpoint backend",
                detail={"tool": tool.name, "platform": self.platform},
            )
        tool.validate_args(args)  # fail fast, with field names, before spawning anything
        argv = [
            self.python,
            "-m",
            "mspclaw_agent.tools",
            "run",
            tool.name,
            "--args",
            json.dumps(args),
            "--timeout",
            str(tool.timeout_seconds),
        ]
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), tool.timeout_seconds + self.grace_seconds)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return self._failure(tool, started, "the endpoint tool process did not finish")
        except BaseException:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            raise
        return self._parse(tool, started, proc.returncode, out, err)

    def _parse(self, tool: ToolSpec, started: float, code: int | None, out: bytes, err: bytes) -> ToolOutcome:
        try:
            data = json.loads(out.decode("utf-8", "replace").strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            detail = err.decode("utf-8", "replace").strip()[-500:]
            return self._failure(tool, started, f"endpoint tool exited {code}: {detail}")
        if code == 2 and data.get("kind") == "unknown_tool":
            raise UnknownToolError(data["error"], detail={"tool": tool.name})
        if code == 2:
            raise ToolArgumentsInvalid(data["error"], detail={"tool": tool.name, "problems": data.get("problems")})
        return ToolOutcome.model_validate(data)

    @staticmethod
    def _failure(tool: ToolSpec, started: float, error: str) -> ToolOutcome:
        return ToolOutcome(
            tool=tool.name,
            ok=False,
            output={},
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )


class BackendRouter:
    """Dispatches a tool call to the registered backend of the kind the plan chose.

    The executor holds one router: endpoint (gateway or LocalEndpointBackend), rmm_script,
    identity and notification backends register as they land.
    """

    def __init__(self, *backends: ToolBackend) -> None:
        self._backends: dict[BackendKind, ToolBackend] = {}
        for backend in backends:
            self.register(backend)

    def register(self, backend: ToolBackend) -> None:
        """Add (or replace) the backend for its kind."""
        self._backends[backend.kind] = backend

    def kinds(self) -> set[BackendKind]:
        """The backend kinds that can be used right now."""
        return set(self._backends)

    async def execute(
        self, tool: ToolSpec, args: dict[str, Any], context: ToolContext, kind: BackendKind
    ) -> ToolOutcome:
        """Validate ``args`` and run ``tool`` on the backend of ``kind``."""
        if tool.backend(kind) is None:
            raise BackendUnsupported(
                f"{tool.name} cannot run on the {kind} backend",
                detail={"tool": tool.name, "kind": kind},
            )
        backend = self._backends.get(kind)
        if backend is None:
            raise BackendUnsupported(
                f"no {kind} backend is configured, so {tool.name} cannot run",
                detail={"tool": tool.name, "kind": kind, "configured": sorted(self._backends)},
            )
        tool.validate_args(args)
        return await backend.execute(tool, args, context)
