"""Polling mode: one sync run of one connection — tickets by updated-since cursor with an
overlap window, alerts, the directory, deletion detection on full walks, stale tickets.

Cursor rule: a run reads changes after ``cursor - overlap`` and, when it completes, stores
``min(newest vendor updated-at seen, run start)``. Capping at the run start means a ticket
changed behind an id-ordered walk is re-read next run; the overlap absorbs clock skew.
Connectors that list oldest-change-first are walked by keyset (``since`` = last item),
which no concurrent update can shift, and checkpoint after every page.

Notes: a run from a stored cursor queues every ticket it saw really change on the
``notes`` stream's pending list (in the transaction that stored the ticket), then reads the
notes of at most ``NOTES_PER_POLL`` queued tickets, oldest first; the rest wait for the next
run. A ticket leaves the list in the transaction that stored its notes, so nothing is lost
to a crash, and a re-read only re-inserts nothing (notes are unique per vendor id).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.connectors.base import AlertsCapability, Connector, DirectoryCapability, TicketsCapability
from mspclaw.connectors.errors import NotFound as VendorNotFound
from mspclaw.connectors.models import Note as VendorNote
from mspclaw.database.base import utcnow, uuid7
from mspclaw.database.session import tenant_session
from mspclaw.sync import service
from mspclaw.sync.models import Connection, Mappings, SyncCursor, SyncResult
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.tickets import service as tickets
from mspclaw.tickets.models import Ticket

log = structlog.get_logger(__name__)

#: Built-in connectors whose ``list_tickets`` returns the oldest change first (keyset-safe).
#: A third-party connector declares it with a ``tickets_ordered_by_update = True`` attribute.
ORDERED_BY_UPDATE = {"superops"}
KEYSET_STEP = timedelta(milliseconds=1)
#: Most tickets whose notes one run reads (one vendor request each; the rest carry over).
NOTES_PER_POLL = 50
NOTES_STREAM = "notes"

#: Append ticket ids to the notes pending list, skipping ones already queued (one atomic statement).
_QUEUE_NOTES = text(
    "UPDATE sync_cursors SET updated_at = :now, pending = pending || ("
    " SELECT coalesce(jsonb_agg(to_jsonb(u.x) ORDER BY u.n), '[]'::jsonb)"
    " FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS u(x, n) WHERE NOT jsonb_exists(pending, u.x))"
    " WHERE connection_id = :connection AND stream = :stream"
)
#: Take one ticket off the notes pending list (``jsonb - text`` drops matching array strings).
_NOTES_DONE = text(
    "UPDATE sync_cursors SET updated_at = :now, pending = pending - CAST(:id AS text)"
    " WHERE connection_id = :connection AND stream = :stream"
)


@dataclass
class _Walk:
    since: datetime | None
    run_start: datetime
    newest: datetime | None = None
    seen: set[str] | None = None


def ordered_by_update(connection: Connection, connector: Connector) -> bool:
    """Whether ticket pages come oldest-change-first (keyset walking is then safe)."""
    return bool(getattr(connector, "tickets_ordered_by_update", connection.connector in ORDERED_BY_UPDATE))


async def load_connection(rt: SyncRuntime, connection_id: uuid.UUID) -> Connection | None:
    """Find a connection in any tenant (jobs run without a tenant until they know it)."""
    async with tenant_session(rt.db.sessions, None) as session:
        return await session.scalar(select(Connection).where(Connection.id == connection_id))


async def _cursor(session: AsyncSession, connection: Connection, stream: str) -> SyncCursor:
    found = await session.scalar(
        select(SyncCursor).where(SyncCursor.connection_id == connection.id, SyncCursor.stream == stream)
    )
    if found is None:
        found = SyncCursor(id=uuid7(), connection_id=connection.id, stream=stream, runs=0, updated_at=utcnow())
        session.add(found)
        await session.flush()
    return found


async def _advance(rt: SyncRuntime, connection: Connection, stream: str, value: datetime, *, finished: bool) -> None:
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
        cursor = await _cursor(session, connection, stream)
        if cursor.updated_since is None or value > cursor.updated_since:
            cursor.updated_since = value
        cursor.updated_at = utcnow()
        if finished:
            cursor.runs += 1


async def _store_page(
    rt: SyncRuntime, connection: Connection, connector: Connector, items: list[Any], *, queue_notes: bool = False
) -> int:
    links = {k: str(v) for k, v in Mappings.model_validate(connection.mappings or {}).clients.items()}
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
        changed = await tickets.upsert_tickets(
            session,
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            tickets=items,
            client_links=links,
        )
        await service.record_unmapped(session, connection=connection, mappings=connector.mappings)
        if queue_notes and changed:
            ids = list(await session.scalars(select(Ticket.external_id).where(Ticket.id.in_(changed))))
            order = {t.external_id: i for i, t in enumerate(items)}
            ids = sorted(set(ids), key=lambda x: order.get(x, len(order)))
            params = {"now": utcnow(), "ids": ids, "connection": connection.id, "stream": NOTES_STREAM}
            await session.execute(_QUEUE_NOTES, params)
    return len(changed)


async def _store_notes(rt: SyncRuntime, connection: Connection, external_id: str, notes: list[VendorNote]) -> int:
    """Store the notes just read for one ticket (``note.added`` per new one) and take the
    ticket off the notes pending list, in one transaction. Returns the notes added."""
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
        added = await tickets.upsert_notes(
            session, tenant_id=connection.tenant_id, connection_id=connection.id, notes=notes
        )
        params = {"now": utcnow(), "id": external_id, "connection": connection.id, "stream": NOTES_STREAM}
        await session.execute(_NOTES_DONE, params)
    return added


async def sync_notes(
    rt: SyncRuntime, connection: Connection, connector: TicketsCapability, result: SyncResult, *, limit: int
) -> None:
    """Read the notes of up to ``limit`` queued tickets, oldest first; the rest stay queued."""
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session:
        queued = await session.scalar(
            select(SyncCursor.pending).where(
                SyncCursor.connection_id == connection.id, SyncCursor.stream == NOTES_STREAM
            )
        )
    queued = list(queued or [])
    for external_id in queued[:limit]:
        try:
            notes = await connector.list_notes(external_id)
        except VendorNotFound:
            notes = []  # gone at the vendor: the reconcile walk marks it deleted
        result.notes_read += 1
        result.notes_added += await _store_notes(rt, connection, external_id, notes)
    result.notes_pending = max(len(queued) - limit, 0)


async def sync_tickets(
    rt: SyncRuntime, connection: Connection, connector: TicketsCapability, result: SyncResult, *, full: bool
) -> set[str] | None:
    """Read ticket changes since the cursor (everything when ``full``); returns the ids seen
    on a full walk (for deletion detection), else None."""
    assert isinstance(connector, Connector)
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
        cursor = await _cursor(session, connection, "tickets")
        stored = cursor.updated_since
        # The first sync reads no notes (one request per ticket); later runs queue changed tickets.
        queue_notes = stored is not None
        if queue_notes:
            await _cursor(session, connection, NOTES_STREAM)
    overlap = timedelta(seconds=connection.overlap_seconds)
    walk = _Walk(since=None if full or stored is None else stored - overlap, run_start=utcnow())
    walk.seen = set() if walk.since is None else None
    ordered = ordered_by_update(connection, connector)
    since, token = walk.since, None
    # The next page is fetched while the current one is written (the rate budget, not the
    # database, should bound a sync); a checkpoint is stored only after its page committed.
    storing: asyncio.Task[int] | None = None
    checkpoint: datetime | None = None
    try:
        while True:
            page = await connector.list_tickets(since, token)
            result.pages += 1
            result.tickets_seen += len(page.items)
            if walk.seen is not None:
                walk.seen.update(t.external_id for t in page.items)
            await _settle(rt, connection, storing, checkpoint, result)
            checkpoint = None
            storing = asyncio.create_task(
                _store_page(rt, connection, connector, list(page.items), queue_notes=queue_notes)
            )
            page_newest = page.watermark or max((t.updated_at for t in page.items), default=None)
            if page_newest is not None and (walk.newest is None or page_newest > walk.newest):
                walk.newest = page_newest
            if page.next_cursor is None:
                break
            last = page.items[-1].updated_at if page.items else None
            if ordered and last is not None and (since is None or last - KEYSET_STEP > since):
                # Keyset: restart from the last change read; concurrent updates cannot shift it.
                since, token = last - KEYSET_STEP, None
                checkpoint = min(last, walk.run_start)
            else:
                token = page.next_cursor
    finally:
        if storing is not None and not storing.done():
            await asyncio.wait([storing])  # never leave a write running behind the walk
    await _settle(rt, connection, storing, checkpoint, result)
    if walk.newest is not None:
        await _advance(rt, connection, "tickets", min(walk.newest, walk.run_start), finished=True)
    return walk.seen


async def _settle(
    rt: SyncRuntime,
    connection: Connection,
    storing: asyncio.Task[int] | None,
    checkpoint: datetime | None,
    result: SyncResult,
) -> None:
    """Wait for the previous page's write, then store the keyset checkpoint it allows."""
    if storing is None:
        return
    result.tickets_changed += await storing
    if checkpoint is not None:
        await _advance(rt, connection, "tickets", checkpoint, finished=False)


