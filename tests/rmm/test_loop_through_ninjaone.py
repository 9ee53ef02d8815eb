"""The closed loop on an RMM-managed device: a ConnectWise ticket "disk almost full on <host>" for
a device NinjaOne manages (listed by the NinjaOne directory sync, the client's stack naming that
connection, no MSPclaw agent) is triaged, matched to the low-disk playbook, carried out as NinjaOne
script runs in the simulator, and the note and Completed status land back in ConnectWise."""

from __future__ import annotations

import uuid

import httpx

from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.ninjaone.simulator import NinjaOneSimulator
from mspclaw.database.session import tenant_session
from mspclaw.rmm import service
from mspclaw.rmm.models import ScriptMapPut
from mspclaw.sync import polling
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.tenancy.models import Device
from tests.conftest import TenantFixture
from tests.loop.conftest import psa  # noqa: F401 - fixture
from tests.loop.helpers import AUTO_POLICY, create_ticket, loop_actions, runs_of, setup_loop
from tests.rmm.conftest import SCRIPT_MAP, Disk, managed_device, with_sync_worker
from tests.sync.conftest import CONNECTOR_OPTIONS, run_jobs


async def test_reach_says_the_ninjaone_device_has_no_agent_but_an_rmm(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    ninja: tuple[NinjaOneSimulator, str, Disk],
) -> None:
    sim, url, _disk = ninja
    managed = await managed_device(http, rt, tenant_a, sim, url)
    other = await http.post(
        "/api/v1/devices", headers=tenant_a.headers, json={"client_id": managed.client_id, "hostname": "LAPTOP-9"}
    )
    async with tenant_session(rt.db.sessions, tenant_a.id) as session:
        ninja_device = await session.get(Device, uuid.UUID(managed.device_id))
        unmanaged = await session.get(Device, uuid.UUID(other.json()["id"]))
        assert ninja_device is not None and unmanaged is not None
        assert await service.reach(session, ninja_device) == {"agent": False, "rmm": True}
        assert await service.reach(session, unmanaged) == {"agent": True, "rmm": False}


async def test_disk_ticket_for_a_ninjaone_device_is_fixed_through_ninjaone_scripts(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],  # noqa: F811
    ninja: tuple[NinjaOneSimulator, str, Disk],
) -> None:
    cw, cw_url = psa
    sim, url, disk = ninja
    setup = await setup_loop(http, tenant_a, rt, cw, cw_url, AUTO_POLICY)
    managed = await managed_device(http, rt, tenant_a, sim, url, client_id=setup.client_id)
    async with tenant_session(rt.db.sessions, tenant_a.id) as session, session.begin():
        data = ScriptMapPut.model_validate({"tools": SCRIPT_MAP})
        await service.put_map(session, connection=managed.connection, data=data)
    hostname = sim.devices[managed.ninja_device]["systemName"]
    external_id = create_ticket(cw, setup, f"Disk almost full on {hostname}, low disk space")

    for _ in range(6):  # the executor waits for script results while the sync queue tracks them
        await polling.poll_connection(rt, uuid.UUID(setup.connection_id), **CONNECTOR_OPTIONS)
        await with_sync_worker(rt, run_jobs(rt))

    run = (await runs_of(http, tenant_a))[0]
    assert run["playbook_id"] == "low-disk-space"
    detail = (await http.get(f"/api/v1/runs/{run['id']}", headers=tenant_a.headers)).json()
    assert detail["status"] == "succeeded", detail
    assert [(s["step_id"], s["backend"], s["status"]) for s in detail["steps"]] == [
        ("before", "rmm_script", "succeeded"),
        ("cleanup", "rmm_script", "succeeded"),
        ("after", "rmm_script", "succeeded"),
    ]
    assert [(tool, device) for tool, device, _ in disk.runs] == [
        ("disk_usage", managed.ninja_device),
        ("cleanup_temp", managed.ninja_device),
        ("disk_usage", managed.ninja_device),
    ]
    assert disk.runs[1][2]["OlderThanHours"] == "72"  # the playbook's default input, typed, then passed on
    kinds = {a["kind"] for a in await loop_actions(http, tenant_a)}
    assert "written_back" in kinds, kinds
    notes = [str(n.get("text")) for n in cw.admin_notes(external_id)]
    note = next(n for n in notes if "MSPclaw resolved this with playbook low-disk-space" in n)
    assert '"percent_used": 93.0' in note and f'"bytes_freed": {40 * 1024**3}' in note, note
    assert '"percent_used": 89.0' in note and "Verification passed" in note, note
    assert cw.admin_ticket(external_id)["status"]["name"] == "Completed"
