"""Connector-level sync figures against the simulators, with the vendor's rate limit applied.

Run: .venv/bin/python bench/sync.py [--tickets 10000] [--connector superops|connectwise|all]
Prints, per connector: full-sync throughput (tickets/s), the theoretical maximum the
connection's rate budget allows and the ratio of the two (target ≥ 0.9), and incremental
lag (seconds from a burst of edits in the vendor to the end of the poll that returns them,
excluding the poll interval). Webhook ingestion figures come from the sync engine's
``/hooks`` route, which this script does not cover.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from mspclaw.connectors.base import Connector, TicketsCapability, iter_ticket_pages
from mspclaw.connectors.connectwise.adapter import ConnectWiseConnector
from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.models import SyncCursor
from mspclaw.connectors.simulator import ServedApp, Simulator
from mspclaw.connectors.superops.adapter import SuperOpsConnector
from mspclaw.connectors.superops.simulator import SuperOpsSimulator

EDITS = 200


def superops(tickets: int) -> tuple[Simulator, Callable[[Simulator, str], Connector]]:
    # The simulator enforces SuperOps' 800 requests/minute, the client follows the spec.
    sim = SuperOpsSimulator("bench", tickets=tickets)

    def connect(s: Simulator, url: str) -> Connector:
        assert isinstance(s, SuperOpsSimulator)
        return SuperOpsConnector(
            {"api_url": f"{url}/msp", "subdomain": s.subdomain, "api_token": s.api_token},
            connection_id="bench-superops",
        )

    return sim, connect


def connectwise(tickets: int) -> tuple[Simulator, Callable[[Simulator, str], Connector]]:
    # ConnectWise publishes no limit: the simulator enforces the connector's default budget.
    sim = ConnectWiseSimulator("bench", tickets=tickets, faults="limit=600")

    def connect(s: Simulator, url: str) -> Connector:
        assert isinstance(s, ConnectWiseSimulator)
        return ConnectWiseConnector(
            {
                "site_url": url,
                "company_id": s.company_id,
                "public_key": s.public_key,
                "private_key": s.private_key,
                "client_id": s.client_id,
            },
            connection_id="bench-connectwise",
        )

    return sim, connect


async def measure(name: str, sim: Simulator, connect: Callable[[Simulator, str], Connector]) -> dict[str, Any]:
    with ServedApp(sim.app()) as app:
        conn = connect(sim, app.url)
        assert isinstance(conn, TicketsCapability)
        limit = conn.spec().rate_limit
        rate = limit.per_second if limit else 10.0
        burst = limit.burst if limit and limit.burst else int(rate)
        started = time.perf_counter()
        count = 0
        cursor = SyncCursor()
        async for page in iter_ticket_pages(conn, None):
            count += len(page.items)
            cursor = cursor.advanced(page)
        elapsed = time.perf_counter() - started
        requests = conn.http.metrics.requests
        # The budget lets `burst` requests through at once, then `rate` per second.
        budget_seconds = max(requests - burst, 0) / rate
        theoretical = count / budget_seconds if budget_seconds else float("inf")
        async with httpx.AsyncClient(base_url=app.url) as admin:
            ids = list(sim.tickets)[:EDITS]
            for ticket_id in ids:
                await admin.patch(f"/_sim/tickets/{ticket_id}", json={"subject": "edited"})
        lag_started = time.perf_counter()
        changed = 0
        async for page in iter_ticket_pages(conn, cursor.window_start(0)):
            changed += len(page.items)
        lag = time.perf_counter() - lag_started
        await conn.aclose()
    return {
        "connector": name,
        "tickets": count,
        "requests": requests,
        "seconds": round(elapsed, 2),
        "tickets_per_second": round(count / elapsed, 1),
        "theoretical_tickets_per_second": round(theoretical, 1),
        "ratio": round((count / elapsed) / theoretical, 3) if theoretical else None,
        "incremental_edits_found": changed,
        "incremental_lag_seconds": round(lag, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--connector", choices=["superops", "connectwise", "all"], default="all")
    args = parser.parse_args()
    chosen = {"superops": superops, "connectwise": connectwise}
    if args.connector != "all":
        chosen = {args.connector: chosen[args.connector]}
    for name, factory in chosen.items():
        sim, connect = factory(args.tickets)
        result = asyncio.run(measure(name, sim, connect))
        print(" ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
