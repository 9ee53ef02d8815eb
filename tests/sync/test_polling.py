"""Polling against the SuperOps simulator through the public surface: full then incremental
sync, dedupe, events, unmapped values, client links, deletions, stale tickets."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from mspclaw.connectors.models import Ticket as VendorTicket
from mspclaw.connectors.simulator import ServedApp
from mspclaw.connectors.superops.simulator import SuperOpsSimulator
from mspclaw.database.session import tenant_session
from mspclaw.sync import polling
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.tickets import service as tickets
from tests.conftest import TenantFixture
from tests.sync.conftest import CONNECTOR_OPTIONS, add_connection, run_jobs, sim_settings


@pytest.fixture
def superops() -> Iterator[tuple[SuperOpsSimulator, str]]:
    sim = SuperOpsSimulator("polling", tickets=150, faults="limit=0")
    with ServedApp(sim.app()) as server:
        yield sim, server.url


async def _events(http: httpx.AsyncClient, tenant: TenantFixture, kind: str) -> list[dict[str, Any]]:
    response = await http.get(f"/api/v1/events?kind={kind}&limit=500", headers=tenant.headers)
    assert response.status_code == 200
    return list(response.json())


async def test_full_then_incremental_sync(
    rt: SyncRuntime, http: httpx.AsyncClient, tenant_a: TenantFixture, superops: tuple[SuperOpsSimulator, str]
) -> None:
    sim, url = superops
    connection = await add_connection(rt, tenant_a.id, "superops", sim_settings(sim, url, "superops"))

    first = await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)
    assert first.tickets_changed == len(sim.tickets) == 150
    listed = (await http.get("/api/v1/tickets?limit=500", headers=tenant_a.headers)).json()
    assert {t["external_id"] for t in listed} == set(sim.tickets)
    assert len(await _events(http, tenant_a, "ticket.created")) == 150
    one = next(t for t in listed if t["raw_status"] == "Waiting on Customer")
    assert one["status"] == "waiting" and one["raw"]["ticketId"] == one["external_id"]

    # "Scheduled" is not in the default mapping: stored raw, mapped value null, reported.
    scheduled = [t for t in listed if t["raw_status"] == "Scheduled"]
    assert scheduled and all(t["status"] is None for t in scheduled)
    unmapped = (await http.get(f"/api/v1/connections/{connection.id}/unmapped", headers=tenant_a.headers)).json()
    assert {"field": "status", "value": "Scheduled"}.items() <= unmapped[0].items()
    assert unmapped[0]["count"] == len(scheduled)

    # Nothing changed at the vendor: a repeat sync changes nothing and emits nothing.
    again = await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)
    assert again.tickets_changed == 0
    assert len(await _events(http, tenant_a, "ticket.updated")) == 0

    # One edit at the vendor: exactly one update and one event.
    tid = next(iter(sim.tickets))
    async with httpx.AsyncClient(base_url=url) as admin:
        (
            await admin.patch(f"/_sim/tickets/{tid}", json={"status": "Resolved", "subject": "Fixed printer"})
        ).raise_for_status()
    third = await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)
    assert third.tickets_changed == 1
    updated = await _events(http, tenant_a, "ticket.updated")
    assert [e["payload"]["external_id"] for e in updated] == [tid]
    stored = (await http.get(f"/api/v1/tickets/{updated[0]['subject_id']}", headers=tenant_a.headers)).json()
    assert (stored["subject"], stored["status"]) == ("Fixed printer", "resolved")

    # An older copy arriving late (a slow page, a delayed webhook) never overwrites it.
    stale_copy = VendorTicket(
        external_id=tid, subject="Old subject", updated_at=stored_time(stored) - timedelta(minutes=5), raw={}
    )
    async with tenant_session(rt.db.sessions, tenant_a.id) as session, session.begin():
        changed = await tickets.upsert_tickets(
            session, tenant_id=tenant_a.id, connection_id=connection.id, tickets=[stale_copy]
        )
    assert changed == []
    again_read = (await http.get(f"/api/v1/tickets/{stored['id']}", headers=tenant_a.headers)).json()
    assert again_read["subject"] == "Fixed printer"

    # Mapping the value removes it from the report; stale open tickets were announced once.
    mappings = (await http.get(f"/api/v1/connections/{connection.id}/mappings", headers=tenant_a.headers)).json()
    mappings["status"]["Scheduled"] = "waiting"
    put = await http.put(f"/api/v1/connections/{connection.id}/mappings", json=mappings, headers=tenant_a.headers)
    assert put.status_code == 200
    assert (await http.get(f"/api/v1/connections/{connection.id}/unmapped", headers=tenant_a.headers)).json() == []
    stale = await _events(http, tenant_a, "ticket.stale")
    assert stale and len({e["subject_id"] for e in stale}) == len(stale)


def stored_time(ticket: dict[str, Any]) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(ticket["vendor_updated_at"])


async def test_deleted_tickets_and_client_links(
    rt: SyncRuntime, http: httpx.AsyncClient, tenant_a: TenantFixture, superops: tuple[SuperOpsSimulator, str]
) -> None:
    sim, url = superops
    connection = await add_connection(rt, tenant_a.id, "superops", sim_settings(sim, url, "superops"))
    await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)

    # A ticket removed at the vendor is found missing by the next full walk.
    gone_id = next(iter(sim.tickets))
    with sim.lock:
        sim.tickets = {k: v for k, v in sim.tickets.items() if k != gone_id}
    result = await polling.poll_connection(rt, connection.id, full=True, **CONNECTOR_OPTIONS)
    assert result.deleted == 1
    deleted = await _events(http, tenant_a, "ticket.deleted")
    assert [e["payload"]["external_id"] for e in deleted] == [gone_id]
    live = (await http.get("/api/v1/tickets?limit=500", headers=tenant_a.headers)).json()
    assert gone_id not in {t["external_id"] for t in live}

    # A vendor company whose email domain matches an MSPclaw client is proposed, then linked.
    company = next(iter(sim.clients.values()))
    client = (
        await http.post(
            "/api/v1/clients",
            json={"name": "Our name for them", "domain": company["emailDomains"][0]},
            headers=tenant_a.headers,
        )
    ).json()
    proposals = (await http.get(f"/api/v1/connections/{connection.id}/client-matches", headers=tenant_a.headers)).json()
    match = next(p for p in proposals if p["vendor_external_id"] == company["accountId"])
    assert match["client_id"] == client["id"] and "domain" in match["reason"]
    linked = await http.post(
        f"/api/v1/connections/{connection.id}/client-links",
        json={"vendor_external_id": company["accountId"], "client_id": client["id"]},
        headers=tenant_a.headers,
    )
    assert linked.status_code == 200 and linked.json()["clients"] == {company["accountId"]: client["id"]}
    theirs = [
        t
        for t in (await http.get("/api/v1/tickets?limit=500", headers=tenant_a.headers)).json()
        if t["client_external_id"] == company["accountId"]
    ]
    assert theirs and all(t["client_id"] == client["id"] for t in theirs)
    after = (await http.get(f"/api/v1/connections/{connection.id}/client-matches", headers=tenant_a.headers)).json()
    assert company["accountId"] not in {p["vendor_external_id"] for p in after}


async def test_events_reach_subscribers_through_jobs(
    rt: SyncRuntime, tenant_a: TenantFixture, superops: tuple[SuperOpsSimulator, str]
) -> None:
    sim, url = superops
    seen: list[str] = []

    @tickets.subscribe("alert.raised")
    async def on_alert(_session: Any, event: Any) -> None:
        seen.append(event.payload["external_id"])

    try:
        connection = await add_connection(rt, tenant_a.id, "superops", sim_settings(sim, url, "superops"))
        await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)
        await run_jobs(rt, queues=["events"])
    finally:
        tickets.SUBSCRIBERS["alert.raised"].remove(on_alert)
    assert sorted(seen) == sorted(sim.alerts)
    async with tenant_session(rt.db.sessions, tenant_a.id) as session:
        events = await tickets.list_events(session, limit=1000, offset=0)
    assert events and all(e.published_at is not None for e in events)
