"""10,000 tickets, updates streaming in, 429 bursts, 500s, timeouts and malformed pages, and a
worker restart mid-walk: a connector-level sync loop (in-memory store standing in for the
sync engine's tables) must end up exactly equal to the simulator. Slow: 20-60 s each on a
busy machine (the fault round costs ~15 s of honoured Retry-After, backoff and timeouts).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from mspclaw.connectors.base import Connector, TicketsCapability
from mspclaw.connectors.connectwise.adapter import ConnectWiseConnector
from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.http import RetryPolicy
from mspclaw.connectors.models import SyncCursor, Ticket, parse_vendor_time
from mspclaw.connectors.simulator import FaultPlan, ServedApp, Simulator
from mspclaw.connectors.superops.adapter import SuperOpsConnector
from mspclaw.connectors.superops.simulator import STATUSES, SuperOpsSimulator

pytestmark = pytest.mark.slow
OVERLAP_SECONDS = 120.0


class WorkerCrashed(Exception):
    """Stands in for a worker killed mid-sync."""


class Store:
    """Upserts that dedupe by (external id, updated-at), like the normalised tables."""

    def __init__(self) -> None:
        self.tickets: dict[str, Ticket] = {}

    def upsert(self, ticket: Ticket) -> None:
        known = self.tickets.get(ticket.external_id)
        if known is None or ticket.updated_at >= known.updated_at:
            self.tickets[ticket.external_id] = ticket


async def walk(conn: TicketsCapability, cursor: SyncCursor, store: Store, crash_after: int | None = None) -> SyncCursor:
    """One polling run: every page from the cursor's window; the cursor moves only at the end."""
    started = datetime.now(UTC)
    since = cursor.window_start(OVERLAP_SECONDS)
    token: str | None = None
    watermark: datetime | None = None
    pages = 0
    while True:
        page = await conn.list_tickets(since, token)
        for ticket in page.items:
            store.upsert(ticket)
        if page.watermark and (watermark is None or page.watermark > watermark):
            watermark = page.watermark
        pages += 1
        if crash_after is not None and pages >= crash_after:
            raise WorkerCrashed
        if page.next_cursor is None:
            return cursor.after_walk(watermark, started)
        token = page.next_cursor


async def stream_changes(admin: httpx.AsyncClient, ids: list[str], statuses: list[str], stop: asyncio.Event) -> int:
    """A technician editing and creating tickets while the sync runs."""
    rng = random.Random(7)
    changes = 0
    while not stop.is_set():
        if rng.random() < 0.2:
            await admin.post("/_sim/tickets", json={"subject": f"new during sync {changes}"})
        else:
            await admin.patch(
                f"/_sim/tickets/{rng.choice(ids)}",
                json={"subject": f"edited {changes}", "status": rng.choice(statuses)},
            )
        changes += 1
        await asyncio.sleep(0.01)
    return changes


def superops_truth(sim: Simulator) -> dict[str, datetime]:
    assert isinstance(sim, SuperOpsSimulator)
    return {k: parse_vendor_time(v["updatedTime"]) for k, v in sim.tickets.items()}  # type: ignore[misc]


def connectwise_truth(sim: Simulator) -> dict[str, datetime]:
    assert isinstance(sim, ConnectWiseSimulator)
    return {
        str(k): parse_vendor_time(v["_info"]["lastUpdated"])  # type: ignore[misc]
        for k, v in sim.tickets.items()
    }


CASES: list[
    tuple[
        str,
        Callable[[], Simulator],
        Callable[[Any, str], Connector],
        Callable[[Simulator], dict[str, datetime]],
        list[str],
    ]
] = [
    (
        "superops",
        lambda: SuperOpsSimulator("demo", tickets=10_000),
        lambda s, u: SuperOpsConnector(
            {"api_url": f"{u}/msp", "subdomain": s.subdomain, "api_token": s.api_token},
            retry=RetryPolicy(base_delay=0.1, max_delay=2),
            timeout=2.0,
            connection_id="fi-superops",
        ),
        superops_truth,
        list(STATUSES[:7]),
    ),
    (
        "connectwise",
        lambda: ConnectWiseSimulator("demo", tickets=10_000),
        lambda s, u: ConnectWiseConnector(
            {
                "site_url": u,
                "company_id": s.company_id,
                "public_key": s.public_key,
                "private_key": s.private_key,
                "client_id": s.client_id,
            },
            retry=RetryPolicy(base_delay=0.1, max_delay=2),
            timeout=2.0,
            connection_id="fi-connectwise",
        ),
        connectwise_truth,
        ["New", "In Progress", "Waiting Customer Response", "Completed"],
    ),
]


@pytest.mark.parametrize("name,make_sim,make_conn,truth,statuses", CASES, ids=[c[0] for c in CASES])
async def test_ten_thousand_tickets_through_faults_and_a_restart(
    name: str,
    make_sim: Callable[[], Simulator],
    make_conn: Callable[[Any, str], Connector],
    truth: Callable[[Simulator], dict[str, datetime]],
    statuses: list[str],
) -> None:
    sim = make_sim()
    faults = FaultPlan(rate_limit=6, server_error=4, timeout=2, timeout_seconds=2.5, malformed=2, slow=3, slow_ms=200)
    with ServedApp(sim.app()) as app:
        admin = httpx.AsyncClient(base_url=app.url, timeout=10)
        await admin.post("/_sim/faults", json=faults.model_dump(exclude={"rate_limit_per_minute"}))
        stop = asyncio.Event()
        streamer = asyncio.create_task(stream_changes(admin, list(truth(sim)), statuses, stop))
        store = Store()
        cursor = SyncCursor()
        first = make_conn(sim, app.url)
        with pytest.raises(WorkerCrashed):
            await walk(first, cursor, store, crash_after=15)  # type: ignore[arg-type]
        await first.aclose()
        worker = make_conn(sim, app.url)  # the restarted worker: nothing was committed
        cursor = await walk(worker, cursor, store)  # type: ignore[arg-type]
        await admin.post("/_sim/faults", json=faults.model_dump(exclude={"rate_limit_per_minute"}))
        for _ in range(3):
            cursor = await walk(worker, cursor, store)  # type: ignore[arg-type]
        stop.set()
        changes = await streamer
        for _ in range(2):  # the streaming stopped: two quiet polls settle everything
            cursor = await walk(worker, cursor, store)  # type: ignore[arg-type]
        injected = sim.faults.injected
        await worker.aclose()
        await admin.aclose()
    expected = truth(sim)
    assert changes > 50 and len(expected) > 10_000
    assert set(store.tickets) == set(expected), "zero missed, zero extra tickets"
    stale = [k for k, t in store.tickets.items() if t.updated_at != expected[k]]
    assert stale == [], f"{len(stale)} tickets behind the simulator"
    assert injected.get("rate_limit", 0) >= 6 and injected.get("server_error", 0) >= 4
    assert injected.get("timeout", 0) >= 2 and injected.get("malformed", 0) >= 2
