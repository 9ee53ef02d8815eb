"""The executor's ``rmm_script`` backend: a catalog tool run as a vendor script through the
device's RMM connection (command mode of ``mspclaw.sync.scripts``), waited for until the vendor
reports a result or the tool's timeout passes.

Idempotency: the script run started for an executor idempotency key is recorded
(``rmm_tool_calls``) before anything reaches the vendor, so a retried step waits for the run
already started instead of starting the script again; a change whose start was never recorded
is not started twice (like the endpoint journal), unless the vendor refused it outright.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Any

from mspclaw_agent.tools import ToolOutcome
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mspclaw.connectors import errors as connector_errors
from mspclaw.database.base import uuid7
from mspclaw.database.session import tenant_session
from mspclaw.errors import InvalidInput, MSPclawError
from mspclaw.rmm import service
from mspclaw.rmm.models import RmmToolCall, ToolScript
from mspclaw.runs.journal import UNKNOWN_OUTCOME
from mspclaw.sync import scripts
from mspclaw.sync.models import Connection, ScriptRun, ScriptRunCreate
from mspclaw.tools.backends import BackendUnsupported, ToolContext
from mspclaw.tools.spec import BackendKind, ToolSpec
from mspclaw.vault.keys import Keyring

MIN_SCRIPT_SECONDS = 5  # the shortest deadline command mode accepts
#: refusals raised before the vendor ran anything (no such script or device, no permission,
#: no script support); timeouts and 5xx may have started the script, so they are not listed
REFUSED = (InvalidInput, connector_errors.NotFound, connector_errors.MissingPermission, connector_errors.AuthFailed)


def parse_output(entry: ToolScript, text: str | None, exit_code: int | None) -> dict[str, Any] | None:
    """The tool output from the script's output (None: a json script printed no JSON object)."""
    if entry.output == "text":
        return {"text": text or "", "exit_code": exit_code}
    for line in reversed((text or "").strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    try:  # a pretty-printed object spread over several lines
        value = json.loads(text or "")
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class RmmScriptBackend:
    """Runs endpoint tools on RMM-managed devices as mapped vendor scripts (kind ``rmm_script``)."""

    kind: BackendKind = "rmm_script"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keyring: Callable[[], Keyring],
        *,
        poll_every: float = 0.5,
        grace_seconds: float = 10.0,
        connector_options: dict[str, Any] | None = None,
    ) -> None:
        self.sessions = sessions
        self.keyring = keyring
        self.poll_every = poll_every
        self.grace_seconds = grace_seconds
        self.connector_options = dict(connector_options or {})

    async def execute(self, tool: ToolSpec, args: dict[str, Any], context: ToolContext) -> ToolOutcome:
        """Start (or rejoin) the tool's script run on the device's RMM and wait for its result."""
        started = time.monotonic()

        def outcome(ok: bool, output: dict[str, Any], error: str | None = None) -> ToolOutcome:
            return ToolOutcome(
                tool=tool.name, ok=ok, output=output, error=error, duration_ms=int((time.monotonic() - started) * 1000)
            )

        if context.tenant_id is None:
            raise BackendUnsupported(f"{tool.name} needs a tenant to find the device's RMM", detail={"tool": tool.name})
        values = tool.validate_args(args).model_dump(mode="json")
        key = context.idempotency_key
        async with tenant_session(self.sessions, context.tenant_id) as session, session.begin():
            connection, device = await service.locate(session, device_id=context.device_id)
            entry = await service.tool_script(session, connection=connection, tool=tool)
            call = None
            if key is not None:
                call = await session.scalar(select(RmmToolCall).where(RmmToolCall.idempotency_key == key))
                if call is not None and call.script_run_id is None and tool.risk != "read":
                    return outcome(False, {}, UNKNOWN_OUTCOME)
                if call is None:
                    call = RmmToolCall(
                        id=uuid7(),
                        tenant_id=context.tenant_id,
                        idempotency_key=key,
                        tool=tool.name,
                        connection_id=connection.id,
                        device_external_id=device,
                    )
                    session.add(call)
            run_id = call.script_run_id if call is not None else None
            call_id = call.id if call is not None else None
        if run_id is None:
            try:
                run_id = await self._start(context.tenant_id, connection.id, device, tool, entry, values, call_id)
            except MSPclawError as exc:
                if isinstance(exc, REFUSED) and call_id is not None:
                    await self._forget(context.tenant_id, call_id)  # nothing ran: a retry may start it
                return outcome(False, {}, f"{connection.name} could not start {entry.script!r}: {exc.message}")
        run = await self._wait(context.tenant_id, run_id, tool.timeout_seconds + self.grace_seconds)
        where = f"{entry.script!r} on {connection.name} device {device}"
        if run is None or run.finished_at is None:
            return outcome(False, {}, f"{where} reported no result within {tool.timeout_seconds:g} s")
        if run.status != "succeeded" or (run.exit_code or 0) != 0:
            tail = (run.output or "").strip()[-500:]
            return outcome(False, {}, f"{where} {run.status} (exit code {run.exit_code}): {tail}")
        output = parse_output(entry, run.output, run.exit_code)
        if output is None:
            return outcome(
                False,
                {},
                f"{where} printed no JSON object; a script mapped with output json must print one JSON object",
            )
        return outcome(True, output)

    async def _start(
        self,
        tenant_id: uuid.UUID,
        connection_id: uuid.UUID,
        device: str,
        tool: ToolSpec,
        entry: ToolScript,
        values: dict[str, Any],
        call_id: uuid.UUID | None,
    ) -> uuid.UUID:
        data = ScriptRunCreate(
            device_external_id=device,
            script=entry.script,
            args=service.script_args(entry, values),
            timeout_seconds=max(MIN_SCRIPT_SECONDS, math.ceil(tool.timeout_seconds)),
        )
        async with tenant_session(self.sessions, tenant_id) as session, session.begin():
            connection = await session.get(Connection, connection_id)
            assert connection is not None
            run = await scripts.start(
                session, self.keyring(), connection=connection, data=data, **self.connector_options
            )
            if call_id is not None:
                call = await session.get(RmmToolCall, call_id)
                assert call is not None
                call.script_run_id = run.id
            return run.id

    async def _forget(self, tenant_id: uuid.UUID, call_id: uuid.UUID) -> None:
        async with tenant_session(self.sessions, tenant_id) as session, session.begin():
            call = await session.get(RmmToolCall, call_id)
            if call is not None and call.script_run_id is None:
                await session.delete(call)

    async def _wait(self, tenant_id: uuid.UUID, run_id: uuid.UUID, seconds: float) -> ScriptRun | None:
        """The run once finished (the sync queue's poll job tracks it), or as it is at the deadline."""
        deadline = time.monotonic() + seconds
        while True:
            async with tenant_session(self.sessions, tenant_id) as session:
                run = await session.get(ScriptRun, run_id)
            if run is None or run.finished_at is not None or time.monotonic() >= deadline:
                return run
            await asyncio.sleep(self.poll_every)
