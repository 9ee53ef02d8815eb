"""Webhook mode: ``POST /hooks/{connection_id}/{secret_path}``. The hot path verifies the
vendor's signature through the connector, stores the raw delivery (its unique
(connection, event key) row is the replay guard) and enqueues one processing job — one
INSERT plus one job insert in one transaction — then answers 202.
"""

from __future__ import annotations

import hmac
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw import jobs
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


class PgReplayGuard:
    """A :class:`ReplayGuard` whose memory is the deliveries table: recording a key *is*
    storing the raw delivery, and the unique constraint makes a replay a no-op insert."""

    def __init__(self, session: AsyncSession, target: _Target, headers: dict[str, str], body: bytes) -> None:
        self.session = session
        self.target = target
        self.headers = headers
        self.body = body
        self.delivery_id: uuid.UUID | None = None

    async def first_time(self, key: str, at: datetime) -> bool:
        """Insert the delivery; False when (connection, key) was stored before."""
        new_id = uuid7()
        inserted = await self.session.scalar(
            text(
                "INSERT INTO sync_webhook_deliveries "
                "(id, tenant_id, connection_id, event_key, received_at, headers, body) "
                "VALUES (:id, :tenant, :conn, :key, :at, CAST(:headers AS jsonb), :body) "
                "ON CONFLICT (connection_id, event_key) DO NOTHING RETURNING id"
            ),
            {
                "id": new_id,
                "tenant": self.target.tenant_id,
                "conn": self.target.connection_id,
                "key": key[:300],
                "at": at,
                "headers": _json(self.headers),
                "body": self.body,
            },
        )
        if inserted is None:
            return False
        self.delivery_id = new_id
        return True


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


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
    async with db.sessions() as session, session.begin():
        guard = PgReplayGuard(session, target, {k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS}, body)
        try:
            events = await connector.verify_webhook(headers, body, now=utcnow(), replay=guard)
        except WebhookRejected as exc:
            if exc.reason == "replayed":
                return JSONResponse({"status": "duplicate"}, status_code=200)
            log.warning("webhook_rejected", connection_id=str(connection_id), reason=exc.reason)
            status = 401 if exc.reason == "forged" else 400
            return _problem(status, f"webhook_{exc.reason}", exc.message)
        if guard.delivery_id is None:
            # A connector that never consulted the guard: store the delivery ourselves.
            key = events[0].event_key if events else str(uuid7())
            if not await guard.first_time(f"unguarded:{key}", utcnow()):
                return JSONResponse({"status": "duplicate"}, status_code=200)
        await jobs.defer(
            session,
            DELIVERY_TASK,
            {
                "delivery_id": str(guard.delivery_id),
                "connection_id": str(target.connection_id),
                "events": [
                    {
                        "entity": e.entity,
                        "action": e.action,
                        "external_id": e.external_id,
                        "occurred_at": e.occurred_at.isoformat() if e.occurred_at else None,
                    }
                    for e in events
                ],
            },
            queue=SYNC_QUEUE,
        )
    return JSONResponse({"status": "accepted", "events": len(events)}, status_code=202)
