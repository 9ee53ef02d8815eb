"""The closed loop end to end: a ticket created in a PSA simulator is synced, triaged, matched to
a playbook, run for real on this machine, and the note and status land back in the simulator —
with no human step when the client policy allows auto-run, and an approval round-trip when not."""

from __future__ import annotations

import httpx

from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.loop.helpers import AUTO_POLICY, PRINTER, create_ticket, drive, loop_actions, runs_of, setup_loop


async def test_auto_run_without_a_human_writes_the_note_back(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
) -> None:
    sim, url = psa
    setup = await setup_loop(http, tenant_a, rt, sim, url, AUTO_POLICY)
    external_id = create_ticket(sim, setup, PRINTER)
    await drive(rt, setup.connection_id)
    actions = await loop_actions(http, tenant_a)
    kinds = {a["kind"] for a in actions}
    assert "started" in kinds, actions
    assert kinds & {"written_back", "escalated"}, actions
    notes = sim.admin_notes(external_id)
    assert any("MSPclaw" in str(n) for n in notes), notes
    run = (await runs_of(http, tenant_a))[0]
    assert run["playbook_id"].startswith("printer")


async def test_without_auto_run_the_playbook_is_suggested_not_run(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
) -> None:
    sim, url = psa
    setup = await setup_loop(http, tenant_a, rt, sim, url, {"auto_run": False})
    create_ticket(sim, setup, PRINTER)
    await drive(rt, setup.connection_id, rounds=3)
    actions = await loop_actions(http, tenant_a)
    assert [a["kind"] for a in actions if a["playbook_id"]] == ["suggested"]
    assert "client policy does not allow auto-run" in actions[0]["reason"]
    assert await runs_of(http, tenant_a) == []
