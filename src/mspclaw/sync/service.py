"""Connections: create (validated against the connector spec, secrets to the vault, saved
only after ``test_connection`` passes), read, delete, mappings, client links and the
unmapped-value report; plus building a live connector for a stored connection.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from typing import Any, cast

import httpx
from sqlalchemy import Table, select
from sqlalchemy import update as sa_update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.connectors.base import Connector
from mspclaw.connectors.errors import ConfigInvalid
from mspclaw.connectors.http import RetryPolicy
from mspclaw.connectors.mapping import ConnectionMappings, KnownClient, UnmappedReport, propose_client_matches
from mspclaw.connectors.models import Client as VendorClient
from mspclaw.connectors.registry import get_connector
from mspclaw.database.base import utcnow, uuid7
from mspclaw.database.session import tenant_of
from mspclaw.errors import Conflict, InvalidInput, NotFound
from mspclaw.sync.models import (
    ClientMatchRead,
    Connection,
    ConnectionCreate,
    ConnectionRead,
    ConnectionUpdate,
    DirectoryRecord,
    Mappings,
    UnmappedValue,
)
from mspclaw.tenancy.models import Client
from mspclaw.tickets.models import Ticket
from mspclaw.vault import service as vault
from mspclaw.vault.keys import Keyring


class ConnectionTestFailed(InvalidInput):
    """The vendor refused the settings; nothing was saved."""

    code = "connection_test_failed"


def secret_name(connection_id: uuid.UUID, field: str) -> str:
    """The vault name of one secret setting of a connection."""
    return f"connection/{connection_id}/{field}"


def default_mappings(connector: str) -> Mappings:
    """The spec's default status/priority mapping a new connection starts from."""
    spec = get_connector(connector).spec()
    return Mappings.model_validate({"status": spec.default_mappings.status, "priority": spec.default_mappings.priority})


def connector_mappings(connection: Connection) -> ConnectionMappings:
    """The stored mappings in the SDK's shape."""
    stored = Mappings.model_validate(connection.mappings or {})
    return ConnectionMappings(
        status=stored.status,
        priority=stored.priority,
        queues=stored.queues,
        clients={k: str(v) for k, v in stored.clients.items()},
    )


def build_connector(
    connection: Connection,
    settings: Mapping[str, Any],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    retry: RetryPolicy | None = None,
    timeout: float = 30.0,
) -> Connector:
    """A live connector for ``connection`` with its full settings (secrets included)."""
    cls = get_connector(connection.connector)
    return cls(
        dict(settings),
        connection_id=str(connection.id),
        mappings=connector_mappings(connection),
        transport=transport,
        retry=retry,
        timeout=timeout,
    )


async def full_settings(session: AsyncSession, ring: Keyring, connection: Connection) -> dict[str, Any]:
    """Stored settings plus the secret ones from the vault."""
    settings = dict(connection.config)
    for field in connection.secret_fields:
        settings[field] = await vault.get_value(session, ring, name=secret_name(connection.id, field))
    return settings


async def open_connector(session: AsyncSession, ring: Keyring, connection: Connection, **kw: Any) -> Connector:
    """Build the connector of a stored connection (reads its secrets from the vault)."""
    return build_connector(connection, await full_settings(session, ring, connection), **kw)


#: Bumped when a connection's webhook-relevant state changes in this process; the webhook
#: route's cached copy of a connection is re-read when its generation is behind.
_hook_generations: dict[uuid.UUID, int] = {}


def hook_generation(connection_id: uuid.UUID) -> int:
    """The change counter of ``connection_id`` in this process (see :func:`forget_hook_target`)."""
    return _hook_generations.get(connection_id, 0)


def forget_hook_target(connection_id: uuid.UUID) -> None:
    """Make this process's webhook route re-read the connection (after it was changed or deleted)."""
    _hook_generations[connection_id] = _hook_generations.get(connection_id, 0) + 1


def to_read(connection: Connection, *, show_hook: bool = False) -> ConnectionRead:
    """API view; the webhook path is a credential, so only shown when asked."""
    read = ConnectionRead.model_validate(connection)
    if show_hook:
        read.webhook_path = webhook_path(connection)
    return read


def webhook_path(connection: Connection) -> str:
    """The path the vendor POSTs to (relative to MSPclaw's public URL)."""
    return f"/hooks/{connection.id}/{connection.hook_path}"


