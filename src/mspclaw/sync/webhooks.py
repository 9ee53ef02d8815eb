"""Webhook mode: ``POST /hooks/{connection_id}/{secret_path}``. The hot path verifies the
vendor's signature through the connector (a per-process cached copy of the connection),
stores the raw delivery (its unique (connection, event key) row is the replay guard) and
enqueues one processing job, then answers 202.

Storing is *group-committed*: concurrent deliveries of the process are written by one
statement in one transaction (:class:`DeliveryWriter`), and each request is answered only
after the transaction holding its row has committed. Procrastinate's job-insert trigger
sends a NOTIFY, and PostgreSQL serialises committing transactions that notified (a global
lock held through the WAL flush), so one commit per delivery capped a process at a few
hundred deliveries a second; one commit per batch does not.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from prometheus_client import Histogram
from sqlalchemy import select

from mspclaw.api.observability import REGISTRY
from mspclaw.connectors.base import Connector, WebhooksCapability
from mspclaw.connectors.errors import WebhookRejected
from mspclaw.database.base import utcnow, uuid7
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.sync import service
from mspclaw.sync.models import Connection
from mspclaw.vault.keys import KeyringProvider

log = structlog.get_logger(__name__)
router = APIRouter(tags=["Webhooks"])

DELIVERY_TASK = "mspclaw.sync.delivery"
SYNC_QUEUE = "sync"
#: How long a process trusts its cached copy of a connection (hook path, secrets) before
#: re-reading it. Changes made through this process's API apply at once
#: (:func:`mspclaw.sync.service.forget_hook_target`); other processes see them within this.
CACHE_SECONDS = 60.0
#: Headers worth keeping with the raw delivery (signatures and ids, not cookies/auth).
KEPT_HEADERS = ("content-type", "user-agent", "x-content-signature", "x-request-id")
#: Most deliveries one group commit writes.
MAX_BATCH = 256

BATCH_SIZE = Histogram(
    "mspclaw_webhook_store_batch_size",
    "Webhook deliveries written by one group commit",
    registry=REGISTRY,
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
BATCH_SECONDS = Histogram(
    "mspclaw_webhook_store_seconds",
    "Time of one group commit of webhook deliveries (statement and commit)",
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)


@dataclass
class _Target:
    connection_id: uuid.UUID
    tenant_id: uuid.UUID
    hook_path: str
    connector: Connector
    expires: float
    generation: int


#: Store a batch of raw deliveries and enqueue one processing job per *new* delivery, in ONE
#: statement (one round trip, one commit): a replayed key inserts no row, so it gets no job.
#: Two copies of one key in the same batch behave the same way (the second conflicts with the
#: first). Returns the ids of the rows stored.
STORE_AND_ENQUEUE = (
    "WITH incoming AS ("
    " SELECT * FROM unnest(%(ids)s::uuid[], %(tenants)s::uuid[], %(conns)s::uuid[], %(keys)s::text[],"
    " %(ats)s::timestamptz[], %(headers)s::text[]::jsonb[], %(bodies)s::bytea[], %(events)s::text[]::jsonb[])"
    " AS t(id, tenant_id, connection_id, event_key, received_at, headers, body, events)),"
    " stored AS ("
    " INSERT INTO sync_webhook_deliveries (id, tenant_id, connection_id, event_key, received_at, headers, body)"
    " SELECT id, tenant_id, connection_id, event_key, received_at, headers, body FROM incoming"
    " ON CONFLICT (connection_id, event_key) DO NOTHING RETURNING id),"
    " deferred AS ("
    " SELECT procrastinate_defer_jobs_v1(ARRAY(SELECT ROW(%(queue)s::text, %(task)s::text, 0, NULL, NULL,"
    " jsonb_build_object('delivery_id', i.id::text, 'connection_id', i.connection_id::text, 'events', i.events),"
    " NULL)::procrastinate_job_to_defer_v1 FROM stored s JOIN incoming i ON i.id = s.id)) AS job_ids)"
    " SELECT s.id, (SELECT cardinality(job_ids) FROM deferred) FROM stored s"
)


@dataclass
class _Pending:
    row: tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, datetime, str, bytes, str]
    done: asyncio.Future[bool]


@dataclass
class DeliveryWriter:
    """Group commit for webhook deliveries: requests hand their row over and wait; one drain
    task writes everything pending in one statement, then the next batch (the rows that
    arrived meanwhile), until nothing is pending. Each waiter learns whether its row was
    new (``True``) or a replay (``False``), or gets the batch's exception."""

    db: Database
    pending: list[_Pending] = field(default_factory=list)
    drain: asyncio.Task[None] | None = None

    async def store(
        self,
        *,
        tenant_id: uuid.UUID,
        connection_id: uuid.UUID,
        key: str,
        at: datetime,
        headers: dict[str, str],
        body: bytes,
        events: list[dict[str, Any]],
    ) -> bool:
        """Durably store one delivery (and its job); ``False`` when its key was stored before."""
        row = (uuid7(), tenant_id, connection_id, key, at, json.dumps(headers), body, json.dumps(events))
        waiter = _Pending(row, asyncio.get_running_loop().create_future())
        self.pending.append(waiter)
        if self.drain is None or self.drain.done():
            self.drain = asyncio.create_task(self._drain())
        return await asyncio.shield(waiter.done)  # a caller that goes away does not abort the batch

    async def _drain(self) -> None:
        while self.pending:
            try:
                async with self.db.engine.connect() as conn:
                    auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    while self.pending and not conn.invalidated:
                        batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                        started = time.perf_counter()
                        try:
                            stored = await self._write(auto, batch)
                        except Exception as exc:  # the batch's waiters get the failure (a 503 to the vendor)
                            _settle(batch, exc)
                            continue
                        BATCH_SECONDS.observe(time.perf_counter() - started)
                        BATCH_SIZE.observe(len(batch))
                        for waiter in batch:
                            if not waiter.done.done():
                                waiter.done.set_result(waiter.row[0] in stored)
            except Exception as exc:  # no connection: fail what is waiting rather than leave it hanging
                batch, self.pending = self.pending, []
                _settle(batch, exc)

    @staticmethod
    async def _write(conn: Any, batch: list[_Pending]) -> set[uuid.UUID]:
        columns = list(zip(*(waiter.row for waiter in batch), strict=True))
        names = ("ids", "tenants", "conns", "keys", "ats", "headers", "bodies", "events")
        params: dict[str, Any] = {name: list(values) for name, values in zip(names, columns, strict=True)}
        params.update(queue=SYNC_QUEUE, task=DELIVERY_TASK)
        result = await conn.exec_driver_sql(STORE_AND_ENQUEUE, params)
        return {row[0] for row in result}