async def sync_alerts(rt: SyncRuntime, connection: Connection, connector: AlertsCapability, result: SyncResult) -> None:
    """The full alert listing: new ones raised, closed or vanished ones resolved."""
    alerts = await connector.list_alerts(None)
    result.alerts_seen += len(alerts)
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
        result.alerts_changed += await tickets.upsert_alerts(
            session, tenant_id=connection.tenant_id, connection_id=connection.id, alerts=alerts, complete=True
        )


async def sync_directory(rt: SyncRuntime, connection: Connection, connector: DirectoryCapability) -> None:
    """Companies, contacts and devices as the vendor lists them."""
    clients = [
        {
            "external_id": c.external_id,
            "name": c.name,
            "client_external_id": None,
            "detail": {"domains": c.domains},
            "raw": c.raw,
        }
        for c in await connector.list_clients()
    ]
    contacts = [
        {
            "external_id": c.external_id,
            "name": c.name,
            "client_external_id": c.client_external_id,
            "detail": {"email": c.email, "phone": c.phone},
            "raw": c.raw,
        }
        for c in await connector.list_contacts()
    ]
    devices = [
        {
            "external_id": d.external_id,
            "name": d.name,
            "client_external_id": d.client_external_id,
            "detail": {"hostname": d.hostname, "os": d.os, "online": d.online},
            "raw": d.raw,
        }
        for d in await connector.list_devices()
    ]
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
        for kind, rows in (("client", clients), ("contact", contacts), ("device", devices)):
            await service.upsert_directory(session, connection=connection, kind=kind, records=rows)


