"""Sync-engine figures: full sync into PostgreSQL under the vendor's real rate limit,
incremental lag, and webhook ingestion against a real uvicorn process. Prints, asserts nothing.

Run: .venv/bin/python bench/sync_engine.py [--tickets 10000] [--rate 500] [--seconds 10]
(bench/sync.py measures the connectors alone; this one adds the database, cursors,
upserts, events and the /hooks route.)

* Full sync: SuperOps simulator enforcing 800 requests/minute; the theoretical minimum time
  is what the connection's token bucket allows for the requests the run made
  ((requests - burst) / rate), so the ratio says how much the engine adds on top.
* Incremental lag: a burst of edits at the vendor, then one poll; the lag is the poll's
  duration (add half the poll interval for the average wait before a poll starts).
* Webhooks: bench/webhooks.py (one uvicorn process, an open-loop load generator in its own
  process, NinjaOne-style deliveries at a fixed rate); its options apply here too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httpx
import webhooks  # bench/webhooks.py, beside this script

from mspclaw import logging as mlogging
from mspclaw.bootstrap import create_tenant_with_owner
from mspclaw.connectors.simulator import FaultPlan, ServedApp, Simulator
from mspclaw.connectors.superops.simulator import SuperOpsSimulator
from mspclaw.database.core import Database
from mspclaw.database.session import create_engine, make_sessionmaker, tenant_session
from mspclaw.sync import polling, runtime, service
from mspclaw.sync.models import ConnectionCreate
from mspclaw.tenancy.service import get_tenant_by_slug_or_id
from mspclaw.vault.keys import KeyringProvider


def settings_for(sim: Simulator, url: str, connector: str) -> dict[str, Any]:
    from mspclaw.connectors.registry import get_connector

    props = get_connector(connector).spec().config_schema["properties"]
    creds = sim.summary()["credentials"]
    return {k: str(v).replace("<base>", url) for k, v in creds.items() if k in props and v is not None}


async def full_and_incremental(db: Database, keys: KeyringProvider, tenant_id: Any, tickets: int) -> dict[str, Any]:
    sim = SuperOpsSimulator("bench", tickets=tickets)  # enforces 800 requests/minute
    rt = runtime.install(db, keys)
    with ServedApp(sim.app()) as server:
        async with tenant_session(db.sessions, tenant_id) as session, session.begin():
            connection = await service.create(
                session,
                keys.current(),
                data=ConnectionCreate(
                    connector="superops", name="bench", config=settings_for(sim, server.url, "superops")
                ),
            )
        spec = polling.service.get_connector("superops").spec()
        assert spec.rate_limit is not None
        rate, burst = spec.rate_limit.per_second, spec.rate_limit.burst or 1
        # A fresh bucket: let the probe's requests age out of the vendor's rolling minute too.
        sim.faults.set(FaultPlan())
        before = sim.requests
        started = time.perf_counter()
        result = await polling.poll_connection(rt, connection.id)
        elapsed = time.perf_counter() - started
        requests = sim.requests - before
        minimum = max(0.0, (requests - burst) / rate)
        full = {
            "tickets": result.tickets_changed,
            "seconds": round(elapsed, 2),
            "tickets_per_s": round(result.tickets_changed / elapsed, 1),
            "requests": requests,
            "rate_budget_rps": round(rate, 2),
            "theoretical_min_seconds": round(minimum, 2),
            "theoretical_tickets_per_s": round(result.tickets_changed / minimum, 1) if minimum else None,
            "achieved_vs_theoretical": round(minimum / elapsed, 3) if minimum else None,
        }
        await asyncio.sleep(60 / rate * burst)  # let the client-side bucket refill between phases
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as admin:
            ids = list(sim.tickets)[:200]
            for tid in ids:
                (await admin.patch(f"/_sim/tickets/{tid}", json={"status": "Resolved"})).raise_for_status()
        started = time.perf_counter()
        inc = await polling.poll_connection(rt, connection.id)
        lag = time.perf_counter() - started
    return {
        "full_sync": full,
        "incremental": {"edits": len(ids), "picked_up": inc.tickets_changed, "poll_seconds": round(lag, 2)},
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--skip-sync", action="store_true")
    parser.add_argument("--skip-webhooks", action="store_true")
    webhooks.add_load_options(parser)
    args = parser.parse_args()
    mlogging.configure("WARNING")
    with webhooks.embedded_database("bench_sync") as (url, data_dir):
        report: dict[str, Any] = {}
        if not args.skip_sync:
            keys = KeyringProvider(webhooks.MASTER_KEY, data_dir)
            engine = create_engine(url, pool_size=10)
            db = Database(url=url, engine=engine, sessions=make_sessionmaker(engine))
            try:
                await create_tenant_with_owner(
                    db.sessions, name="Bench MSP", slug="bench", owner_email="o@bench.example", owner_name="O"
                )
                async with tenant_session(db.sessions, None) as session:
                    tenant = await get_tenant_by_slug_or_id(session, "bench")
                report.update(await full_and_incremental(db, keys, tenant.id, args.tickets))
            finally:
                await engine.dispose()
            print(json.dumps(report, indent=2), flush=True)
        if not args.skip_webhooks:
            report["webhooks"] = await webhooks.bench(url, data_dir, args)
            print(json.dumps(report["webhooks"], indent=2), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
