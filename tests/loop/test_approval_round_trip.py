"""The loop with a human in it: the client policy lets only read steps run unattended, so the
automatic run stops at its change step and waits; a technician approves through the real API and
the run finishes with the note and the status in the PSA — or declines, and the loop escalates
saying so (note in the PSA, message to the escalation channel)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.loop import flows
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.loop.helpers import (
    APPROVAL_POLICY,
    DISK,
    Receiver,
    create_ticket,
    drive,
    loop_actions,
    runs_of,
    setup_loop,
)
from tests.sync.conftest import run_jobs


async def _waiting_for_approval(
    http: httpx.AsyncClient, tenant: TenantFixture, rt: SyncRuntime, sim: ConnectWiseSimulator, url: str
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    setup = await setup_loop(http, tenant, rt, sim, url, APPROVAL_POLICY)
    external_id = create_ticket(sim, setup, DISK)
    await drive(rt, setup.connection_id, rounds=3)
    [run] = await runs_of(http, tenant)
    assert run["playbook_id"] == "low-disk-space"
    assert run["status"] == "awaiting_approval", run
    pending = (await http.get("/api/v1/approvals?status=pending", headers=tenant.headers)).json()
    [approval] = pending["items"] if isinstance(pending, dict) else pending
    assert approval["tool"] == "cleanup_temp" and approval["run_id"] == run["id"]
    # nothing is written back while the run waits for a person
    assert not any("MSPclaw" in str(n) for n in sim.admin_notes(external_id))
    assert [a["kind"] for a in await loop_actions(http, tenant)] == ["started"]
    return external_id, run, approval


async def test_a_technician_approves_and_the_run_writes_back(
    rt: SyncRuntime,
    db: Database,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
) -> None:
    sim, url = psa
    external_id, run, approval = await _waiting_for_approval(http, tenant_a, rt, sim, url)
    before = sim.admin_ticket(external_id)["status"]["name"]

    decided = await http.post(
        f"/api/v1/approvals/{approval['id']}/approve", headers=tenant_a.headers, json={"reason": "user asked"}
    )
    assert decided.status_code == 200, decided.text
    await run_jobs(rt)

    done = (await http.get(f"/api/v1/runs/{run['id']}", headers=tenant_a.headers)).json()
    assert done["status"] == "succeeded", done
    kinds = [a["kind"] for a in await loop_actions(http, tenant_a)]
    assert sorted(kinds) == ["started", "written_back"]
    notes = [str(n.get("text")) for n in sim.admin_notes(external_id)]
    assert any("MSPclaw resolved this with playbook low-disk-space" in n and "cleanup_temp" in n for n in notes)
    after = sim.admin_ticket(external_id)["status"]["name"]
    assert after != before
    synced = (await http.get("/api/v1/tickets", headers=tenant_a.headers)).json()
    await drive(rt, str(synced[0]["connection_id"]), rounds=1)
    ticket = (await http.get(f"/api/v1/tickets/{synced[0]['id']}", headers=tenant_a.headers)).json()
    assert ticket["status"] == "resolved"  # the simulator's status, read back through the mapping
    assert len(await runs_of(http, tenant_a)) == 1  # the write-back is synced, but the loop acts once

    # the flows are plain functions: a repeated after_run (a retried job) writes nothing twice
    notes_before = len(sim.admin_notes(external_id))
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        again = await flows.after_run(session, rt.keyring(), tenant_id=tenant_a.id, run_id=uuid.UUID(run["id"]))
    assert again is None and len(sim.admin_notes(external_id)) == notes_before


async def test_a_declined_approval_escalates_and_says_so(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
    receiver: Receiver,
) -> None:
    sim, url = psa
    await http.post(
        "/api/v1/loop/notify-targets",
        headers=tenant_a.headers,
        json={"name": "escalations", "url": f"json://{receiver.hostport}/esc"},
    )
    external_id, run, approval = await _waiting_for_approval(http, tenant_a, rt, sim, url)
    before = sim.admin_ticket(external_id)["status"]["name"]

    decided = await http.post(
        f"/api/v1/approvals/{approval['id']}/deny",
        headers=tenant_a.headers,
        json={"reason": "user is presenting, do not touch the laptop now"},
    )
    assert decided.status_code == 200, decided.text
    await run_jobs(rt)

    done = (await http.get(f"/api/v1/runs/{run['id']}", headers=tenant_a.headers)).json()
    assert done["status"] in ("failed", "rolled_back"), done
    escalated = [a for a in await loop_actions(http, tenant_a) if a["kind"] == "escalated"]
    assert len(escalated) == 1 and "approval declined" in escalated[0]["reason"]
    [note] = [str(n.get("text")) for n in sim.admin_notes(external_id) if "MSPclaw" in str(n)]
    assert "could not finish this automatically" in note
    assert "declined cleanup_temp" in note and "do not touch the laptop now" in note
    assert sim.admin_ticket(external_id)["status"]["name"] == before  # not resolved
    [message] = receiver.at("esc")
    assert "declined cleanup_temp" in message.body["message"]


async def test_a_suggestion_is_started_by_a_technician_then_approved(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
) -> None:
    sim, url = psa
    setup = await setup_loop(http, tenant_a, rt, sim, url, {"auto_run": False})
    external_id = create_ticket(sim, setup, DISK)
    await drive(rt, setup.connection_id, rounds=2)
    [suggestion] = await loop_actions(http, tenant_a)
    assert suggestion["kind"] == "suggested" and suggestion["playbook_id"] == "low-disk-space"
    assert await runs_of(http, tenant_a) == []

    started = await http.post(f"/api/v1/loop/actions/{suggestion['id']}/start", headers=tenant_a.headers)
    assert started.status_code == 200, started.text
    assert started.json()["kind"] == "started" and "started the suggested low-disk-space" in started.json()["reason"]
    again = await http.post(f"/api/v1/loop/actions/{suggestion['id']}/start", headers=tenant_a.headers)
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    not_a_suggestion = await http.post(f"/api/v1/loop/actions/{started.json()['id']}/start", headers=tenant_a.headers)
    assert not_a_suggestion.status_code == 409

    await run_jobs(rt)
    [run] = await runs_of(http, tenant_a)
    assert run["status"] == "awaiting_approval"  # the default policy runs only read steps unattended
    assert run["requested_by_type"] != "automation"
    pending = (await http.get("/api/v1/approvals?status=pending", headers=tenant_a.headers)).json()
    [approval] = pending["items"] if isinstance(pending, dict) else pending
    await http.post(f"/api/v1/approvals/{approval['id']}/approve", headers=tenant_a.headers, json={"reason": "ok"})
    await run_jobs(rt)
    assert (await http.get(f"/api/v1/runs/{run['id']}", headers=tenant_a.headers)).json()["status"] == "succeeded"
    assert "written_back" in [a["kind"] for a in await loop_actions(http, tenant_a)]
    assert any("MSPclaw resolved this" in str(n) for n in sim.admin_notes(external_id))