async def poll_connection(
    rt: SyncRuntime,
    connection_id: uuid.UUID,
    *,
    full: bool = False,
    notes_per_poll: int = NOTES_PER_POLL,
    **connector_options: Any,
) -> SyncResult:
    """One polling run. A failure is recorded on the connection and re-raised."""
    connection = await load_connection(rt, connection_id)
    if connection is None:
        log.info("sync_connection_gone", connection_id=str(connection_id))
        return SyncResult()
    result = SyncResult()
    now = utcnow()
    reconcile = (
        full
        or connection.last_reconcile_at is None
        or (now - connection.last_reconcile_at > timedelta(hours=connection.reconcile_hours))
    )
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session:
        connector = await service.open_connector(session, rt.keyring(), connection, **connector_options)
    try:
        async with connector:
            if connector.supports("tickets"):
                assert isinstance(connector, TicketsCapability)
                seen = await sync_tickets(rt, connection, connector, result, full=reconcile)
                if seen is not None:
                    await _detect_deletions(rt, connection, seen, result)
            if connector.supports("alerts"):
                assert isinstance(connector, AlertsCapability)
                await sync_alerts(rt, connection, connector, result)
            if connector.supports("tickets"):  # after alerts: up to one request per ticket
                assert isinstance(connector, TicketsCapability)
                await sync_notes(rt, connection, connector, result, limit=notes_per_poll)
            if reconcile and connector.supports("directory"):
                assert isinstance(connector, DirectoryCapability)
                await sync_directory(rt, connection, connector)
    except Exception as exc:
        await _finish(rt, connection, error=f"{type(exc).__name__}: {exc}"[:2000], reconciled=False)
        raise
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
        result.stale = await tickets.report_stale(
            session,
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            older_than=utcnow() - timedelta(hours=connection.stale_hours),
        )
    await _finish(rt, connection, error=None, reconciled=reconcile)
    log.info("sync_run_done", connection_id=str(connection.id), **result.model_dump())
    return result


async def _detect_deletions(rt: SyncRuntime, connection: Connection, seen: set[str], result: SyncResult) -> None:
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
        missing = await tickets.live_external_ids(session, connection_id=connection.id) - seen
        result.deleted += await tickets.mark_deleted(
            session, tenant_id=connection.tenant_id, connection_id=connection.id, external_ids=sorted(missing)
        )


async def _finish(rt: SyncRuntime, connection: Connection, *, error: str | None, reconciled: bool) -> None:
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
        row = await session.get(Connection, connection.id)
        if row is None:
            return
        now = utcnow()
        row.last_poll_at = now
        row.last_error = error
        if error is None:
            row.last_success_at = now
        if reconciled:
            row.last_reconcile_at = now


async def refresh_ticket(rt: SyncRuntime, connection: Connection, external_id: str, **connector_options: Any) -> str:
    """Re-read one ticket (a webhook named it): upsert it, or mark it deleted when gone."""
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session:
        connector = await service.open_connector(session, rt.keyring(), connection, **connector_options)
    async with connector:
        assert isinstance(connector, TicketsCapability)
        try:
            ticket = await connector.get_ticket(external_id)
        except VendorNotFound:
            async with tenant_session(rt.db.sessions, connection.tenant_id) as session, session.begin():
                n = await tickets.mark_deleted(
                    session, tenant_id=connection.tenant_id, connection_id=connection.id, external_ids=[external_id]
                )
            return "deleted" if n else "absent"
        notes = await connector.list_notes(external_id)
        await _store_page(rt, connection, connector, [ticket])
        await _store_notes(rt, connection, external_id, notes)  # a poll need not read them again
    return "refreshed"
