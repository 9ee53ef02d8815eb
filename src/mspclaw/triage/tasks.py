"""Background triage: every ``ticket.created`` / ``ticket.updated`` event enqueues a triage job
for that ticket, and a tenant's intent model is retrained as a job.

The event subscriber only enqueues (one waiting job per ticket at most, thanks to a queueing
lock): the job triages the ticket's version current when it runs, so a burst of updates
costs one triage, and the stored result is idempotent per (ticket, vendor updated-at).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw import jobs
from mspclaw.database.session import tenant_session
from mspclaw.sync import runtime
from mspclaw.tickets import service as tickets
from mspclaw.tickets.models import Event
from mspclaw.triage import service, tenant_models

log = structlog.get_logger(__name__)

TRIAGE_TASK = "mspclaw.triage.ticket"
RETRAIN_TASK = "mspclaw.triage.retrain"
BACKFILL_TASK = "mspclaw.triage.backfill"
#: Tickets triaged per transaction by the backfill (a crash loses at most one chunk's work).
BACKFILL_CHUNK = 100
TRIAGE_QUEUE = "triage"
TRIGGER_KINDS = ("ticket.created", "ticket.updated")


async def enqueue_triage(session: AsyncSession, *, tenant_id: uuid.UUID, ticket_id: uuid.UUID) -> int | None:
    """Queue a triage of the ticket unless one is already waiting; returns the job id."""
    try:
        return await jobs.defer(
            session,
            TRIAGE_TASK,
            {"tenant_id": str(tenant_id), "ticket_id": str(ticket_id)},
            queue=TRIAGE_QUEUE,
            queueing_lock=f"triage:{ticket_id}",
        )
    except jobs.AlreadyQueued:
        return None


async def enqueue_retrain(session: AsyncSession, *, tenant_id: uuid.UUID) -> int | None:
    """Queue a retraining of the tenant's model unless one is already waiting."""
    try:
        return await jobs.defer(
            session,
            RETRAIN_TASK,
            {"tenant_id": str(tenant_id)},
            queue=TRIAGE_QUEUE,
            queueing_lock=f"triage-retrain:{tenant_id}",
        )
    except jobs.AlreadyQueued:
        return None


async def enqueue_backfill(session: AsyncSession, *, tenant_id: uuid.UUID, limit: int) -> int | None:
    """Queue triage of the tenant's tickets that were never triaged (synced before triage ran)."""
    try:
        return await jobs.defer(
            session,
            BACKFILL_TASK,
            {"tenant_id": str(tenant_id), "limit": limit},
            queue=TRIAGE_QUEUE,
            queueing_lock=f"triage-backfill:{tenant_id}",
        )
    except jobs.AlreadyQueued:
        return None


async def on_ticket_event(session: AsyncSession, event: Event) -> None:
    """Event subscriber: a new or changed ticket gets triaged."""
    if event.subject_type == "ticket" and event.subject_id is not None:
        await enqueue_triage(session, tenant_id=event.tenant_id, ticket_id=event.subject_id)


for _kind in TRIGGER_KINDS:
    tickets.subscribe(_kind)(on_ticket_event)


LOOP_AFTER_TRIAGE = "loop.after_triage"


@jobs.app.task(name=TRIAGE_TASK, queue=TRIAGE_QUEUE)
async def triage_ticket_job(tenant_id: str, ticket_id: str) -> dict[str, Any]:
    """Triage one ticket's current version and store the result."""
    tenant = uuid.UUID(tenant_id)
    async with tenant_session(runtime.current().db.sessions, tenant) as session, session.begin():
        record = await service.triage_ticket(
            session, tenant_id=tenant, ticket_id=uuid.UUID(ticket_id), keyring=runtime.current().keyring()
        )
        if record is not None:
            # the closed loop takes it from here (match, run or suggest); idempotent per triage result
            with contextlib.suppress(jobs.AlreadyQueued):
                await jobs.defer(
                    session,
                    LOOP_AFTER_TRIAGE,
                    {"tenant_id": tenant_id, "ticket_id": ticket_id},
                    queue="loop",
                    queueing_lock=f"loop-triage:{record.id}",
                )
    if record is None:
        return {"ticket_id": ticket_id, "skipped": "ticket gone"}
    log.info("ticket_triaged", ticket_id=ticket_id, intent=record.intent, urgency=record.urgency)
    return {"ticket_id": ticket_id, "intent": record.intent, "result_id": str(record.id)}


@jobs.app.task(name=RETRAIN_TASK, queue=TRIAGE_QUEUE)
async def retrain_job(tenant_id: str) -> dict[str, Any]:
    """Train the tenant's intent model from its technician-confirmed tickets."""
    tenant = uuid.UUID(tenant_id)
    async with tenant_session(runtime.current().db.sessions, tenant) as session, session.begin():
        try:
            stored = await tenant_models.retrain(session, tenant_id=tenant)
        except tenant_models.NotEnoughLabels as exc:
            log.info("tenant_model_not_trained", tenant_id=tenant_id, reason=str(exc))
            return {"trained": False, "reason": str(exc)}
    log.info("tenant_model_trained", tenant_id=tenant_id, version=stored.version, examples=stored.examples)
    return {"trained": True, "version": stored.version, "metrics": stored.metrics}


@jobs.app.task(name=BACKFILL_TASK, queue=TRIAGE_QUEUE)
async def backfill_job(tenant_id: str, limit: int) -> dict[str, Any]:
    """Triage up to ``limit`` never-triaged tickets of the tenant, newest first, in chunks."""
    tenant = uuid.UUID(tenant_id)
    sessions = runtime.current().db.sessions
    done = 0
    while done < limit:
        async with tenant_session(sessions, tenant) as session, session.begin():
            ids = await service.untriaged_tickets(session, tenant_id=tenant, limit=min(BACKFILL_CHUNK, limit - done))
            for ticket_id in ids:
                await service.triage_ticket(
                    session, tenant_id=tenant, ticket_id=ticket_id, keyring=runtime.current().keyring()
                )
        done += len(ids)
        if len(ids) < BACKFILL_CHUNK:
            break
    log.info("triage_backfilled", tenant_id=tenant_id, tickets=done)
    return {"triaged": done}
