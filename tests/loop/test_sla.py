"""SLA clock awareness: an automatic run that still holds a ticket at 80 % of its SLA response
window gets a technician told — once per ticket, recorded as a loop action and in the audit
trail — by the periodic sweep (driven here with a controllable clock) and already when the run starts."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update

from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.loop.flows import check_sla_everywhere
from mspclaw.loop.sla import RESPONSE_TARGET_MINUTES
from mspclaw.sync import polling
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.tickets.models import Ticket
from mspclaw.triage.models import TriageRecord
from tests.conftest import TenantFixture
from tests.loop.helpers import APPROVAL_POLICY, DISK, Receiver, create_ticket, drive, loop_actions, setup_loop
from tests.sync.conftest import CONNECTOR_OPTIONS, run_jobs

GOLD = {**APPROVAL_POLICY, "sla_tier": "gold"}


async def _targets(http: httpx.AsyncClient, tenant: TenantFixture, receiver: Receiver) -> None:
    for name, body in (
        ("sla-desk", {"url": f"json://{receiver.hostport}/sla", "events": ["sla_warning"]}),
        ("owner", {"url": f"json://{receiver.hostport}/owner", "technician_email": tenant.owner_email}),
    ):
        created = await http.post("/api/v1/loop/notify-targets", headers=tenant.headers, json={"name": name, **body})
        assert created.status_code == 201, created.text


async def _ticket(db: Database, tenant: TenantFixture) -> tuple[uuid.UUID, datetime, str]:
    async with tenant_session(db.sessions, tenant.id) as session:
        ticket = (await session.scalars(select(Ticket))).one()
        triage = await session.scalar(select(TriageRecord).where(TriageRecord.ticket_id == ticket.id))
        assert triage is not None and ticket.vendor_created_at is not None
        return ticket.id, ticket.vendor_created_at, triage.priority


async def test_the_sweep_warns_once_at_80_percent_of_the_response_window(
    rt: SyncRuntime,
    db: Database,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
    receiver: Receiver,
) -> None:
    sim, url = psa
    await _targets(http, tenant_a, receiver)
    setup = await setup_loop(http, tenant_a, rt, sim, url, GOLD)
    create_ticket(sim, setup, DISK)
    await drive(rt, setup.connection_id, rounds=2)
    assert [a["kind"] for a in await loop_actions(http, tenant_a)] == ["started"]  # waiting for an approval
    ticket_id, opened, priority = await _ticket(db, tenant_a)
    target = timedelta(minutes=RESPONSE_TARGET_MINUTES["gold"][priority])
    keyring = rt.keyring()

    assert await check_sla_everywhere(db.sessions, keyring, now=opened + target * 0.8 - timedelta(seconds=1)) == 0
    assert receiver.received == []
    assert await check_sla_everywhere(db.sessions, keyring, now=opened + target * 0.8) == 1
    assert await check_sla_everywhere(db.sessions, keyring, now=opened + target * 2) == 0  # once per ticket

    [warning] = [a for a in await loop_actions(http, tenant_a) if a["kind"] == "sla_warning"]
    assert warning["ticket_id"] == str(ticket_id)
    assert warning["detail"]["target_minutes"] == RESPONSE_TARGET_MINUTES["gold"][priority]
    assert warning["detail"]["sla_tier"] == "gold" and warning["detail"]["run_status"] == "awaiting_approval"
    assert "min left" in warning["reason"]
    [desk] = receiver.at("sla")
    [owner] = receiver.at("owner")
    assert desk.body["title"].startswith("MSPclaw SLA warning: #")
    assert "still awaiting_approval" in desk.body["message"] and "please respond" in desk.body["message"]
    assert owner.body == desk.body
    deliveries = (await http.get("/api/v1/loop/notifications", headers=tenant_a.headers)).json()
    assert sorted((d["target_name"], d["event"], d["status"]) for d in deliveries) == [
        ("owner", "sla_warning", "sent"),
        ("sla-desk", "sla_warning", "sent"),
    ]
    events = (await http.get("/api/v1/audit/events?limit=500", headers=tenant_a.headers)).json()["items"]
    assert [e["action"] for e in events].count("loop.sla_warning") == 1


async def test_a_ticket_already_late_is_flagged_when_its_run_starts(
    rt: SyncRuntime,
    db: Database,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
    receiver: Receiver,
) -> None:
    sim, url = psa
    await _targets(http, tenant_a, receiver)
    setup = await setup_loop(http, tenant_a, rt, sim, url, GOLD)
    create_ticket(sim, setup, DISK)
    await polling.poll_connection(rt, uuid.UUID(setup.connection_id), **CONNECTOR_OPTIONS)
    for _ in range(2):  # events dispatched, ticket triaged; the loop's decision is queued, not taken yet
        await run_jobs(rt, queues=["events", "triage"])
    assert await loop_actions(http, tenant_a) == []
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        # the ticket sat in the PSA for a day before it reached MSPclaw
        await session.execute(update(Ticket).values(vendor_created_at=Ticket.vendor_created_at - timedelta(days=1)))
    await run_jobs(rt, queues=["loop"])

    kinds = [a["kind"] for a in await loop_actions(http, tenant_a)]
    assert sorted(kinds) == ["sla_warning", "started"]
    [warning] = [a for a in await loop_actions(http, tenant_a) if a["kind"] == "sla_warning"]
    assert "overdue by" in warning["reason"]
    assert len(receiver.at("sla")) == 1 and "overdue by" in receiver.at("sla")[0].body["message"]
