"""The closed loop end to end: a ticket created in a PSA simulator is synced, triaged, matched to
a playbook, run for real on this machine, and the note and status land back in the simulator —
with no human step when the client policy allows auto-run, and an approval round-trip when not."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.simulator import ServedApp, TicketChange
from mspclaw.database.core import Database
from mspclaw.runs import runtime as runs_runtime
from mspclaw.runs.journal import JournaledBackend
from mspclaw.sync import polling
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.tools import BackendRouter, LocalEndpointBackend
from tests.conftest import TenantFixture
from tests.sync.conftest import CONNECTOR_OPTIONS, add_connection, run_jobs, sim_settings

AUTO_POLICY = {"auto_run": True, "unattended_risks": ["read", "change"], "require_verification": True}


@pytest.fixture
def psa() -> Iterator[tuple[ConnectWiseSimulator, str]]:
    sim = ConnectWiseSimulator("loop", tickets=0, faults="limit=0")  # only the test's own ticket
    with ServedApp(sim.app()) as server:
        yield sim, server.url


@pytest.fixture
def endpoint_runtime(db: Database, tmp_path: Path) -> Iterator[None]:
    """The executor runs endpoint tools for real on this machine (the device is this host)."""
    runs_runtime.install(
        runs_runtime.RunRuntime(
            db.sessions, BackendRouter(JournaledBackend(LocalEndpointBackend(), tmp_path / "journal"))
        )
    )
    yield


async def _setup(
    http: httpx.AsyncClient,
    tenant: TenantFixture,
    rt: SyncRuntime,
    sim: ConnectWiseSimulator,
    url: str,
    policy: dict[str, Any],
) -> tuple[str, str]:
    h = tenant.headers
    client = (await http.post("/api/v1/clients", headers=h, json={"name": "Contoso", "policy": policy})).json()
    await http.post(
        "/api/v1/devices", headers=h, json={"client_id": client["id"], "hostname": "PC-0001", "os": "linux"}
    )
    connection = await add_connection(rt, tenant.id, "connectwise", sim_settings(sim, url, "connectwise"))
    company = next(iter(sim.companies)) if hasattr(sim, "companies") else sim.summary()["companies"][0]["id"]
    linked = await http.post(
        f"/api/v1/connections/{connection.id}/client-links",
        headers=h,
        json={"vendor_external_id": str(company), "client_id": client["id"]},
    )
    assert linked.status_code in (200, 201), linked.text
    created = sim.admin_create_ticket(
        TicketChange(subject="Printer offline on 2nd floor, print queue stuck", company=str(company))
    )
    return str(connection.id), str(created.get("id") or created.get("ticketId") or created["externalId"])


async def _drive(rt: SyncRuntime, connection_id: str, rounds: int = 6) -> None:
    for _ in range(rounds):
        await polling.poll_connection(rt, uuid.UUID(connection_id), **CONNECTOR_OPTIONS)
        await run_jobs(rt)


async def _loop_actions(http: httpx.AsyncClient, tenant: TenantFixture) -> list[dict[str, Any]]:
    return list((await http.get("/api/v1/loop/actions", headers=tenant.headers)).json())


async def test_auto_run_without_a_human_writes_the_note_back(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
) -> None:
    sim, url = psa
    connection_id, external_id = await _setup(http, tenant_a, rt, sim, url, AUTO_POLICY)
    await _drive(rt, connection_id)
    actions = await _loop_actions(http, tenant_a)
    kinds = {a["kind"] for a in actions}
    assert "started" in kinds, actions
    assert kinds & {"written_back", "escalated"}, actions
    notes = sim.admin_notes(external_id)
    assert any("MSPclaw" in str(n) for n in notes), notes
    runs = (await http.get("/api/v1/runs", headers=tenant_a.headers)).json()
    run = runs["items"][0] if isinstance(runs, dict) else runs[0]
    assert run["playbook_id"].startswith("printer")


async def test_without_auto_run_the_playbook_is_suggested_not_run(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
) -> None:
    sim, url = psa
    connection_id, _ = await _setup(http, tenant_a, rt, sim, url, {"auto_run": False})
    await _drive(rt, connection_id, rounds=3)
    actions = await _loop_actions(http, tenant_a)
    assert [a["kind"] for a in actions if a["playbook_id"]] == ["suggested"]
    assert "client policy does not allow auto-run" in actions[0]["reason"]
    runs = (await http.get("/api/v1/runs", headers=tenant_a.headers)).json()
    assert (runs["total"] if isinstance(runs, dict) else len(runs)) == 0
