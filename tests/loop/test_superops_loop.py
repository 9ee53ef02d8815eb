"""The closed loop on SuperOps, which has no webhooks: a ticket typed into the SuperOps simulator
is found by polling, triaged, run for real on this host without a human (the client allows it),
and the internal note and the resolved status are written back over SuperOps' GraphQL API."""

from __future__ import annotations

import httpx

from mspclaw.connectors.superops.simulator import SuperOpsSimulator
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.loop.helpers import AUTO_POLICY, DISK, create_ticket, drive, loop_actions, runs_of, setup_loop


async def test_superops_ticket_is_polled_run_and_written_back(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    superops: tuple[SuperOpsSimulator, str],
    endpoint_runtime: None,
) -> None:
    sim, url = superops
    setup = await setup_loop(http, tenant_a, rt, sim, url, AUTO_POLICY, connector="superops")
    external_id = create_ticket(sim, setup, DISK)
    before = sim.admin_ticket(external_id)["status"]
    await drive(rt, setup.connection_id, rounds=4)

    [run] = await runs_of(http, tenant_a)
    assert run["playbook_id"] == "low-disk-space" and run["status"] == "succeeded", run
    assert run["requested_by_type"] == "automation"  # nobody clicked anything
    assert sorted(a["kind"] for a in await loop_actions(http, tenant_a)) == ["started", "written_back"]
    [note] = [n for n in sim.admin_notes(external_id) if "MSPclaw" in n["content"]]
    assert note["privacyType"] == "PRIVATE"
    assert "MSPclaw resolved this with playbook low-disk-space" in note["content"]
    assert "cleanup_temp" in note["content"] and "evidence:" in note["content"]
    after = sim.admin_ticket(external_id)["status"]
    assert after != before and after == "Resolved"
