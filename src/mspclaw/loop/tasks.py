"""Jobs that move a ticket through the loop; deferred by triage and by the executor."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from mspclaw import jobs
from mspclaw.config import get_settings
from mspclaw.database.session import tenant_session
from mspclaw.loop import agent_feedback, flows

QUEUE = "loop"
AFTER_TRIAGE = "loop.after_triage"
AFTER_RUN = "loop.after_run"


@jobs.app.task(name=AFTER_TRIAGE, queue=QUEUE)
async def after_triage_task(tenant_id: str, ticket_id: str) -> str | None:
    """A ticket was triaged: start or suggest a playbook."""
    from mspclaw.sync import runtime as sync_runtime

    sync = sync_runtime.current()
    async with tenant_session(sync.db.sessions, uuid.UUID(tenant_id)) as session, session.begin():
        action = await flows.after_triage(
            session, tenant_id=uuid.UUID(tenant_id), ticket_id=uuid.UUID(ticket_id), keyring=sync.keyring()
        )
    return action.kind if action else None


@jobs.app.task(name=AFTER_RUN, queue=QUEUE)
async def after_run_task(tenant_id: str, run_id: str) -> str | None:
    """A run ended: write the note and status back to the PSA, or escalate."""
    from mspclaw.sync import runtime as sync_runtime

    sync = sync_runtime.current()  # the database and vault keyring the connections were saved with
    keyring = sync.keyring()
    public_url = get_settings().base_url  # where end users open feedback links (MSPCLAW_PUBLIC_URL)
    async with tenant_session(sync.db.sessions, uuid.UUID(tenant_id)) as session, session.begin():
        action = await flows.after_run(
            session, keyring, tenant_id=uuid.UUID(tenant_id), run_id=uuid.UUID(run_id), public_url=public_url
        )
    return action.kind if action else None


SLA_CHECK = "loop.sla_check"


@jobs.app.periodic(cron="* * * * *", periodic_id="loop-sla-check")
@jobs.app.task(name=SLA_CHECK, queue=QUEUE, queueing_lock="loop-sla-check")
async def sla_check_task(timestamp: int) -> int:
    """Every minute: warn about tickets an open automatic run holds near their SLA response target."""
    from mspclaw.sync import runtime as sync_runtime

    sync = sync_runtime.current()
    return await flows.check_sla_everywhere(
        sync.db.sessions, sync.keyring(), now=datetime.fromtimestamp(timestamp, tz=UTC)
    )


@jobs.app.task(name=agent_feedback.ASK_FEEDBACK, queue=agent_feedback.QUEUE)
async def ask_feedback_task(tenant_id: str, run_id: str) -> str | None:
    """A run on a device succeeded and its note is written: ask the person there if it is fixed."""
    from mspclaw.sync import runtime as sync_runtime

    sync = sync_runtime.current()
    return await flows.ask_agent_feedback(
        sync.db.sessions,
        sync.keyring(),
        tenant_id=uuid.UUID(tenant_id),
        run_id=uuid.UUID(run_id),
        asker=agent_feedback.current_asker(),
    )
