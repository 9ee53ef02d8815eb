"""Fault injection per connector: the store matches the simulator exactly afterwards —
zero missed, zero duplicated — despite 429 bursts, 500s, timeouts, malformed pages,
duplicate webhook deliveries and an ``mspclaw worker`` process SIGKILLed mid-sync (its job
recovered and resumed by another worker). The 10,000-ticket variants are
``slow``; the reduced ones run by default."""

from __future__ import annotations

import json
import random
from typing import Any

import httpx
import pytest

from mspclaw.connectors.connectwise.simulator import STATUSES as CW_STATUSES
from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.ninjaone.simulator import NinjaOneSimulator
from mspclaw.connectors.simulator import FaultPlan, Simulator
from mspclaw.connectors.superops.simulator import STATUSES as SO_STATUSES
from mspclaw.connectors.superops.simulator import SuperOpsSimulator
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.sync.faults import Outcome, Snapshot, Vendor, run_scenario, vendor_time


def so_snapshot(sim: Simulator) -> Snapshot:
    assert isinstance(sim, SuperOpsSimulator)
    return {tid: (t["subject"], t["status"], vendor_time(t["updatedTime"])) for tid, t in list(sim.tickets.items())}


def cw_snapshot(sim: Simulator) -> Snapshot:
    assert isinstance(sim, ConnectWiseSimulator)
    return {
        str(tid): (t["summary"], t["status"]["name"], vendor_time(t["_info"]["lastUpdated"]))
        for tid, t in list(sim.tickets.items())
    }


def ninja_snapshot(sim: Simulator) -> Snapshot:
    assert isinstance(sim, NinjaOneSimulator)
    return {uid: (a["message"],) for uid, a in list(sim.alerts.items()) if not a["_reset"]}


def ticket_mutator(statuses: tuple[str, ...]) -> Any:
    async def mutate(admin: httpx.AsyncClient, sim: Simulator, rng: random.Random) -> None:
        ids = list(getattr(sim, "tickets"))
        if rng.random() < 0.15:
            response = await admin.post("/_sim/tickets", json={"subject": f"New issue {rng.randrange(10**6)}"})
        else:
            tid = str(rng.choice(ids))
            change: dict[str, Any] = {"status": rng.choice(statuses)}
            if rng.random() < 0.5:
                change["subject"] = f"Edited {rng.randrange(10**6)}"
            response = await admin.patch(f"/_sim/tickets/{tid}", json=change)
        assert response.status_code < 300, response.text

    return mutate


async def ninja_mutate(admin: httpx.AsyncClient, sim: Simulator, rng: random.Random) -> None:
    """Alerts raised and reset on devices, each announced by a (sometimes duplicated) webhook."""
    assert isinstance(sim, NinjaOneSimulator)
    device = rng.choice(list(sim.devices))
    open_alerts = [uid for uid, a in list(sim.alerts.items()) if not a["_reset"]]
    if open_alerts and rng.random() < 0.3:
        sim.alerts[rng.choice(open_alerts)]["_reset"] = True
    else:
        uid = f"{rng.getrandbits(128):032x}"
        now = sim.clock.now().timestamp()
        record = {
            "uid": uid,
            "deviceId": device,
            "message": f"Condition {rng.randrange(10**6)} triggered",
            "subject": "Condition triggered",
            "createTime": round(now, 3),
            "updateTime": round(now, 3),
            "sourceType": "CONDITION",
            "sourceConfigUid": f"{rng.getrandbits(64):016x}",
            "severity": "MAJOR",
            "priority": "HIGH",
            "psaTicketId": None,
            "_reset": False,
        }
        sim.alerts = {**sim.alerts, uid: record}  # one atomic swap: the server thread may be iterating
    headers, body = sim.webhook_sample(str(device), "triggered")
    copies = 2 if sim.faults.take("duplicate_webhooks") else 1
    url = sim.webhook["url"] if sim.webhook else None
    assert url, "the connector registered a webhook"
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(copies):
            response = await client.post(url, content=body, headers=headers)
            sim.deliveries.append({"url": url, "status": response.status_code})


