"""Webhook mode: ``POST /hooks/{connection_id}/{secret_path}``. The hot path verifies the
vendor's signature through the connector, stores the raw delivery (its unique
(connection, event key) row is the replay guard) and enqueues one processing job — one
INSERT plus one job insert in one transaction — then answers 202.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, text

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
#: How long a process trusts its cached copy of a connection (hook path, secrets).
CACHE_SECONDS = 60.0
#: Headers worth keeping with the raw delivery (signatures and ids, not cookies/auth).
KEPT_HEADERS = ("content-type", "user-agent", "x-content-signature", "x-request-id")


@dataclass
class _Target:
    connection_id: uuid.UUID
    tenant_id: uuid.UUID
    hook_path: str
    connector: Connector
    expires: float


#: Store the raw delivery and enqueue its processing job in ONE statement (one round trip,
#: autocommit): the job is inserted only when the delivery row was, so a replay stores
#: nothing and enqueues nothing.
STORE_AND_ENQUEUE = text(
    "WITH delivery AS ("
    " INSERT INTO sync_webhook_deliveries (id, tenant_id, connection_id, event_key, received_at, headers, body)"
    " VALUES (:id, :tenant, :conn, :key, :at, CAST(:headers AS jsonb), :body)"
    " ON CONFLICT (connection_id, event_key) DO NOTHING RETURNING id)"
    " SELECT delivery.id, procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, NULL, NULL,"
    " jsonb_build_object('delivery_id', CAST(delivery.id AS text), 'connection_id', CAST(:conn AS text),"
    " 'events', CAST(:events AS jsonb)), NULL)::procrastinate_job_to_defer_v1]) FROM delivery"
)


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
        self, db: Database, *, headers: dict[str, str], body: bytes, events: list[dict[str, Any]]
    ) -> uuid.UUID | None:
        """Insert the delivery and its job; ``None`` when the key was stored before."""
        key = self.key or "unguarded:" + hashlib.sha256(body).hexdigest()
        async with db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            row = (
                await auto.execute(
                    STORE_AND_ENQUEUE,
                    {
                        "id": uuid7(),
                        "tenant": self.target.tenant_id,
                        "conn": self.target.connection_id,
                        "key": key[:300],
                        "at": self.at or utcnow(),
                        "headers": json.dumps(headers),
                        "body": body,
                        "queue": SYNC_QUEUE,
                        "task": DELIVERY_TASK,
                        "events": json.dumps(events),
                    },
                )
            ).first()
        return None if row is None else uuid.UUID(str(row[0]))


def _cache(request: Request) -> dict[uuid.UUID, _Target]:
    state = request.app.state
    if not hasattr(state, "sync_hook_targets"):
        state.sync_hook_targets = {}
    cache: dict[uuid.UUID, _Target] = state.sync_hook_targets
    return cache


async def _target(request: Request, db: Database, connection_id: uuid.UUID) -> _Target | None:
    cache = _cache(request)
    hit = cache.get(connection_id)
    if hit is not None and hit.expires > time.monotonic():
        return hit
    keys: KeyringProvider = request.app.state.keys
    async with tenant_session(db.sessions, None) as session:
        connection = await session.scalar(
            select(Connection).where(Connection.id == connection_id, Connection.enabled.is_(True))
        )
        if connection is None:
            cache.pop(connection_id, None)
            return None
        async with tenant_session(db.sessions, connection.tenant_id) as tenant:
            connector = await service.open_connector(tenant, keys.current(), connection)
    if hit is not None:
        await hit.connector.aclose()
    target = _Target(
        connection.id, connection.tenant_id, connection.hook_path, connector, time.monotonic() + CACHE_SECONDS
    )
    cache[connection_id] = target
    return target


def _problem(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message, "detail": None}, status_code=status)


@router.post(
    "/hooks/{connection_id}/{secret_path}",
    status_code=202,
    summary="Receive a vendor webhook",
    responses={401: {}, 404: {}, 400: {}},
)
async def receive(connection_id: uuid.UUID, secret_path: str, request: Request) -> JSONResponse:
    """Verify, store raw, enqueue processing, answer 202 (200 for an already-seen delivery)."""
    db: Database = request.app.state.db
    target = await _target(request, db, connection_id)
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
    if await guard.store(db, headers=kept, body=body, events=summary) is None:
        return JSONResponse({"status": "duplicate"}, status_code=200)
    return JSONResponse({"status": "accepted", "events": len(events)}, status_code=202)
