"""RMM script backend fixtures: a NinjaOne simulator on loopback whose tool scripts print the
JSON the tools' outputs are made of, a NinjaOne connection whose directory is synced, a device
of a client the connection manages, and a sync worker tracking script runs in the background."""

from __future__ import annotations

import asyncio
import json
import shlex
import uuid
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest

from mspclaw.connectors.ninjaone.simulator import NinjaOneSimulator
from mspclaw.connectors.simulator import ServedApp
from mspclaw.sync import polling, scripts
from mspclaw.sync.models import Connection
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.sync.conftest import CONNECTOR_OPTIONS, add_connection, rt, run_jobs, sim_settings  # noqa: F401

T = TypeVar("T")

#: what the map says: each catalog tool of the low-disk playbook as a NinjaOne script
SCRIPT_MAP = {
    "disk_usage": {"script": "MSPclaw disk usage", "parameters": {"path": "Path", "top": "Top"}},
    "cleanup_temp": {
        "script": "MSPclaw cleanup temp",
        "parameters": {"paths": "Paths", "older_than_hours": "OlderThanHours", "dry_run": "DryRun"},
        "constants": {"Mode": "temp-only"},
    },
}


def parameters(line: str) -> dict[str, str]:
    """``-Name value`` pairs as the NinjaOne connector sends them."""
    words = shlex.split(line)
    return {words[i].lstrip("-"): words[i + 1] for i in range(0, len(words) - 1, 2)}


@dataclass
class Disk:
    """One simulated disk the programmed scripts report on and clean."""

    used: int = 930 * 1024**3
    total: int = 1000 * 1024**3
    temp: int = 40 * 1024**3
    runs: list[tuple[str, int, dict[str, str]]] = field(default_factory=list)

    def usage(self, device: int, line: str) -> tuple[str, int]:
        self.runs.append(("disk_usage", device, parameters(line)))
        percent = round(100 * self.used / self.total, 1)
        doc = {"path": "C:\\", "percent_used": percent, "top": [{"path": "C:\\Users", "bytes": self.used // 2}]}
        return "Scanning C:\\ ...\n" + json.dumps(doc), 0

    def cleanup(self, device: int, line: str) -> tuple[str, int]:
        self.runs.append(("cleanup_temp", device, parameters(line)))
        freed, self.temp = self.temp, 0
        self.used -= freed
        return json.dumps({"files_deleted": 1234, "bytes_freed": freed, "errors": []}), 0


@pytest.fixture
def ninja() -> Iterator[tuple[NinjaOneSimulator, str, Disk]]:
    sim = NinjaOneSimulator("rmm", faults="limit=0")
    disk = Disk()
    sim.program_script("MSPclaw disk usage", disk.usage)
    sim.program_script("MSPclaw cleanup temp", disk.cleanup)
    with ServedApp(sim.app()) as server:
        yield sim, server.url, disk


@pytest.fixture(autouse=True)
def fast_script_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scripts, "POLL_EVERY", scripts.POLL_EVERY / 30)


@dataclass
class Managed:
    connection: Connection
    client_id: str
    device_id: str
    ninja_device: int


async def ninja_connection(rt: SyncRuntime, tenant: TenantFixture, sim: NinjaOneSimulator, url: str) -> Connection:  # noqa: F811
    """A NinjaOne connection (user context, so scripts may run) with its directory synced."""
    connection = await add_connection(rt, tenant.id, "ninjaone", sim_settings(sim, url, "ninjaone"), name="NinjaOne")
    await polling.poll_connection(rt, connection.id, full=True, **CONNECTOR_OPTIONS)
    return connection


async def managed_device(
    http: httpx.AsyncClient,
    rt: SyncRuntime,  # noqa: F811
    tenant: TenantFixture,
    sim: NinjaOneSimulator,
    url: str,
    *,
    client_id: str | None = None,
    policy: dict[str, Any] | None = None,
) -> Managed:
    """A client whose stack names the NinjaOne connection, and one of its devices NinjaOne lists."""
    connection = await ninja_connection(rt, tenant, sim, url)
    stack = {"rmm_connection_id": str(connection.id)}
    if client_id is None:
        created = await http.post(
            "/api/v1/clients", headers=tenant.headers, json={"name": "Fabrikam", "policy": policy or {}, "stack": stack}
        )
        assert created.status_code == 201, created.text
        client_id = created.json()["id"]
    else:
        patched = await http.patch(f"/api/v1/clients/{client_id}", headers=tenant.headers, json={"stack": stack})
        assert patched.status_code == 200, patched.text
    did, record = next(iter(sim.devices.items()))
    device = await http.post(
        "/api/v1/devices",
        headers=tenant.headers,
        json={"client_id": client_id, "hostname": record["systemName"], "os": "windows"},
    )
    assert device.status_code == 201, device.text
    return Managed(connection, client_id, device.json()["id"], did)


async def with_sync_worker(rt: SyncRuntime, work: Awaitable[T]) -> T:  # noqa: F811
    """Await ``work`` while the sync queue (script-run tracking) is worked in the background."""
    task: asyncio.Task[T] = asyncio.ensure_future(work)
    while not task.done():
        await run_jobs(rt, queues=["sync"])
        await asyncio.wait({task}, timeout=0.05)
    return task.result()


def new_key() -> str:
    return f"test:{uuid.uuid4()}"
