"""Triage results, pgvector embeddings, similar resolved tickets and duplicates on a real
PostgreSQL: stored with history, idempotent per ticket version, never across tenants."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select, text

from mspclaw.auth.models import Technician
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.tenancy.models import Client, Contact, Device
from mspclaw.triage import service, similarity
from mspclaw.triage.models import EMBEDDING_DIM, TicketEmbedding, TriageRecord
from tests.conftest import TenantFixture
from tests.triage_db.conftest import add_connection, note, store_tickets, ticket

RESOLVED_A = [
    ticket("r1", "Printer jammed", "The HP printer on floor 2 keeps jamming paper in tray 2", status="resolved"),
    ticket("r2", "VPN will not connect", "GlobalProtect VPN fails to connect from home since update", status="closed"),
    ticket("r3", "Password expired", "My password expired and I cannot log in to Windows", status="resolved"),
]
NOTES_A = [
    note("r1", "n1", "Checked tray 2", hours=1),
    note("r1", "n2", "Replaced the pickup roller in tray 2; printing fine again", hours=2),
    note("r2", "n3", "Reinstalled GlobalProtect 6.2 and re-imported the portal config", hours=2),
]


async def _triage(db: Database, tenant_id: uuid.UUID, ticket_id: uuid.UUID) -> TriageRecord:
    async with tenant_session(db.sessions, tenant_id) as session, session.begin():
        record = await service.triage_ticket(session, tenant_id=tenant_id, ticket_id=ticket_id)
    assert record is not None
    return record


async def _embed_all(db: Database, tenant_id: uuid.UUID, ids: dict[str, uuid.UUID]) -> None:
    for ticket_id in ids.values():
        await _triage(db, tenant_id, ticket_id)


async def test_triage_is_stored_with_its_embedding_and_similar_resolved_tickets(
    db: Database, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    conn_a = await add_connection(db, tenant_a.id)
    conn_b = await add_connection(db, tenant_b.id)
    ids_a = await store_tickets(db, tenant_a.id, conn_a, RESOLVED_A, notes=NOTES_A)
    # Tenant B has a word-for-word identical resolved printer ticket: it must never show up for A.
    ids_b = await store_tickets(
        db,
        tenant_b.id,
        conn_b,
        [ticket("b1", "Printer jammed", "The HP printer on floor 2 keeps jamming paper in tray 2", status="resolved")],
        notes=[note("b1", "bn1", "B's secret fix")],
    )
    await _embed_all(db, tenant_a.id, ids_a)
    await _embed_all(db, tenant_b.id, ids_b)

    new = await store_tickets(
        db, tenant_a.id, conn_a, [ticket("o1", "printer jamming again", "HP printer floor 2 jams paper", hours=30)]
    )
    record = await _triage(db, tenant_a.id, new["o1"])
    assert record.intent == "printer"
    assert record.model_source == "shipped" and record.model_version.startswith("seed-")
    assert 0 < record.confidence <= 1 and record.candidates[0]["intent"] == "printer"
    assert record.language and 0 <= record.urgency <= 100

    similar = record.similar
    assert similar[0]["ticket_id"] == str(ids_a["r1"])
    assert similar[0]["resolution"] == "Replaced the pickup roller in tray 2; printing fine again"
    assert similar[0]["similarity"] > similar[-1]["similarity"]
    returned = {s["ticket_id"] for s in similar}
    assert str(ids_b["b1"]) not in returned and returned <= {str(i) for i in ids_a.values()}
    assert all("secret" not in str(s) for s in similar)

    async with tenant_session(db.sessions, None) as session:
        row = await session.get(TicketEmbedding, new["o1"])
        assert row is not None and row.tenant_id == tenant_a.id and len(row.embedding) == EMBEDDING_DIM
        assert row.backend == similarity.backend().name
        index = (
            await session.execute(text("SELECT indexdef FROM pg_indexes WHERE tablename = 'ticket_embeddings'"))
        ).scalars()
        assert any("hnsw" in d and "vector_cosine_ops" in d for d in index)

    # B asking for the same text only sees its own ticket, through the session's scope too.
    async with tenant_session(db.sessions, tenant_b.id) as session:
        found = await similarity.similar_resolved(
            session, tenant_id=tenant_b.id, vector=similarity.embed("printer jamming paper HP floor 2")
        )
    assert [s.ticket_id for s in found] == [ids_b["b1"]]


async def test_triage_is_idempotent_per_ticket_version_and_keeps_history(db: Database, tenant_a: TenantFixture) -> None:
    conn = await add_connection(db, tenant_a.id)
    ids = await store_tickets(db, tenant_a.id, conn, [ticket("t1", "VPN down", "cannot connect to vpn")])
    first = await _triage(db, tenant_a.id, ids["t1"])
    again = await _triage(db, tenant_a.id, ids["t1"])
    assert again.id == first.id

    await store_tickets(
        db, tenant_a.id, conn, [ticket("t1", "VPN down for everyone", "nobody can connect to the vpn", hours=1)]
    )
    second = await _triage(db, tenant_a.id, ids["t1"])
    assert second.id != first.id and second.ticket_updated_at > first.ticket_updated_at
    async with tenant_session(db.sessions, tenant_a.id) as session:
        latest = await service.latest_for_ticket(session, tenant_id=tenant_a.id, ticket_id=ids["t1"])
        count = (await session.execute(select(func.count()).select_from(TriageRecord))).scalar_one()
    assert latest.id == second.id and latest.history == 2 and count == 2


async def test_concurrent_jobs_for_one_ticket_version_store_one_result(db: Database, tenant_a: TenantFixture) -> None:
    conn = await add_connection(db, tenant_a.id)
    ids = await store_tickets(db, tenant_a.id, conn, [ticket("x1", "Wi-Fi drops", "wifi keeps dropping in room 4")])
    records = await asyncio.gather(*(_triage(db, tenant_a.id, ids["x1"]) for _ in range(4)))
    assert len({r.id for r in records}) == 1
    async with tenant_session(db.sessions, tenant_a.id) as session:
        assert (await session.execute(select(func.count()).select_from(TriageRecord))).scalar_one() == 1


async def test_near_duplicates_of_the_same_contact_within_48h_are_proposed_for_merge(
    db: Database, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    conn_a = await add_connection(db, tenant_a.id)
    conn_b = await add_connection(db, tenant_b.id)
    body = "Outlook keeps asking for my password and no new emails arrive in my inbox"
    ids = await store_tickets(
        db,
        tenant_a.id,
        conn_a,
        [
            ticket("d1", "Outlook not receiving emails", body, contact="jo@acme.example"),
            ticket(
                "d2", "Outlook not receiving email", body + " since this morning", hours=5, contact="jo@acme.example"
            ),
            ticket("d3", "Outlook not receiving emails", body, hours=24 * 5, contact="jo@acme.example"),
            ticket("d4", "Outlook not receiving emails", body, hours=2, contact="someone.else@acme.example"),
            ticket(
                "d5",
                "New laptop for Sam",
                "Sam starts Monday, please order a laptop",
                hours=1,
                contact="jo@acme.example",
            ),
        ],
    )
    ids_b = await store_tickets(
        db,
        tenant_b.id,
        conn_b,
        [ticket("bd", "Outlook not receiving emails", body, hours=1, contact="jo@acme.example")],
    )
    await _embed_all(db, tenant_b.id, ids_b)
    for ext in ("d1", "d3", "d4", "d5"):
        await _triage(db, tenant_a.id, ids[ext])
    record = await _triage(db, tenant_a.id, ids["d2"])
    proposed = [d["ticket_id"] for d in record.duplicates]
    # d1: same contact, 5 h apart, same text. d3 is 5 days away, d4 another contact, d5 another
    # request, bd another tenant.
    assert proposed == [str(ids["d1"])]
    assert record.duplicates[0]["similarity"] >= similarity.DUPLICATE_THRESHOLD
    assert "merg" in record.duplicates[0]["reason"] and record.duplicates[0]["hours_apart"] == 5.0


async def test_client_context_and_urgency_signals_come_from_the_tenant_records(
    db: Database, tenant_a: TenantFixture
) -> None:
    conn = await add_connection(db, tenant_a.id)
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        client = Client(name="Acme", policy={"sla_tier": "platinum", "four_eyes": True})
        session.add(client)
        await session.flush()
        contact = Contact(client_id=client.id, name="Jo Boss", email="jo@acme.example", vip=True)
        session.add(contact)
        await session.flush()
        session.add(Device(client_id=client.id, contact_id=contact.id, hostname="ACME-LT-07", role="workstation"))
    links = {"acme-1": str(client.id)}
    ids = await store_tickets(
        db,
        tenant_a.id,
        conn,
        [
            ticket("c1", "Laptop screen flickers", "my screen flickers", contact="jo@acme.example", client="acme-1"),
            ticket("c2", "Cannot print", "printer offline", hours=1, contact="jo@acme.example", client="acme-1"),
        ],
        client_links=links,
    )
    record = await _triage(db, tenant_a.id, ids["c2"])
    ctx = record.context
    assert ctx["client_name"] == "Acme" and "SLA tier: platinum" in ctx["policy_summary"]
    assert "four-eyes approval" in ctx["policy_summary"]
    assert ctx["contact"]["name"] == "Jo Boss" and ctx["contact"]["vip"] is True
    assert [d["hostname"] for d in ctx["devices"]] == ["ACME-LT-07"]
    assert [t["ticket_id"] for t in ctx["open_tickets_of_contact"]] == [str(ids["c1"])]
    factor_names = {f["name"] for f in record.urgency_factors}
    assert any("vip" in n for n in factor_names) and any("sla" in n for n in factor_names)


async def test_open_tickets_get_technicians_ranked_by_skills_load_and_history(
    db: Database, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    conn = await add_connection(db, tenant_a.id)
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        session.add(Technician(email="ann@msp.example", name="Ann", role="engineer", skills=["printer"]))
        session.add(Technician(email="bob@msp.example", name="Bob", role="engineer", skills=[]))
        session.add(Technician(email="viv@msp.example", name="Viv", role="viewer", skills=["printer"]))
    async with tenant_session(db.sessions, tenant_b.id) as session, session.begin():
        session.add(Technician(email="bea@b.example", name="Bea", role="engineer", skills=["printer"]))
    printer = "The office printer jams paper in tray 2"
    history = [
        ticket(f"h{i}", "Printer jam", printer, status="resolved", hours=i, assignee="bob@msp.example")
        for i in range(3)
    ]
    load = [ticket(f"l{i}", "VPN", "vpn drops", hours=i, assignee="Ann") for i in range(4)]
    ids = await store_tickets(db, tenant_a.id, conn, [*history, *load])
    for ext in ("h0", "h1", "h2"):
        await _triage(db, tenant_a.id, ids[ext])

    new = await store_tickets(db, tenant_a.id, conn, [ticket("n1", "Printer jammed", printer, hours=10)])
    record = await _triage(db, tenant_a.id, new["n1"])
    by_name = {r["name"]: r for r in record.routing}
    # The tenant's owner is routable too; viewers are not, and B's technicians never.
    assert set(by_name) == {"Ann", "Bob", "Alpha MSP owner"}
    assert any("skills printer" in reason for reason in by_name["Ann"]["reasons"])
    assert any("4/10 open tickets" in reason for reason in by_name["Ann"]["reasons"])
    assert any("resolved 3 printer tickets" in reason for reason in by_name["Bob"]["reasons"])
    assert [r["score"] for r in record.routing] == sorted((r["score"] for r in record.routing), reverse=True)
