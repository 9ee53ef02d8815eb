"""The fault-injection scenario shared by the per-connector tests: a seeded simulator,
updates streaming in while it throws 429 bursts, 500s, timeouts, malformed pages and
duplicate webhook deliveries, a real ``mspclaw worker`` process SIGKILLed in the middle of
its sync job, the job recovered as a dead worker's job and resumed by another worker — and
then the normalised store must equal the simulator exactly."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select, text

from mspclaw import jobs
from mspclaw.connectors.base import WebhooksCapability
from mspclaw.connectors.models import parse_vendor_time
from mspclaw.connectors.simulator import FaultPlan, ServedApp, Simulator
from mspclaw.database.core import Database
from mspclaw.database.session import create_engine, make_sessionmaker, tenant_session
from mspclaw.sync import polling, service
from mspclaw.sync.api import hooks_router
from mspclaw.sync.models import Connection, WebhookDelivery
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.sync.tasks import POLL_TASK, request_poll
from mspclaw.tickets.models import Alert, Ticket
from tests.conftest import TEST_MASTER_KEY
from tests.sync.conftest import CONNECTOR_OPTIONS, add_connection, run_jobs, sim_settings

Snapshot = dict[str, tuple[Any, ...]]


@dataclass
class Vendor:
    """How to drive and read one simulator."""

    connector: str
    make: Callable[[int], Simulator]
    snapshot: Callable[[Simulator], Snapshot]
    mutate: Callable[[httpx.AsyncClient, Simulator, random.Random], Awaitable[None]]
    statuses: tuple[str, ...] = ()
    stream: str = "tickets"


@dataclass
class Outcome:
    """What the scenario observed, for the assertions."""

    expected: Snapshot
    stored: Snapshot
    rows: int
    faults: dict[str, int]
    deliveries: int = 0
    duplicates_answered: int = 0
    restarts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def hook_server(db_url: str, keys: Any) -> tuple[ServedApp, Database]:
    """The webhook endpoint as its own uvicorn process-alike (own engine, own loop)."""
    from fastapi import FastAPI

    engine = create_engine(db_url, pool_size=5)
    database = Database(url=db_url, engine=engine, sessions=make_sessionmaker(engine))
    app = FastAPI()
    app.state.db = database
    app.state.keys = keys
    app.include_router(hooks_router)
    return ServedApp(app).start(), database


async def stored_tickets(rt: SyncRuntime, connection_id: uuid.UUID) -> tuple[Snapshot, int]:
    async with tenant_session(rt.db.sessions, None) as session:
        rows = (
            await session.execute(
                select(Ticket.external_id, Ticket.subject, Ticket.raw_status, Ticket.vendor_updated_at).where(
                    Ticket.connection_id == connection_id, Ticket.deleted_at.is_(None)
                )
            )
        ).all()
        total = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.connection_id == connection_id)
        )
    return {r.external_id: (r.subject, r.raw_status, r.vendor_updated_at) for r in rows}, int(total or 0)


async def stored_alerts(rt: SyncRuntime, connection_id: uuid.UUID) -> tuple[Snapshot, int]:
    async with tenant_session(rt.db.sessions, None) as session:
        rows = (
            await session.execute(
                select(Alert.external_id, Alert.message).where(
                    Alert.connection_id == connection_id, Alert.open.is_(True)
                )
            )
        ).all()
        total = await session.scalar(
            select(func.count()).select_from(Alert).where(Alert.connection_id == connection_id)
        )
    return {r.external_id: (r.message,) for r in rows}, int(total or 0)


def vendor_time(value: Any) -> datetime:
    parsed = parse_vendor_time(value)
    assert parsed is not None
    return parsed


async def run_scenario(
    rt: SyncRuntime,
    tenant_id: uuid.UUID,
    vendor: Vendor,
    *,
    tickets: int,
    mutations: int,
    faults: FaultPlan,
    bursts: int,
    client_timeout: float,
    seed: int = 7,
) -> Outcome:
    """Seed, stream changes under faults, crash a sync mid-run, recover, and compare."""
    rng = random.Random(seed)
    sim = vendor.make(tickets)
    sim.faults.set(FaultPlan(rate_limit_per_minute=0))
    server = ServedApp(sim.app()).start()
    hooks, hook_db = hook_server(rt.db.url, rt.keys)
    try:
        connection = await add_connection(
            rt, tenant_id, vendor.connector, sim_settings(sim, server.url, vendor.connector)
        )
        await _register_webhook(rt, connection, hooks.url)
        admin = httpx.AsyncClient(base_url=server.url, timeout=30)
        # A "timeout" fault holds the response past the client's timeout.
        burst = faults.model_copy(update={"timeout_seconds": client_timeout + 0.5}).model_dump()
        options = {**CONNECTOR_OPTIONS, "timeout": client_timeout}
        rt.connector_options = options

        async def stream() -> None:
            # Fault bursts keep arriving while changes stream in (each burst stays below
            # the retry budget: a storm longer than that fails the run, and the next
            # scheduled poll picks up from the stored cursor).
            for i in range(mutations):
                if i % max(1, mutations // bursts) == 0:
                    (await admin.post("/_sim/faults", json=burst)).raise_for_status()
                await vendor.mutate(admin, sim, rng)
                await asyncio.sleep(rng.uniform(0.0, 0.01))

        streamer = asyncio.create_task(stream())
        # The poll job runs in a real worker process, which is SIGKILLed mid-run: no cleanup.
        async with tenant_session(rt.db.sessions, tenant_id) as session, session.begin():
            assert await request_poll(session, connection.id)
        store = stored_tickets if vendor.stream == "tickets" else stored_alerts
        restarts = await _kill_worker_mid_sync(rt, connection.id, store, tickets // 10)
        # Recovery as in production: the dead worker's job goes back to the queue (no heartbeat)
        # and another worker (in-process here, with the test's fast retries) resumes it while
        # updates keep arriving.
        job_app = jobs.bind(rt.db.libpq_url)
        async with job_app.open_async():
            retried = await jobs.retry_stalled_jobs(job_app, seconds_since_heartbeat=0)
        assert retried == restarts, "the killed worker's job was not recovered"
        await run_jobs(rt, queues=["sync"])
        # (deliveries processed meanwhile may have queued and run later polls)
        assert (await _poll_job_status(rt, connection.id))[0] == "succeeded", "the resumed job did not finish"
        await streamer
        await _drain_deliveries(sim)
        await run_jobs(rt, queues=["sync"])
        # The next scheduled poll (the steady state every connection reaches).
        await polling.poll_connection(rt, connection.id, **options)
        await admin.aclose()
        expected = vendor.snapshot(sim)
        stored, rows = await store(rt, connection.id)
        async with tenant_session(rt.db.sessions, None) as session:
            deliveries = int(
                await session.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(WebhookDelivery.connection_id == connection.id)
                )
                or 0
            )
        return Outcome(
            expected=expected,
            stored=stored,
            rows=rows,
            faults=dict(sim.faults.injected),
            deliveries=deliveries,
            duplicates_answered=sum(1 for d in sim.deliveries if d.get("status") == 200),
            restarts=restarts,
        )
    finally:
        hooks.stop()
        await hook_db.engine.dispose()
        server.stop()


async def _poll_job_status(rt: SyncRuntime, connection_id: uuid.UUID) -> list[str]:
    async with tenant_session(rt.db.sessions, None) as session:
        rows = await session.execute(
            text(
                "SELECT status FROM procrastinate_jobs WHERE task_name = :task AND args->>'connection_id' = :conn"
                " ORDER BY id"
            ),
            {"task": POLL_TASK, "conn": str(connection_id)},
        )
        return [str(r[0]) for r in rows]


async def _kill_worker_mid_sync(
    rt: SyncRuntime,
    connection_id: uuid.UUID,
    store: Callable[[SyncRuntime, uuid.UUID], Awaitable[tuple[Snapshot, int]]],
    enough: int,
) -> int:
    """Start ``mspclaw worker`` on the sync queue, SIGKILL it once its poll job has stored
    ``enough`` rows (or half a second after the job started: a stream the vendor returns in
    one call stores nothing until the end); 1 when it died mid-job, 0 when it finished first."""
    env = {
        **os.environ,
        "MSPCLAW_DATABASE_URL": rt.db.url,
        "MSPCLAW_MASTER_KEY": TEST_MASTER_KEY,
        "MSPCLAW_LOG_LEVEL": "WARNING",
    }
    mspclaw = os.path.join(os.path.dirname(sys.executable), "mspclaw")
    proc = await asyncio.create_subprocess_exec(
        mspclaw, "worker", "--queue", "sync", "--concurrency", "1", env=env, start_new_session=True
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120  # the worker process starting on a busy machine
        started: float | None = None
        while loop.time() < deadline and proc.returncode is None:
            await asyncio.sleep(0.01)
            status = await _poll_job_status(rt, connection_id)
            if status != ["doing"]:
                if status != ["todo"]:
                    break  # finished (or failed) before the kill: the caller's assertions say so
                continue
            started = started or loop.time()
            if loop.time() - started >= 0.5 or len((await store(rt, connection_id))[0]) >= enough:
                break
        assert proc.returncode is None, f"the worker exited on its own ({proc.returncode})"
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
    return 1 if await _poll_job_status(rt, connection_id) == ["doing"] else 0


async def _register_webhook(rt: SyncRuntime, connection: Connection, hooks_url: str) -> None:
    async with tenant_session(rt.db.sessions, connection.tenant_id) as session:
        connector = await service.open_connector(session, rt.keyring(), connection)
    async with connector:
        if connector.supports("webhooks"):
            assert isinstance(connector, WebhooksCapability)
            secret = str(connector.config.get("webhook_secret") or connection.hook_path)
            await connector.register_webhook(hooks_url + service.webhook_path(connection), secret)


async def _drain_deliveries(sim: Simulator, within: float = 20.0) -> None:
    """Wait until the simulator's outbound webhook tasks finished."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        pending = [t for t in getattr(sim, "_tasks", set()) if not t.done()]
        if not pending:
            return
        await asyncio.sleep(0.05)
