"""Polled connections read the notes of tickets that changed: a note added at the vendor
after the first sync is mirrored by the next poll, a per-run cap carries the rest over to
the following poll, and repeat polls add nothing twice. SuperOps and ConnectWise
simulators served over loopback HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mspclaw.connectors.base import TicketsCapability
from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.simulator import ServedApp, Simulator
from mspclaw.connectors.superops.simulator import SuperOpsSimulator
from mspclaw.database.base import utcnow
from mspclaw.database.session import tenant_session
from mspclaw.sync import polling, service
from mspclaw.sync.models import Connection
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.tickets.models import Event, Ticket, TicketNote
from tests.conftest import TenantFixture
from tests.sync.conftest import CONNECTOR_OPTIONS, add_connection, sim_settings

SIMULATORS: dict[str, Callable[[], Simulator]] = {
    "superops": lambda: SuperOpsSimulator("notes", tickets=30, faults="limit=0"),
    "connectwise": lambda: ConnectWiseSimulator("notes", tickets=30, faults="limit=0"),
}


@pytest.fixture(params=sorted(SIMULATORS))
def vendor(request: pytest.FixtureRequest) -> Iterator[tuple[str, Simulator, str]]:
    sim = SIMULATORS[request.param]()
    with ServedApp(sim.app()) as server:
        yield request.param, sim, server.url


async def _add_notes(rt: SyncRuntime, connection: Connection, ticket_ids: list[str]) -> list[str]:
    """A technician adds one note per ticket at the vendor (its API, over HTTP)."""
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session:
        connector = await service.open_connector(session, rt.keyring(), connection, **CONNECTOR_OPTIONS)
    async with connector:
        assert isinstance(connector, TicketsCapability)
        return [
            (await connector.add_note(tid, f"Called the user about {tid}", internal=i % 2 == 0)).external_id
            for i, tid in enumerate(ticket_ids)
        ]


async def _stored(rt: SyncRuntime, tenant_id: uuid.UUID) -> tuple[dict[str, tuple[str, bool]], int]:
    """Mirrored notes (vendor id → ticket vendor id, linked to the mirrored ticket) and the
    number of ``note.added`` events."""
    async with tenant_session(rt.db.sessions, tenant_id) as session:
        rows = (
            await session.execute(select(TicketNote.external_id, TicketNote.ticket_external_id, TicketNote.ticket_id))
        ).all()
        events = await session.scalar(select(func.count()).select_from(Event).where(Event.kind == "note.added"))
    return {r.external_id: (r.ticket_external_id, r.ticket_id is not None) for r in rows}, int(events or 0)


async def test_polled_notes_arrive_capped_and_once(
    rt: SyncRuntime, tenant_a: TenantFixture, vendor: tuple[str, Simulator, str]
) -> None:
    name, sim, url = vendor
    connection = await add_connection(rt, tenant_a.id, name, sim_settings(sim, url, name))

    # The first (full) sync reads no notes: one request per ticket would eat the budget.
    first = await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)
    assert first.tickets_changed == 30 and first.notes_read == 0
    assert await _stored(rt, tenant_a.id) == ({}, 0)

    # Notes added at the vendor on three tickets; the next poll may read two of them.
    chosen = [t.external_id for t in (await _vendor_tickets(rt, connection))[:3]]
    added = await _add_notes(rt, connection, chosen)
    second = await polling.poll_connection(rt, connection.id, notes_per_poll=2, **CONNECTOR_OPTIONS)
    assert (second.tickets_changed, second.notes_read, second.notes_pending) == (3, 2, 1)
    notes, events = await _stored(rt, tenant_a.id)
    done = {tid for tid, _ in notes.values()}
    assert len(done) == 2 and done < set(chosen)
    assert [n in notes for n in added] == [tid in done for tid in chosen]
    assert events == len(notes) and all(linked for _, linked in notes.values())

    # The following poll (nothing new at the vendor) reads the ticket carried over.
    third = await polling.poll_connection(rt, connection.id, notes_per_poll=2, **CONNECTOR_OPTIONS)
    assert (third.tickets_changed, third.notes_read, third.notes_pending) == (0, 1, 0)
    notes, events = await _stored(rt, tenant_a.id)
    assert set(added) <= set(notes) and {tid for tid, _ in notes.values()} == set(chosen)
    # Every note the vendor holds for those tickets is mirrored (ConnectWise also has the
    # ticket's initial description note), each exactly once with one event.
    vendor_ids = {str(n.get("id", n.get("noteId"))) for tid in chosen for n in sim.admin_notes(tid)}
    assert set(notes) == vendor_ids and events == len(notes)

    # Repeat polls change nothing, read no notes and add no duplicate note or event.
    for _ in range(2):
        again = await polling.poll_connection(rt, connection.id, notes_per_poll=2, **CONNECTOR_OPTIONS)
        assert (again.tickets_changed, again.notes_read, again.notes_added) == (0, 0, 0)
    assert await _stored(rt, tenant_a.id) == (notes, events)

    # Another note on a ticket already read: exactly that note arrives, once. ConnectWise
    # stamps whole seconds, and a ticket copy equal to the stored one is no change (see
    # docs/sync.md), so the note is added once the stored stamp's second is over.
    stamp = next(t.vendor_updated_at for t in await _vendor_tickets(rt, connection) if t.external_id == chosen[0])
    assert stamp is not None
    await asyncio.sleep(max(0.0, (stamp.replace(microsecond=0) + timedelta(seconds=1.05) - utcnow()).total_seconds()))
    (extra,) = await _add_notes(rt, connection, chosen[:1])
    fourth = await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)
    assert (fourth.notes_read, fourth.notes_added) == (1, 1)
    after, after_events = await _stored(rt, tenant_a.id)
    assert set(after) - set(notes) == {extra} and after_events == events + 1


async def test_reconcile_run_reads_notes_of_changed_tickets_only(
    rt: SyncRuntime, tenant_a: TenantFixture, vendor: tuple[str, Simulator, str]
) -> None:
    """A reconcile walk replaces that run's incremental read: tickets it finds changed get
    their notes read (else a note added just before it would wait for another change), the
    unchanged rest does not."""
    name, sim, url = vendor
    connection = await add_connection(rt, tenant_a.id, name, sim_settings(sim, url, name))
    await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)
    (tid,) = [t.external_id for t in (await _vendor_tickets(rt, connection))[:1]]
    (note,) = await _add_notes(rt, connection, [tid])
    result = await polling.poll_connection(rt, connection.id, full=True, **CONNECTOR_OPTIONS)
    assert (result.tickets_seen, result.tickets_changed, result.notes_read) == (30, 1, 1)
    notes, _ = await _stored(rt, tenant_a.id)
    assert note in notes and {t for t, _ in notes.values()} == {tid}


async def test_webhook_refresh_takes_ticket_off_the_notes_list(
    rt: SyncRuntime, tenant_a: TenantFixture, vendor: tuple[str, Simulator, str]
) -> None:
    """The webhook path (``refresh_ticket``) stores notes with the same code and events, and a
    ticket whose notes it read is not read again by the next poll."""
    name, sim, url = vendor
    connection = await add_connection(rt, tenant_a.id, name, sim_settings(sim, url, name))
    await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)
    (tid,) = [t.external_id for t in (await _vendor_tickets(rt, connection))[:1]]
    (note,) = await _add_notes(rt, connection, [tid])
    queued = await polling.poll_connection(rt, connection.id, notes_per_poll=0, **CONNECTOR_OPTIONS)
    assert (queued.tickets_changed, queued.notes_read, queued.notes_pending) == (1, 0, 1)
    assert await _stored(rt, tenant_a.id) == ({}, 0)

    assert await polling.refresh_ticket(rt, connection, tid, **CONNECTOR_OPTIONS) == "refreshed"
    notes, events = await _stored(rt, tenant_a.id)
    assert note in notes and events == len(notes)
    after = await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)
    assert (after.notes_read, after.notes_pending) == (0, 0)
    assert await _stored(rt, tenant_a.id) == (notes, events)


async def _vendor_tickets(rt: SyncRuntime, connection: Connection) -> list[Ticket]:
    """Mirrored tickets of the connection, in vendor id order."""
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session:
        return list(
            await session.scalars(
                select(Ticket).where(Ticket.connection_id == connection.id).order_by(Ticket.external_id)
            )
        )
