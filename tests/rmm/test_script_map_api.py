"""``/api/v1/connections/{id}/script-map``: which NinjaOne script carries out which catalog tool,
validated against the catalog (typed 422 Problems a person can act on); and the executor of a
running app has the rmm_script backend."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.ninjaone.simulator import NinjaOneSimulator
from mspclaw.runs import runtime as runs_runtime
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.loop.conftest import psa  # noqa: F401 - fixture
from tests.rmm.conftest import SCRIPT_MAP, Disk, ninja_connection
from tests.sync.conftest import add_connection, sim_settings


async def test_script_map_round_trip_and_typed_problems(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    ninja: tuple[NinjaOneSimulator, str, Disk],
) -> None:
    sim, url, _disk = ninja
    connection = await ninja_connection(rt, tenant_a, sim, url)
    path = f"/api/v1/connections/{connection.id}/script-map"
    h = tenant_a.headers

    empty = await http.get(path, headers=h)
    assert empty.status_code == 200 and empty.json()["tools"] == {} and empty.json()["updated_at"] is None

    saved = await http.put(path, headers=h, json={"tools": SCRIPT_MAP})
    assert saved.status_code == 200, saved.text
    tools = (await http.get(path, headers=h)).json()["tools"]
    assert tools["disk_usage"] == {**SCRIPT_MAP["disk_usage"], "constants": {}, "output": "json"}
    assert tools["cleanup_temp"]["constants"] == {"Mode": "temp-only"}

    def bad(tool: str, entry: dict[str, Any]) -> dict[str, Any]:
        return {"tools": {**SCRIPT_MAP, tool: entry}}

    cases = [
        (bad("defrag_everything", {"script": "x"}), "defrag_everything: not in the tool catalog"),
        (bad("install_package", {"script": "Install"}), "required argument package is not mapped"),
        (bad("unlock_account", {"script": "Unlock", "parameters": {"user": "User"}}), "cannot run as an RMM script"),
        (bad("disk_usage", {"script": "Du", "parameters": {"drive": "Drive"}}), "drive is not an argument"),
        (
            bad("disk_usage", {"script": "Du", "parameters": {"top": "Top"}, "constants": {"Top": "3"}}),
            "script parameter Top is given twice",
        ),
    ]
    for body, message in cases:
        refused = await http.put(path, headers=h, json=body)
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["error"] == "invalid_script_map" and message in problem["message"], problem
        assert problem["detail"]["problems"], problem
    shape = await http.put(path, headers=h, json={"tools": {"disk_usage": {"script": "Du", "args": {}}}})
    assert shape.status_code == 422 and set(shape.json()) >= {"error", "message", "detail"}, shape.text
    assert (await http.get(path, headers=h)).json()["tools"] == tools  # nothing half-written

    missing = await http.put(f"/api/v1/connections/{uuid.uuid4()}/script-map", headers=h, json={"tools": {}})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found", missing.text

    events = (await http.get("/api/v1/audit/events?limit=50", headers=h)).json()["items"]
    assert [e["action"] for e in events].count("connection.script_map") == 1


async def test_a_psa_connection_cannot_hold_a_script_map(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],  # noqa: F811
) -> None:
    sim, url = psa
    connection = await add_connection(rt, tenant_a.id, "connectwise", sim_settings(sim, url, "connectwise"))
    refused = await http.put(
        f"/api/v1/connections/{connection.id}/script-map", headers=tenant_a.headers, json={"tools": SCRIPT_MAP}
    )
    assert refused.status_code == 422 and "cannot run scripts" in refused.json()["message"], refused.text


async def test_running_app_executor_has_the_rmm_script_backend(http: httpx.AsyncClient) -> None:
    assert {"rmm_script", "identity", "endpoint"} <= runs_runtime.current().router.kinds()
