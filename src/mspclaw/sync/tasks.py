"""The sync engine's background jobs: scheduled polls (one at a time per connection),
webhook delivery processing, command-mode script tracking, and event publishing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw import jobs
from mspclaw.database.base import utcnow
from mspclaw.database.session import tenant_session
from mspclaw.sync import polling, runtime, scripts
from mspclaw.sync.models import Connection, WebhookDelivery
from mspclaw.sync.scripts import SCRIPT_TASK
from mspclaw.sync.webhooks import DELIVERY_TASK, SYNC_QUEUE
from mspclaw.tickets import service as tickets
from mspclaw.tickets.models import Ticket

log = structlog.get_logger(__name__)

POLL_TASK = "mspclaw.sync.poll"


def poll_lock(connection_id: uuid.UUID | str) -> str:
    """The lock that keeps two syncs of one connection from running (or queueing) at once."""
    return f"sync:{connection_id}"


async def request_poll(session: AsyncSession, connection_id: uuid.UUID | str, *, full: bool = False) -> bool:
    """Queue a poll of the connection in the caller's transaction; False if one is already queued."""
    try:
        await jobs.defer(
            session,
            POLL_TASK,
            {"connection_id": str(connection_id), "full": full},
            queue=SYNC_QUEUE,
            lock=poll_lock(connection_id),
            queueing_lock=poll_lock(connection_id),
        )
    except jobs.AlreadyQueued:
        return False
    return True


@jobs.app.task(name=POLL_TASK, queue=SYNC_QUEUE)
async def poll(connection_id: str, full: bool = False) -> dict[str, Any]:
    """One polling run of one connection."""
    rt = runtime.current()
    result = await polling.poll_connection(rt, uuid.UUID(connection_id), full=full, **rt.connector_options)
    return result.model_dump()


@jobs.app.periodic(cron="* * * * *", periodic_id="sync-schedule-polls")
@jobs.app.task(name="mspclaw.sync.schedule_polls", queue=SYNC_QUEUE, queueing_lock="sync-schedule-polls")
async def schedule_polls(timestamp: int) -> int:
    """Every minute: queue a poll for each enabled connection whose interval has passed."""
    rt = runtime.current()
    queued = 0
    now = utcnow()
    async with tenant_session(rt.db.sessions, None) as session, session.begin():
        for connection in await session.scalars(select(Connection).where(Connection.enabled.is_(True))):
            due = connection.last_poll_at is None or (
                now - connection.last_poll_at >= timedelta(seconds=connection.poll_interval_seconds)
            )
            if due and await request_poll(session, connection.id):
                queued += 1
    return queued


@jobs.app.task(name=DELIVERY_TASK, queue=SYNC_QUEUE)
async def process_delivery(delivery_id: str, connection_id: str, events: list[dict[str, Any]]) -> str:
    """Act on a stored webhook delivery: re-read a named ticket, otherwise queue a poll."""
    rt = runtime.current()
    connection = await polling.load_connection(rt, uuid.UUID(connection_id))
    if connection is None:
        return "connection gone"
    outcomes: list[str] = []
    needs_poll = False
    for event in events:
        if event.get("entity") == "ticket" and event.get("external_id"):
            external_id = str(event["external_id"])
            if await _already_current(rt, connection, external_id, event):
                outcomes.append("already current")
                continue
            outcomes.append(await polling.refresh_ticket(rt, connection, external_id, **rt.connector_options))
        else:
            needs_poll = True
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
        if needs_poll:
            outcomes.append("poll queued" if await request_poll(session, connection.id) else "poll already queued")
        delivery = await session.get(WebhookDelivery, uuid.UUID(delivery_id))
        if delivery is not None:
            delivery.processed_at = utcnow()
            delivery.outcome = ", ".join(outcomes) or "nothing to do"
    return ", ".join(outcomes)


async def _already_current(
    rt: runtime.SyncRuntime, connection: Connection, external_id: str, event: dict[str, Any]
) -> bool:
    """Whether the store already holds this ticket at (or after) the webhook's change time,
    e.g. a poll got there first; re-reading it would only spend the vendor's rate budget."""
    occurred = event.get("occurred_at")
    if not occurred or str(event.get("action", "")).startswith("delete"):
        return False
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session:
        stored = await session.scalar(
            select(Ticket.vendor_updated_at).where(
                Ticket.connection_id == connection.id, Ticket.external_id == external_id, Ticket.deleted_at.is_(None)
            )
        )
    return stored is not None and stored >= datetime.fromisoformat(str(occurred))


@jobs.app.task(name=SCRIPT_TASK, queue=SYNC_QUEUE)
async def script_poll(run_id: str) -> str:
    """Check a script run once; re-queues itself until a result or the deadline."""
    return await scripts.check(runtime.current(), uuid.UUID(run_id))


@jobs.app.task(name=tickets.EVENT_TASK, queue=tickets.EVENT_QUEUE)
async def publish_event(event_id: str) -> str:
    """Hand one internal event to its subscribers."""
    rt = runtime.current()
    async with tenant_session(rt.db.sessions, None) as session, session.begin():
        event = await tickets.publish(session, event_id=uuid.UUID(event_id))
    return event.kind if event is not None else "missing"