def _settle(batch: list[_Pending], exc: BaseException) -> None:
    for waiter in batch:
        if not waiter.done.done():
            waiter.done.set_exception(exc)


def _writer(request: Request, db: Database) -> DeliveryWriter:
    state = request.app.state
    writer: DeliveryWriter | None = getattr(state, "sync_delivery_writer", None)
    if writer is None or writer.db is not db:
        writer = state.sync_delivery_writer = DeliveryWriter(db)
    return writer


class PgReplayGuard:
    """The :class:`ReplayGuard` backed by PostgreSQL: the deliveries table's unique
    (connection, event key) constraint. ``first_time`` notes the key the connector derived;
    :meth:`store` then inserts the raw delivery, and a conflicting insert *is* the replay
    verdict, decided atomically even between processes."""

    def __init__(self, target: _Target) -> None:
        self.target = target
        self.key: str | None = None
        self.at: datetime | None = None

    async def first_time(self, key: str, at: datetime) -> bool:
        """Remember the key; whether it is new is settled by :meth:`store`'s insert."""
        self.key, self.at = key, at
        return True

    async def store(
        self, writer: DeliveryWriter, *, headers: dict[str, str], body: bytes, events: list[dict[str, Any]]
    ) -> bool:
        """Insert the delivery and its job (group-committed); ``False`` when the key was stored before."""
        key = self.key or "unguarded:" + hashlib.sha256(body).hexdigest()
        return await writer.store(
            tenant_id=self.target.tenant_id,
            connection_id=self.target.connection_id,
            key=key[:300],
            at=self.at or utcnow(),
            headers=headers,
            body=body,
            events=events,
        )


@dataclass
class _Targets:
    """Per-process cache of hook targets with one load in flight per connection: when an
    entry expires, the requests that find it stale keep using it while one of them re-reads
    the connection (a burst of deliveries does not turn into a burst of vault reads)."""

    entries: dict[uuid.UUID, _Target] = field(default_factory=dict)
    loading: dict[uuid.UUID, asyncio.Task[_Target | None]] = field(default_factory=dict)


def _cache(request: Request) -> _Targets:
    state = request.app.state
    if not hasattr(state, "sync_hook_targets"):
        state.sync_hook_targets = _Targets()
    cache: _Targets = state.sync_hook_targets
    return cache


