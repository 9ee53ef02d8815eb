"""The rmm_script backend against the NinjaOne simulator over real HTTP: a catalog tool becomes a
NinjaOne script run (parameters from the typed args), tracked by command mode to the vendor's
result, its printed JSON parsed into the tool's output; a retried step never starts it twice."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from mspclaw.connectors.ninjaone.simulator import NinjaOneSimulator
from mspclaw.database.session import tenant_session
from mspclaw.rmm import service
from mspclaw.rmm.backend import RmmScriptBackend
from mspclaw.rmm.models import RmmToolCall, ScriptMapPut
from mspclaw.runs.journal import UNKNOWN_OUTCOME
from mspclaw.sync.models import ScriptRun
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.tools import BackendRouter, ToolContext
from mspclaw.tools.backends import BackendUnsupported
from mspclaw.tools.catalog import get_tool
from tests.conftest import TenantFixture
from tests.rmm.conftest import SCRIPT_MAP, Disk, Managed, managed_device, new_key, with_sync_worker
from tests.sync.conftest import CONNECTOR_OPTIONS


def backend(rt: SyncRuntime) -> RmmScriptBackend:
    return RmmScriptBackend(rt.db.sessions, rt.keyring, poll_every=0.05, connector_options=CONNECTOR_OPTIONS)


async def set_map(rt: SyncRuntime, managed: Managed, tools: dict[str, object]) -> None:
    async with tenant_session(rt.db.sessions, managed.connection.tenant_id) as session, session.begin():
        await service.put_map(
            session, connection=managed.connection, data=ScriptMapPut.model_validate({"tools": tools})
        )


def context(tenant: TenantFixture, managed: Managed, key: str | None = None) -> ToolContext:
    return ToolContext(tenant_id=tenant.id, device_id=managed.device_id, device_os="windows", idempotency_key=key)


async def script_runs(rt: SyncRuntime, tenant: TenantFixture) -> int:
    async with tenant_session(rt.db.sessions, tenant.id) as session:
        return int(await session.scalar(select(func.count()).select_from(ScriptRun)) or 0)


async def test_tool_runs_as_ninjaone_script_and_retry_does_not_start_it_twice(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    ninja: tuple[NinjaOneSimulator, str, Disk],
) -> None:
    sim, url, disk = ninja
    managed = await managed_device(http, rt, tenant_a, sim, url)
    await set_map(rt, managed, SCRIPT_MAP)
    router = BackendRouter(backend(rt))
    key = new_key()
    cleanup = get_tool("cleanup_temp")
    args = {"older_than_hours": 24, "paths": ["C:\\Windows\\Temp"]}

    first = await with_sync_worker(rt, router.execute(cleanup, args, context(tenant_a, managed, key), "rmm_script"))
    assert first.ok, first.error
    assert first.output == {"files_deleted": 1234, "bytes_freed": 40 * 1024**3, "errors": []}
    assert disk.runs == [
        (
            "cleanup_temp",
            managed.ninja_device,
            {"Mode": "temp-only", "Paths": '["C:\\\\Windows\\\\Temp"]', "OlderThanHours": "24", "DryRun": "false"},
        )
    ]

    again = await with_sync_worker(rt, router.execute(cleanup, args, context(tenant_a, managed, key), "rmm_script"))
    assert again.ok and again.output == first.output
    assert len(disk.runs) == 1 and await script_runs(rt, tenant_a) == 1  # the retry rejoined the first run

    usage = await with_sync_worker(
        rt, router.execute(get_tool("disk_usage"), {"top": 5}, context(tenant_a, managed, new_key()), "rmm_script")
    )
    assert usage.ok, usage.error
    assert usage.output["percent_used"] == 89.0 and usage.output["path"] == "C:\\"  # JSON after a progress line
    assert disk.runs[-1][2] == {"Top": "5"}  # path (None) is not passed


async def test_a_refused_start_may_be_retried_but_an_unrecorded_one_is_not_started_again(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    ninja: tuple[NinjaOneSimulator, str, Disk],
) -> None:
    sim, url, disk = ninja
    managed = await managed_device(http, rt, tenant_a, sim, url)
    await set_map(rt, managed, {**SCRIPT_MAP, "cleanup_temp": {**SCRIPT_MAP["cleanup_temp"], "script": "Gone"}})
    key = new_key()
    cleanup = get_tool("cleanup_temp")
    refused = await backend(rt).execute(cleanup, {}, context(tenant_a, managed, key))
    assert not refused.ok and "'Gone' is not available on NinjaOne device" in str(refused.error)
    await set_map(rt, managed, SCRIPT_MAP)  # the technician fixes the map; the retry runs it once
    retried = await with_sync_worker(rt, backend(rt).execute(cleanup, {}, context(tenant_a, managed, key)))
    assert retried.ok and len(disk.runs) == 1, retried.error

    # a process that recorded the call but died before the vendor answered: the change may have run
    crashed = new_key()
    async with tenant_session(rt.db.sessions, tenant_a.id) as session, session.begin():
        session.add(
            RmmToolCall(
                idempotency_key=crashed,
                tool="cleanup_temp",
                connection_id=managed.connection.id,
                device_external_id=str(managed.ninja_device),
            )
        )
    again = await backend(rt).execute(cleanup, {}, context(tenant_a, managed, crashed))
    assert not again.ok and again.error == UNKNOWN_OUTCOME
    assert len(disk.runs) == 1 and await script_runs(rt, tenant_a) == 1


async def test_unmapped_tool_names_connection_and_tool(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    ninja: tuple[NinjaOneSimulator, str, Disk],
) -> None:
    sim, url, _disk = ninja
    managed = await managed_device(http, rt, tenant_a, sim, url)
    await set_map(rt, managed, {"disk_usage": SCRIPT_MAP["disk_usage"]})
    with pytest.raises(BackendUnsupported) as raised:
        await backend(rt).execute(get_tool("flush_dns"), {}, context(tenant_a, managed, new_key()))
    assert "'NinjaOne' has no script mapped for flush_dns" in raised.value.message
    assert raised.value.detail == {"connection": str(managed.connection.id), "tool": "flush_dns"}
    assert await script_runs(rt, tenant_a) == 0


async def test_failed_script_and_missing_json_are_failed_outcomes(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    ninja: tuple[NinjaOneSimulator, str, Disk],
) -> None:
    sim, url, _disk = ninja
    sim.program_script("Prints text", lambda device, line: ("all good, no JSON here", 0))
    sim.program_script("Access denied", lambda device, line: ("Access to C:\\Windows\\Temp is denied", 5))
    managed = await managed_device(http, rt, tenant_a, sim, url)
    await set_map(
        rt,
        managed,
        {
            "disk_usage": {"script": "Prints text"},
            "cleanup_temp": {"script": "Access denied"},
            "flush_dns": {"script": "Prints text", "output": "text"},
        },
    )
    b = backend(rt)
    usage = await with_sync_worker(rt, b.execute(get_tool("disk_usage"), {}, context(tenant_a, managed, new_key())))
    assert not usage.ok and "printed no JSON object" in str(usage.error)
    cleanup = await with_sync_worker(rt, b.execute(get_tool("cleanup_temp"), {}, context(tenant_a, managed, new_key())))
    assert not cleanup.ok and "failed (exit code 5): Access to C:\\Windows\\Temp is denied" in str(cleanup.error)
    text = await with_sync_worker(rt, b.execute(get_tool("flush_dns"), {}, context(tenant_a, managed)))
    assert text.ok and text.output == {"text": "all good, no JSON here", "exit_code": 0}


async def test_device_no_rmm_lists_is_unsupported(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    ninja: tuple[NinjaOneSimulator, str, Disk],
) -> None:
    sim, url, _disk = ninja
    managed = await managed_device(http, rt, tenant_a, sim, url)
    await set_map(rt, managed, SCRIPT_MAP)
    other = await http.post(
        "/api/v1/devices", headers=tenant_a.headers, json={"client_id": managed.client_id, "hostname": "NOT-IN-NINJA"}
    )
    ctx = ToolContext(tenant_id=tenant_a.id, device_id=other.json()["id"], idempotency_key=new_key())
    with pytest.raises(BackendUnsupported) as raised:
        await backend(rt).execute(get_tool("disk_usage"), {}, ctx)
    assert "no RMM lists device NOT-IN-NINJA" in raised.value.message
