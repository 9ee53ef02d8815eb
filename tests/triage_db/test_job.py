"""Triage runs by itself: a ticket event from the ticket store enqueues the triage job, which
stores one result per ticket version however often it runs."""

from __future__ import annotations

from sqlalchemy import select

from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.triage.models import TicketEmbedding, TriageRecord
from tests.conftest import TenantFixture
from tests.triage_db.conftest import add_connection, run_jobs, store_tickets, ticket


async def _records(db: Database) -> list[TriageRecord]:
    async with tenant_session(db.sessions, None) as session:
        rows = await session.execute(select(TriageRecord).order_by(TriageRecord.created_at))
        return list(rows.scalars())


async def test_ticket_events_trigger_triage_once_per_version(
    db: Database, rt: SyncRuntime, tenant_a: TenantFixture
) -> None:
    conn = await add_connection(db, tenant_a.id)
    ids = await store_tickets(
        db,
        tenant_a.id,
        conn,
        [
            ticket("j1", "Account locked out", "I am locked out of my account after too many attempts"),
            ticket("j2", "Backup failed", "Veeam job Daily backup failed for VM SQL01 last night"),
        ],
    )
    assert await _records(db) == []  # nothing triaged until the jobs run

    await run_jobs(db)
    records = await _records(db)
    assert {r.ticket_id: r.intent for r in records} == {ids["j1"]: "account_lockout", ids["j2"]: "backup"}
    assert all(r.tenant_id == tenant_a.id for r in records)
    async with tenant_session(db.sessions, None) as session:
        embedded = set((await session.execute(select(TicketEmbedding.ticket_id))).scalars())
    assert embedded == set(ids.values())

    # The same vendor version again changes nothing and triggers nothing.
    await store_tickets(
        db,
        tenant_a.id,
        conn,
        [ticket("j1", "Account locked out", "I am locked out of my account after too many attempts")],
    )
    await run_jobs(db)
    assert len(await _records(db)) == 2

    # An update (newer vendor updated-at) is triaged again; the old result stays as history.
    await store_tickets(
        db,
        tenant_a.id,
        conn,
        [ticket("j1", "Account locked out", "still locked out, the whole team is blocked", hours=2)],
    )
    await run_jobs(db)
    history = [r for r in await _records(db) if r.ticket_id == ids["j1"]]
    assert len(history) == 2 and history[0].ticket_updated_at < history[1].ticket_updated_at
