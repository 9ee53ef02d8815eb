"""The loop's console pages over HTTP: tickets list and detail, the approvals inbox, and deciding a
step from the page — permission-checked, CSRF-protected, audited and limited to the tenant."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.simulator import ServedApp, TicketChange
from mspclaw.sync import polling
from mspclaw.sync.models import Connection
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.console.helpers import approval_ids, console_login
from tests.sync.conftest import CONNECTOR_OPTIONS, add_connection, run_jobs, sim_settings

#: auto-run, but even the first (read) step of the disk playbook needs a person: nothing executes
#: in these tests until a technician decides
GATED_POLICY = {"auto_run": True, "approval_required_tools": ["disk_usage"]}
SUBJECT = "Low disk space warning on my laptop, the disk is almost full"


@pytest.fixture
def psa() -> Iterator[tuple[ConnectWiseSimulator, str]]:
    sim = ConnectWiseSimulator("console", tickets=0, faults="limit=0")
    with ServedApp(sim.app()) as server:
        yield sim, server.url


@asynccontextmanager
async def browser(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """A second browser (its own cookie jar) on the same app."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://mspclaw.test") as client:
        yield client


async def _linked_psa_client(
    http: httpx.AsyncClient, tenant: TenantFixture, rt: SyncRuntime, psa: tuple[ConnectWiseSimulator, str]
) -> tuple[Connection, str, httpx.Response]:
    """A gated client with one device, a connection to the PSA and the client link. Returns
    (connection, vendor company id, the link's response)."""
    sim, url = psa
    h = tenant.headers
    client = (await http.post("/api/v1/clients", headers=h, json={"name": "Contoso", "policy": GATED_POLICY})).json()
    await http.post(
        "/api/v1/devices", headers=h, json={"client_id": client["id"], "hostname": "PC-0001", "os": "linux"}
    )
    connection = await add_connection(rt, tenant.id, "connectwise", sim_settings(sim, url, "connectwise"))
    company = str(min(sim.companies))
    linked = await http.post(
        f"/api/v1/connections/{connection.id}/client-links",
        headers=h,
        json={"vendor_external_id": company, "client_id": client["id"]},
    )
    return connection, company, linked


async def _ticket_waiting_for_approval(
    http: httpx.AsyncClient, tenant: TenantFixture, rt: SyncRuntime, psa: tuple[ConnectWiseSimulator, str]
) -> tuple[str, str, str]:
    """A PSA ticket synced, triaged and matched; its run waits for approval. Returns
    (ticket id, vendor ticket id, connection id)."""
    sim, _url = psa
    connection, company, linked = await _linked_psa_client(http, tenant, rt, psa)
    assert linked.status_code == 200, linked.text
    external = str(sim.admin_create_ticket(TicketChange(subject=SUBJECT, company=company))["id"])
    for _ in range(4):
        await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)
        await run_jobs(rt)
    tickets = (await http.get("/api/v1/tickets", headers=tenant.headers)).json()
    ticket = next(t for t in tickets if t["external_id"] == external)
    return ticket["id"], external, str(connection.id)


async def _approvals(http: httpx.AsyncClient, tenant: TenantFixture, status: str) -> list[dict[str, Any]]:
    return list((await http.get(f"/api/v1/approvals?status={status}", headers=tenant.headers)).json())


async def test_pages_show_the_loop_and_a_technician_approves_from_the_page(
    rt: SyncRuntime,
    app: object,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
) -> None:
    ticket_id, _external, _conn = await _ticket_waiting_for_approval(http, tenant_a, rt, psa)
    assert (await http.get("/tickets")).headers["location"] == "/login"
    csrf = await console_login(http, tenant_a.owner_email, tenant_a.owner_password)

    listing = await http.get("/tickets")
    assert listing.status_code == 200
    row = listing.text.split(SUBJECT)[1].split("</tr>")[0]
    assert "disk_space" in row and "started" in row and "low-disk-space" in row and "awaiting_approval" in row
    assert "1 step waiting for approval" in listing.text

    detail = await http.get(f"/tickets/{ticket_id}")
    assert detail.status_code == 200
    assert "auto-run low-disk-space" in detail.text and "policy requires approval for disk_usage" in detail.text
    [pending] = approval_ids(detail.text)
    inbox = await http.get("/approvals")
    assert approval_ids(inbox.text) == [pending] and "disk_usage" in inbox.text

    # a forged form (no session CSRF token) changes nothing
    forged = await http.post(f"/approvals/{pending}/approve", data={"csrf": "forged", "next": "/approvals"})
    assert forged.status_code == 403 and "form expired" in forged.text
    assert [a["id"] for a in await _approvals(http, tenant_a, "pending")] == [pending]

    approved = await http.post(
        f"/approvals/{pending}/approve",
        data={"csrf": csrf, "reason": "checked with the user", "next": f"/tickets/{ticket_id}"},
    )
    assert approved.status_code == 303
    assert approved.headers["location"] == f"/tickets/{ticket_id}?decided=approved"
    [decided] = await _approvals(http, tenant_a, "approved")
    assert decided["id"] == pending and decided["decided_by"] == tenant_a.owner_email
    assert decided["reason"] == "checked with the user"
    events = (await http.get("/api/v1/audit/events?action=run.approval_", headers=tenant_a.headers)).json()["items"]
    decisions = [
        (e["action"], e["actor_type"], e["target_id"]) for e in events if e["action"] != "run.approval_requested"
    ]
    assert decisions == [("run.approval_approved", "technician", pending)]
    after = await http.get(f"/tickets/{ticket_id}?decided=approved")
    assert "Approved: the run continues." in after.text and approval_ids(after.text) == []

    # deciding twice is a clear error, not a 500
    again = await http.post(f"/approvals/{pending}/deny", data={"csrf": csrf, "next": "/approvals"})
    assert again.status_code == 409 and "already approved" in again.text