async def get(session: AsyncSession, *, connection_id: uuid.UUID) -> Connection | None:
    """A connection of the session's tenant, or None."""
    return await session.scalar(select(Connection).where(Connection.id == connection_id))


async def get_or_raise(session: AsyncSession, *, connection_id: uuid.UUID) -> Connection:
    """A connection of the session's tenant (NotFound otherwise)."""
    found = await get(session, connection_id=connection_id)
    if found is None:
        raise NotFound("no such connection")
    return found


async def list_all(session: AsyncSession) -> list[Connection]:
    """Every connection of the session's tenant, by name."""
    return list(await session.scalars(select(Connection).order_by(Connection.name)))


async def create(
    session: AsyncSession,
    ring: Keyring,
    *,
    data: ConnectionCreate,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Connection:
    """Validate, test against the vendor, then save (secrets to the vault). Nothing is
    written when the test fails; its human-readable reason is the error."""
    tenant_id = tenant_of(session)
    if tenant_id is None:
        raise InvalidInput("connections belong to a tenant")
    cls = get_connector(data.connector)
    spec = cls.spec()
    try:
        settings = spec.validate_config(dict(data.config))
    except ConfigInvalid as exc:
        raise InvalidInput(exc.message, detail=exc.detail) from None
    if await session.scalar(select(Connection.id).where(Connection.name == data.name)):
        raise Conflict(f"a connection called {data.name!r} already exists")
    connection = Connection(
        id=uuid7(),
        tenant_id=tenant_id,
        connector=data.connector,
        name=data.name,
        config={k: v for k, v in settings.items() if k not in spec.secret_fields()},
        secret_fields=[f for f in spec.secret_fields() if settings.get(f)],
        mappings=default_mappings(data.connector).model_dump(mode="json"),
        hook_path=secrets.token_urlsafe(32),
        poll_interval_seconds=data.poll_interval_seconds,
        overlap_seconds=data.overlap_seconds,
        stale_hours=data.stale_hours,
    )
    connector = build_connector(
        connection, settings, transport=transport, retry=RetryPolicy(max_attempts=2, max_total=20)
    )
    async with connector:
        result = await connector.test_connection()
    if not result.ok:
        raise ConnectionTestFailed(result.reason, detail={"code": result.code})
    session.add(connection)
    await session.flush()
    for field in connection.secret_fields:
        await vault.put(session, ring, name=secret_name(connection.id, field), value=str(settings[field]))
    return connection


async def update(session: AsyncSession, *, connection: Connection, data: ConnectionUpdate) -> Connection:
    """Change tuning fields."""
    for key, value in data.model_dump(exclude_none=True).items():
        setattr(connection, key, value)
    await session.flush()
    forget_hook_target(connection.id)
    return connection


async def delete(session: AsyncSession, *, connection: Connection) -> None:
    """Remove a connection, its secrets and (by cascade) its mirrored data."""
    for field in connection.secret_fields:
        try:
            await vault.delete(session, name=secret_name(connection.id, field))
        except NotFound:
            pass  # already gone: deleting is the goal
    await session.delete(connection)
    await session.flush()
    forget_hook_target(connection.id)


async def set_mappings(session: AsyncSession, *, connection: Connection, mappings: Mappings) -> Connection:
    """Replace status/priority/queue mappings (client links are confirmed one by one)."""
    if mappings.clients:
        await _check_clients(session, list(mappings.clients.values()))
    connection.mappings = mappings.model_dump(mode="json")
    # Values now mapped are no longer "unmapped".
    mapped = {("status", k.casefold()) for k in mappings.status} | {
        ("priority", k.casefold()) for k in mappings.priority
    }
    for row in await list_unmapped(session, connection_id=connection.id):
        if (row.field, row.value.casefold()) in mapped:
            await session.delete(row)
    await session.flush()
    return connection


async def _check_clients(session: AsyncSession, client_ids: list[uuid.UUID]) -> None:
    found = set(await session.scalars(select(Client.id).where(Client.id.in_(client_ids))))
    missing = [str(c) for c in client_ids if c not in found]
    if missing:
        raise NotFound("no such client", detail={"client_ids": missing})


async def confirm_client(
    session: AsyncSession, *, connection: Connection, vendor_external_id: str, client_id: uuid.UUID
) -> Connection:
    """Link a vendor company to an MSPclaw client (a person confirmed the match)."""
    await _check_clients(session, [client_id])
    stored = Mappings.model_validate(connection.mappings or {})
    stored.clients[vendor_external_id] = client_id
    connection.mappings = stored.model_dump(mode="json")
    for record in await session.scalars(
        select(DirectoryRecord).where(
            DirectoryRecord.connection_id == connection.id,
            (DirectoryRecord.external_id == vendor_external_id) & (DirectoryRecord.kind == "client")
            | (DirectoryRecord.client_external_id == vendor_external_id),
        )
    ):
        record.client_id = client_id
    # Tickets already mirrored for that company follow the confirmed link.
    await session.execute(
        sa_update(Ticket)
        .where(Ticket.connection_id == connection.id, Ticket.client_external_id == vendor_external_id)
        .values(client_id=client_id)
    )
    await session.flush()
    return connection


async def propose_clients(session: AsyncSession, *, connection: Connection) -> list[ClientMatchRead]:
    """Auto-match proposals (name/domain) for vendor companies not linked yet."""
    records = await session.scalars(
        select(DirectoryRecord).where(DirectoryRecord.connection_id == connection.id, DirectoryRecord.kind == "client")
    )
    vendor_clients = [
        VendorClient(external_id=r.external_id, name=r.name, domains=list(r.detail.get("domains") or []))
        for r in records
    ]
    known = [
        KnownClient(id=str(c.id), name=c.name, domains=[c.domain] if c.domain else [])
        for c in await session.scalars(select(Client))
    ]
    stored = Mappings.model_validate(connection.mappings or {})
    proposals = propose_client_matches(
        vendor_clients, known, already_mapped={k: str(v) for k, v in stored.clients.items()}
    )
    return [ClientMatchRead.model_validate(p.model_dump()) for p in proposals]


async def record_unmapped(session: AsyncSession, *, connection: Connection, mappings: ConnectionMappings) -> int:
    """Persist what the connector's mapping could not map (counts add up across runs)."""
    # Swap the report out first: pages parsed meanwhile count into a fresh one, not lost.
    report, mappings.unmapped = mappings.unmapped, UnmappedReport()
    seen = report.as_list()
    for item in seen:
        stmt = pg_insert(UnmappedValue).values(
            id=uuid7(),
            tenant_id=connection.tenant_id,
            connection_id=connection.id,
            field=item.field,
            value=item.value,
            count=item.count,
            first_seen=item.first_seen,
            last_seen=item.last_seen,
            example_external_id=item.example_external_id,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["connection_id", "field", "value"],
            set_={
                "count": UnmappedValue.count + stmt.excluded.count,
                "last_seen": stmt.excluded.last_seen,
                "example_external_id": stmt.excluded.example_external_id,
            },
        )
        await session.execute(stmt)
    return len(seen)


async def list_unmapped(session: AsyncSession, *, connection_id: uuid.UUID) -> list[UnmappedValue]:
    """Vendor values seen but not mapped, most frequent first."""
    stmt = (
        select(UnmappedValue)
        .where(UnmappedValue.connection_id == connection_id)
        .order_by(UnmappedValue.count.desc(), UnmappedValue.field, UnmappedValue.value)
    )
    return list(await session.scalars(stmt))


async def upsert_directory(
    session: AsyncSession, *, connection: Connection, kind: str, records: list[dict[str, Any]]
) -> int:
    """Store vendor companies/contacts/devices, linked to MSPclaw clients where confirmed."""
    if not records:
        return 0
    links = Mappings.model_validate(connection.mappings or {}).clients
    rows = []
    for r in records:
        company = r["external_id"] if kind == "client" else r.get("client_external_id")
        rows.append(
            {
                "id": uuid7(),
                "tenant_id": connection.tenant_id,
                "connection_id": connection.id,
                "kind": kind,
                "client_id": links.get(company) if company else None,
                **r,
            }
        )
    # Executemany on the Core table: compiled once and cached, batched by SQLAlchemy
    # (``.values(rows)`` compiled a new statement sized by the vendor's record count).
    stmt = pg_insert(cast(Table, DirectoryRecord.__table__))
    ex = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["connection_id", "kind", "external_id"],
        set_={
            "name": ex.name,
            "client_external_id": ex.client_external_id,
            "client_id": ex.client_id,
            "detail": ex.detail,
            "raw": ex.raw,
            "updated_at": utcnow(),
        },
    )
    await session.execute(stmt, rows)
    return len(rows)
