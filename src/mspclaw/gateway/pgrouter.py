"""Cross-process gateway routing over PostgreSQL LISTEN/NOTIFY.

Every gateway process LISTENs on one channel; a dispatch for a device held by another
process reaches it as a NOTIFY. Payloads above NOTIFY's 8 kB limit (large tool outputs) are
written to ``gateway_spill`` and the notification carries only the row id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid

import psycopg
from psycopg import sql

from mspclaw.gateway.routing import ROUTED_ADAPTER, RoutedHandler, RoutedMessage

log = logging.getLogger("mspclaw.gateway")

CHANNEL = "mspclaw_gateway"
MAX_NOTIFY_BYTES = 7_000  # below PostgreSQL's 8000-byte payload limit, with margin
SPILL_RETENTION = "10 minutes"


class PostgresRouter:
    """A :class:`~mspclaw.gateway.routing.DispatchRouter` backed by LISTEN/NOTIFY."""

    def __init__(self, dsn: str, *, channel: str = CHANNEL) -> None:
        self.dsn = dsn
        self.channel = channel
        self._handlers: list[RoutedHandler] = []
        self._listener: asyncio.Task[None] | None = None
        self._publisher: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()

    async def publish(self, device_id: str, message: RoutedMessage) -> None:
        """NOTIFY every gateway (spilling large payloads to a table first)."""
        payload = ROUTED_ADAPTER.dump_json(message).decode()
        async with self._lock:
            conn = await self._connection()
            if len(payload.encode()) > MAX_NOTIFY_BYTES:
                spill_id = uuid.uuid4()
                await conn.execute(
                    "INSERT INTO gateway_spill (id, payload, created_at) VALUES (%s, %s, now())", (spill_id, payload)
                )
                await conn.execute(
                    "DELETE FROM gateway_spill WHERE created_at < now() - %s::interval", (SPILL_RETENTION,)
                )
                payload = json.dumps({"spill": str(spill_id)})
            await conn.execute("SELECT pg_notify(%s, %s)", (self.channel, payload))

    async def subscribe(self, handler: RoutedHandler) -> None:
        """Deliver every routed message to ``handler`` (starts listening on first use)."""
        self._handlers.append(handler)
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever())
            await asyncio.wait_for(self._ready.wait(), timeout=30)

    async def unsubscribe(self, handler: RoutedHandler) -> None:
        """Stop delivering to ``handler``; the last one stops the listener."""
        if handler in self._handlers:
            self._handlers.remove(handler)
        if not self._handlers:
            await self.close()

    async def close(self) -> None:
        """Stop listening and close connections."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
            self._ready.clear()
        if self._publisher is not None:
            await self._publisher.close()
            self._publisher = None

    async def _connection(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self._publisher is None or self._publisher.closed:
            self._publisher = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        return self._publisher

    async def _listen_forever(self) -> None:
        backoff = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self.dsn, autocommit=True) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
                    self._ready.set()
                    backoff = 0.5
                    async for notify in conn.notifies():
                        await self._on_notify(conn, notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A lost database connection must not end routing: reconnect with backoff.
                log.exception("gateway LISTEN connection lost; reconnecting")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _on_notify(self, conn: psycopg.AsyncConnection[tuple[object, ...]], payload: str) -> None:
        try:
            data = json.loads(payload)
            if isinstance(data, dict) and set(data) == {"spill"}:
                row = await (
                    await conn.execute("SELECT payload FROM gateway_spill WHERE id = %s", (data["spill"],))
                ).fetchone()
                if row is None:
                    log.warning("gateway spill row %s already pruned", data["spill"])
                    return
                payload = str(row[0])
            message = ROUTED_ADAPTER.validate_json(payload)
        except Exception:
            log.exception("undecodable gateway notification dropped")
            return
        for handler in list(self._handlers):
            task = asyncio.create_task(self._deliver(handler, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _deliver(handler: RoutedHandler, message: RoutedMessage) -> None:
        try:
            await handler(message)
        except Exception:
            log.exception("routed message handler failed")
