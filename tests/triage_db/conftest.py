"""Triage-on-the-database fixtures: the sync runtime on the test's database (jobs run
in-process), a PSA connection per tenant, and tickets stored through the ticket store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mspclaw import jobs
from mspclaw.connectors import models as vendor
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.sync import runtime
from mspclaw.sync.models import Connection
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.tickets import service as tickets
from mspclaw.vault.keys import KeyringProvider
from tests.conftest import TEST_MASTER_KEY

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def rt(db: Database, tmp_path: Path) -> AsyncIterator[SyncRuntime]:
    """The runtime jobs use, bound to this test's database."""
    runtime.reset()
    yield runtime.install(db, KeyringProvider(TEST_MASTER_KEY, tmp_path / "keys"))
    runtime.reset()


async def add_connection(db: Database, tenant_id: uuid.UUID) -> uuid.UUID:
    """A PSA connection row for the tenant (tickets belong to one)."""
    async with tenant_session(db.sessions, tenant_id) as session, session.begin():
        conn = Connection(connector="superops", name="PSA", hook_path=uuid.uuid4().hex, tenant_id=tenant_id)
        session.add(conn)
        await session.flush()
        return conn.id


def ticket(
    external_id: str,
    subject: str,
    body: str = "",
    *,
    status: str = "open",
    hours: float = 0.0,
    contact: str | None = None,
    client: str | None = None,
    assignee: str | None = None,
    raw: dict[str, Any] | None = None,
) -> vendor.Ticket:
    """A vendor ticket opened ``hours`` after T0."""
    at = T0 + timedelta(hours=hours)
    return vendor.Ticket(
        external_id=external_id,
        subject=subject,
        description=body,
        status=status,  # type: ignore[arg-type]
        contact_external_id=contact,
        client_external_id=client,
        assignee=assignee,
        created_at=at,
        updated_at=at,
        raw=raw or {"id": external_id},
    )


async def store_tickets(
    db: Database,
    tenant_id: uuid.UUID,
    connection_id: uuid.UUID,
    items: Sequence[vendor.Ticket],
    *,
    client_links: dict[str, str] | None = None,
    notes: Sequence[vendor.Note] = (),
) -> dict[str, uuid.UUID]:
    """Store tickets (and notes) through the ticket store; external id -> ticket id."""
    async with tenant_session(db.sessions, tenant_id) as session, session.begin():
        await tickets.upsert_tickets(
            session, tenant_id=tenant_id, connection_id=connection_id, tickets=items, client_links=client_links
        )
        if notes:
            await tickets.upsert_notes(session, tenant_id=tenant_id, connection_id=connection_id, notes=notes)
        rows = await tickets.list_tickets(session, limit=500, offset=0)
    return {t.external_id: t.id for t in rows}


def note(ticket_external_id: str, external_id: str, body: str, *, hours: float = 1.0) -> vendor.Note:
    return vendor.Note(
        external_id=external_id,
        ticket_external_id=ticket_external_id,
        body=body,
        internal=False,
        created_at=T0 + timedelta(hours=hours),
    )


async def run_jobs(db: Database, queues: list[str] | None = None) -> None:
    """Run queued jobs (of ``queues``, default all) in-process until none is left."""
    job_app = jobs.bind(db.libpq_url)
    async with job_app.open_async():
        await job_app.run_worker_async(queues=queues, wait=False, install_signal_handlers=False, concurrency=1)
