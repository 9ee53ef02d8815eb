"""Command mode: start a script on an RMM device through the connection, then track it with
a polling job until the vendor reports a result or the deadline passes.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw import jobs
from mspclaw.connectors.base import ScriptsCapability
from mspclaw.connectors.errors import ConnectorError
from mspclaw.connectors.models import ScriptJob
from mspclaw.database.base import utcnow, uuid7
from mspclaw.database.session import tenant_session
from mspclaw.errors import InvalidInput, NotFound
from mspclaw.sync import service
from mspclaw.sync.models import Connection, ScriptRun, ScriptRunCreate
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.tickets import service as tickets
from mspclaw.vault.keys import Keyring

SCRIPT_TASK = "mspclaw.sync.script_poll"
POLL_EVERY = timedelta(seconds=3)


async def start(
    session: AsyncSession, ring: Keyring, *, connection: Connection, data: ScriptRunCreate, **connector_options: object
) -> ScriptRun:
    """Ask the vendor to run the script, record the run and queue its first check."""
    connector = await service.open_connector(session, ring, connection, **connector_options)
    async with connector:
        if not connector.supports("scripts"):
            raise InvalidInput(
                f"{connector.spec().title} cannot run scripts: "
                f"{connector.spec().absent_reason('scripts') or 'not supported'}"
            )
        assert isinstance(connector, ScriptsCapability)
        job = await connector.run_script(data.device_external_id, data.script, dict(data.args))
    run = ScriptRun(
        id=uuid7(),
        tenant_id=connection.tenant_id,
        connection_id=connection.id,
        device_external_id=data.device_external_id,
        script=data.script,
        args=dict(data.args),
        status=job.status,
        handle=job.model_dump(mode="json"),
        deadline=utcnow() + timedelta(seconds=data.timeout_seconds),
        polls=0,
    )
    session.add(run)
    await session.flush()
    await tickets.emit(
        session,
        tenant_id=connection.tenant_id,
        connection_id=connection.id,
        events=[("script.started", "script_run", run.id, {"device": run.device_external_id, "script": run.script})],
    )
    await jobs.defer(session, SCRIPT_TASK, {"run_id": str(run.id)}, queue="sync", scheduled_at=utcnow() + POLL_EVERY)
    return run


async def check(rt: SyncRuntime, run_id: uuid.UUID) -> str:
    """Poll the vendor once for a run; finish it, time it out, or queue the next check."""
    async with tenant_session(rt.db.sessions, None) as session:
        run = await session.scalar(select(ScriptRun).where(ScriptRun.id == run_id))
        connection = await session.get(Connection, run.connection_id) if run else None
    if run is None or connection is None or run.finished_at is not None:
        return "gone"
    job = ScriptJob.model_validate(run.handle)
    error: str | None = None
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session:
        connector = await service.open_connector(session, rt.keyring(), connection, **rt.connector_options)
    async with connector:
        assert isinstance(connector, ScriptsCapability)
        try:
            job = await connector.get_script_result(job)
        except ConnectorError as exc:
            error = exc.message  # transient vendor trouble: keep polling until the deadline
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
        row = await session.get(ScriptRun, run_id)
        if row is None:
            return "gone"
        row.polls += 1
        row.handle = job.model_dump(mode="json")
        now = utcnow()
        if job.done or now >= row.deadline:
            row.status = job.status if job.done else "timed_out"
            row.output = job.output if job.done else (error or row.output)
            row.exit_code = job.exit_code
            row.finished_at = now
            await tickets.emit(
                session,
                tenant_id=row.tenant_id,
                connection_id=row.connection_id,
                events=[
                    (
                        "script.finished",
                        "script_run",
                        row.id,
                        {"status": row.status, "exit_code": row.exit_code, "device": row.device_external_id},
                    )
                ],
            )
            return row.status
        row.status = job.status
        await jobs.defer(session, SCRIPT_TASK, {"run_id": str(row.id)}, queue="sync", scheduled_at=now + POLL_EVERY)
        return "polling"


async def get(session: AsyncSession, *, run_id: uuid.UUID) -> ScriptRun:
    """A script run of the session's tenant."""
    run = await session.scalar(select(ScriptRun).where(ScriptRun.id == run_id))
    if run is None:
        raise NotFound("no such script run")
    return run
