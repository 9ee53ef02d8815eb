"""Shared steps of the loop tests: set up a client, a device and a PSA connection linked to it,
create a ticket in the simulator, drive polling and jobs, and read what the loop did."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request

from mspclaw.connectors.simulator import Simulator, TicketChange
from mspclaw.sync import polling
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.sync.conftest import CONNECTOR_OPTIONS, add_connection, run_jobs, sim_settings

AUTO_POLICY = {"auto_run": True, "unattended_risks": ["read", "change"], "require_verification": True}
#: auto-run allowed, but only read steps run unattended: every change waits for a technician
APPROVAL_POLICY = {"auto_run": True, "unattended_risks": ["read"]}
PRINTER = "Printer offline on 2nd floor, print queue stuck"
DISK = "Low disk space: my laptop disk is full, out of space"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class Receiver:
    """What a chat/SMS/e-mail service would have received (apprise ``json://`` posts here)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)

    @property
    def hostport(self) -> str:
        return self.url.removeprefix("http://")

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/{path:path}")
        async def inbox(path: str, request: Request) -> dict[str, str]:
            self.received.append(Received(path, dict(request.headers), await request.json()))
            return {}

        return app

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


@dataclass
class LoopSetup:
    connection_id: str
    client_id: str
    company: str


async def setup_loop(
    http: httpx.AsyncClient,
    tenant: TenantFixture,
    rt: SyncRuntime,
    sim: Simulator,
    url: str,
    policy: dict[str, Any],
    *,
    connector: str = "connectwise",
) -> LoopSetup:
    """A client with this policy and a device (this host), a PSA connection, the vendor company linked."""
    h = tenant.headers
    client = (await http.post("/api/v1/clients", headers=h, json={"name": "Contoso", "policy": policy})).json()
    await http.post(
        "/api/v1/devices", headers=h, json={"client_id": client["id"], "hostname": "PC-0001", "os": "linux"}
    )
    connection = await add_connection(rt, tenant.id, connector, sim_settings(sim, url, connector))
    companies = getattr(sim, "companies", None) or getattr(sim, "clients", None)
    company = str(next(iter(companies))) if companies else str(sim.summary()["companies"][0]["id"])
    linked = await http.post(
        f"/api/v1/connections/{connection.id}/client-links",
        headers=h,
        json={"vendor_external_id": company, "client_id": client["id"]},
    )
    assert linked.status_code in (200, 201), linked.text
    return LoopSetup(str(connection.id), client["id"], company)


def create_ticket(sim: Simulator, setup: LoopSetup, subject: str, **change: Any) -> str:
    """A ticket typed into the PSA by a technician; returns its vendor id."""
    created = sim.admin_create_ticket(TicketChange(subject=subject, company=setup.company, **change))  # type: ignore[attr-defined]
    return str(created.get("id") or created.get("ticketId") or created["externalId"])


async def drive(rt: SyncRuntime, connection_id: str, rounds: int = 6) -> None:
    """Poll the PSA and run every queued job, a few times over (each round moves the loop on)."""
    for _ in range(rounds):
        await polling.poll_connection(rt, uuid.UUID(connection_id), **CONNECTOR_OPTIONS)
        await run_jobs(rt)


async def loop_actions(http: httpx.AsyncClient, tenant: TenantFixture) -> list[dict[str, Any]]:
    return list((await http.get("/api/v1/loop/actions", headers=tenant.headers)).json())


async def runs_of(http: httpx.AsyncClient, tenant: TenantFixture) -> list[dict[str, Any]]:
    runs = (await http.get("/api/v1/runs", headers=tenant.headers)).json()
    return list(runs["items"] if isinstance(runs, dict) else runs)