async def test_other_tenants_and_roles_without_runs_approve_cannot_decide(
    rt: SyncRuntime,
    app: object,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
) -> None:
    ticket_id, _external, _conn = await _ticket_waiting_for_approval(http, tenant_a, rt, psa)
    [pending] = [a["id"] for a in await _approvals(http, tenant_a, "pending")]

    async with browser(app) as other:
        csrf_b = await console_login(other, tenant_b.owner_email, tenant_b.owner_password)
        assert SUBJECT not in (await other.get("/tickets")).text
        assert (await other.get(f"/tickets/{ticket_id}")).status_code == 404
        assert (await other.get(f"/tickets/{uuid.uuid4()}")).status_code == 404
        assert (await other.get("/tickets/not-a-ticket")).status_code == 404
        assert approval_ids((await other.get("/approvals")).text) == []
        refused = await other.post(f"/approvals/{pending}/approve", data={"csrf": csrf_b, "next": "/approvals"})
        assert refused.status_code == 404

    created = await http.post(
        "/api/v1/technicians",
        headers=tenant_a.headers,
        json={"email": "eng@alpha.example", "name": "Eng", "role": "engineer", "password": "correct horse battery"},
    )
    assert created.status_code == 201, created.text
    async with browser(app) as engineer:
        csrf_e = await console_login(engineer, "eng@alpha.example", "correct horse battery")
        inbox = await engineer.get("/approvals")
        assert "disk_usage" in inbox.text and "can see approvals but not decide them" in inbox.text
        assert approval_ids(inbox.text) == []  # no decision form offered
        denied = await engineer.post(f"/approvals/{pending}/deny", data={"csrf": csrf_e, "next": "/approvals"})
        assert denied.status_code == 403 and "runs.approve" in denied.text

    assert [a["id"] for a in await _approvals(http, tenant_a, "pending")] == [pending]


async def test_rejecting_from_the_page_escalates_with_a_note_in_the_psa(
    rt: SyncRuntime,
    app: object,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
) -> None:
    sim, _url = psa
    ticket_id, external, _conn = await _ticket_waiting_for_approval(http, tenant_a, rt, psa)
    csrf = await console_login(http, tenant_a.owner_email, tenant_a.owner_password)
    [pending] = approval_ids((await http.get("/approvals")).text)
    rejected = await http.post(
        f"/approvals/{pending}/deny", data={"csrf": csrf, "reason": "user is presenting", "next": "/approvals"}
    )
    assert rejected.status_code == 303 and rejected.headers["location"] == "/approvals?decided=denied"
    await run_jobs(rt)  # the run stops at the denied step, and the loop writes back
    notes = [n["text"] for n in sim.admin_notes(external) if n["internalAnalysisFlag"]]
    assert any("could not finish this automatically" in n and "denied" in n for n in notes), notes
    page = await http.get(f"/tickets/{ticket_id}")
    assert "escalated" in page.text and "Note written to the PSA" in page.text
    assert "could not finish this automatically" in page.text and "user is presenting" in page.text


async def test_a_suggested_playbook_is_started_from_the_ticket_page(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
) -> None:
    sim, _url = psa
    h = tenant_a.headers
    connection, company, _linked = await _linked_psa_client(http, tenant_a, rt, psa)
    sim.admin_create_ticket(TicketChange(subject="Computer very slow and freezing since the update", company=company))
    await polling.poll_connection(rt, connection.id, **CONNECTOR_OPTIONS)
    await run_jobs(rt)  # triaged and decided: a suggestion starts nothing
    csrf = await console_login(http, tenant_a.owner_email, tenant_a.owner_password)
    [ticket] = (await http.get("/api/v1/tickets", headers=h)).json()
    page = await http.get(f"/tickets/{ticket['id']}")
    assert "suggested slow-computer: the playbook is suggest-only" in page.text
    action = page.text.split("/suggestions/")[1].split("/start")[0]

    forged = await http.post(f"/tickets/{ticket['id']}/suggestions/{action}/start", data={"csrf": "nope"})
    assert forged.status_code == 403
    assert (await http.get("/api/v1/runs", headers=h)).json()["total"] == 0

    started = await http.post(f"/tickets/{ticket['id']}/suggestions/{action}/start", data={"csrf": csrf})
    assert started.status_code == 303
    assert started.headers["location"] == f"/tickets/{ticket['id']}?started=slow-computer"
    [run] = (await http.get("/api/v1/runs", headers=h)).json()["items"]
    assert run["playbook_id"] == "slow-computer" and run["requested_by_name"] == tenant_a.owner_email
    after = await http.get(started.headers["location"])
    assert "Started slow-computer" in after.text and "/suggestions/" not in after.text  # started once
    twice = await http.post(f"/tickets/{ticket['id']}/suggestions/{action}/start", data={"csrf": csrf})
    assert twice.status_code == 409 and "already started" in twice.text