def ninja_make(n: int) -> Simulator:
    sim = NinjaOneSimulator("faults", tickets=0)
    rng = random.Random(n)
    devices = list(sim.devices)
    alerts = dict(sim.alerts)
    for i in range(n):
        uid = f"{rng.getrandbits(128):032x}"
        created = 1_767_000_000 + i
        alerts[uid] = {
            "uid": uid,
            "deviceId": devices[i % len(devices)],
            "message": f"Seeded condition {i}",
            "subject": "Seeded condition",
            "createTime": created,
            "updateTime": created,
            "sourceType": "CONDITION",
            "sourceConfigUid": f"{i:016x}",
            "severity": "MINOR",
            "priority": "LOW",
            "psaTicketId": None,
            "_reset": False,
        }
    sim.alerts = alerts
    return sim


VENDORS = {
    "superops": Vendor(
        "superops", lambda n: SuperOpsSimulator("faults", tickets=n), so_snapshot, ticket_mutator(SO_STATUSES)
    ),
    "connectwise": Vendor(
        "connectwise", lambda n: ConnectWiseSimulator("faults", tickets=n), cw_snapshot, ticket_mutator(CW_STATUSES)
    ),
    "ninjaone": Vendor("ninjaone", ninja_make, ninja_snapshot, ninja_mutate, stream="alerts"),
}

#: One burst of faults, re-armed several times while updates stream in.
FAULTS = dict(
    rate_limit=4,
    server_error=2,
    timeout=1,
    timeout_seconds=3.5,
    malformed=1,
    duplicate_webhooks=3,
    rate_limit_per_minute=0,
)


def check(outcome: Outcome, vendor: str) -> None:
    missing = set(outcome.expected) - set(outcome.stored)
    extra = set(outcome.stored) - set(outcome.expected)
    stale = {k for k in set(outcome.expected) & set(outcome.stored) if outcome.expected[k] != outcome.stored[k]}
    assert not missing, f"{vendor}: {len(missing)} missed"
    assert not extra, f"{vendor}: {len(extra)} that the vendor does not have"
    assert not stale, f"{vendor}: {len(stale)} out of date, e.g. {next(iter(stale))}"
    if vendor != "ninjaone":
        assert outcome.rows == len(outcome.expected), "duplicated rows"
    assert outcome.faults.get("rate_limit", 0) > 0 and outcome.faults.get("server_error", 0) > 0
    assert outcome.restarts == 1, "the worker was not killed mid-sync"


async def _scenario(
    rt: SyncRuntime,
    tenant: TenantFixture,
    vendor: str,
    tickets: int,
    mutations: int,
    bursts: int,
    client_timeout: float,
) -> None:
    outcome = await run_scenario(
        rt,
        tenant.id,
        VENDORS[vendor],
        tickets=tickets,
        mutations=mutations,
        faults=FaultPlan(**FAULTS),
        bursts=bursts,
        client_timeout=client_timeout,
    )
    check(outcome, vendor)
    if vendor in ("connectwise", "ninjaone"):
        assert outcome.duplicates_answered > 0, "duplicate deliveries were answered as duplicates"
        assert outcome.deliveries > 0
    print(
        json.dumps({"vendor": vendor, "tickets": tickets, "faults": outcome.faults, "deliveries": outcome.deliveries})
    )


@pytest.mark.parametrize("vendor", ["superops", "connectwise", "ninjaone"])
async def test_store_matches_simulator_after_faults(rt: SyncRuntime, tenant_a: TenantFixture, vendor: str) -> None:
    await _scenario(rt, tenant_a, vendor, tickets=1000, mutations=60, bursts=2, client_timeout=0.75)


@pytest.mark.slow
@pytest.mark.parametrize("vendor", ["superops", "connectwise", "ninjaone"])
async def test_store_matches_simulator_after_faults_10k(rt: SyncRuntime, tenant_a: TenantFixture, vendor: str) -> None:
    await _scenario(rt, tenant_a, vendor, tickets=10_000, mutations=600, bursts=6, client_timeout=3.0)