async def _load(request: Request, db: Database, connection_id: uuid.UUID) -> _Target | None:
    cache = _cache(request)
    generation = service.hook_generation(connection_id)
    keys: KeyringProvider = request.app.state.keys
    async with tenant_session(db.sessions, None) as session:
        connection = await session.scalar(
            select(Connection).where(Connection.id == connection_id, Connection.enabled.is_(True))
        )
        if connection is None:
            old = cache.entries.pop(connection_id, None)
            if old is not None:
                await old.connector.aclose()
            return None
        async with tenant_session(db.sessions, connection.tenant_id) as tenant:
            connector = await service.open_connector(tenant, keys.current(), connection)
    target = _Target(
        connection.id,
        connection.tenant_id,
        connection.hook_path,
        connector,
        time.monotonic() + CACHE_SECONDS,
        generation,
    )
    old = cache.entries.get(connection_id)
    cache.entries[connection_id] = target
    if old is not None:
        await old.connector.aclose()
    return target


def _loaded(cache: _Targets, connection_id: uuid.UUID, task: asyncio.Task[_Target | None]) -> None:
    cache.loading.pop(connection_id, None)
    if not task.cancelled() and task.exception() is not None:  # retrieved here; waiters see it too
        log.warning("webhook_target_load_failed", connection_id=str(connection_id), error=repr(task.exception()))


async def _target(request: Request, db: Database, connection_id: uuid.UUID) -> _Target | None:
    cache = _cache(request)
    hit = cache.entries.get(connection_id)
    changed = hit is not None and hit.generation != service.hook_generation(connection_id)
    if hit is not None and not changed and hit.expires > time.monotonic():
        return hit
    task = cache.loading.get(connection_id)
    if task is None:
        task = asyncio.create_task(_load(request, db, connection_id))
        cache.loading[connection_id] = task
        task.add_done_callback(lambda done: _loaded(cache, connection_id, done))
    if hit is not None and not changed:
        return hit  # expired only by age: answer from it while the re-read runs
    return await asyncio.shield(task)


def _problem(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, "detail": None}, status_code=status)


@router.post(
    "/hooks/{connection_id}/{secret_path}",
    status_code=202,
    summary="Receive a vendor webhook",
    responses={401: {}, 404: {}, 400: {}, 503: {}},
)
async def receive(connection_id: uuid.UUID, secret_path: str, request: Request) -> JSONResponse:
    """Verify, store raw, enqueue processing, answer 202 (200 for an already-seen delivery)."""
    db: Database = request.app.state.db
    try:
        target = await _target(request, db, connection_id)
    except Exception:  # the database or the vault did not answer: the vendor retries a 5xx
        return _problem(503, "storage_unavailable", "the webhook endpoint cannot be checked now; send it again later")
    # Same answer for an unknown connection and a wrong path: the path is the credential.
    if target is None or not hmac.compare_digest(target.hook_path.encode(), secret_path.encode()):
        return _problem(404, "not_found", "no such webhook endpoint")
    connector = target.connector
    if not connector.supports("webhooks"):
        return _problem(404, "not_found", "this connection takes no webhooks (it is polled)")
    assert isinstance(connector, WebhooksCapability)
    body = await request.body()
    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("cookie", "authorization")}
    guard = PgReplayGuard(target)
    try:
        events = await connector.verify_webhook(headers, body, now=utcnow(), replay=guard)
    except WebhookRejected as exc:
        if exc.reason == "replayed":  # a connector with its own replay memory said so
            return JSONResponse({"status": "duplicate"}, status_code=200)
        log.warning("webhook_rejected", connection_id=str(connection_id), reason=exc.reason)
        status = 401 if exc.reason == "forged" else 400
        return _problem(status, f"webhook_{exc.reason}", exc.message)
    summary = [
        {
            "entity": e.entity,
            "action": e.action,
            "external_id": e.external_id,
            "occurred_at": e.occurred_at.isoformat() if e.occurred_at else None,
        }
        for e in events
    ]
    kept = {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS}
    try:
        stored = await guard.store(_writer(request, db), headers=kept, body=body, events=summary)
    except Exception as exc:  # the vendor retries a 5xx: nothing was acknowledged, nothing is lost
        log.error("webhook_store_failed", connection_id=str(connection_id), error=type(exc).__name__)
        return _problem(503, "storage_unavailable", "the delivery could not be stored; send it again later")
    if not stored:
        return JSONResponse({"status": "duplicate"}, status_code=200)
    return JSONResponse({"status": "accepted", "events": len(events)}, status_code=202)
