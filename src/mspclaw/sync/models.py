"""Sync tables and schemas: connections (config without secrets, mappings, hook path),
cursors, unmapped vendor values, inbound webhook deliveries, directory records and
command-mode script runs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.connectors.models import TicketPriority, TicketStatus
from mspclaw.database.base import Base, IdMixin, TenantMixin, TimestampMixin
from mspclaw.tickets import models as ticket_models  # noqa: F401 - registers the mirror tables


class Connection(IdMixin, TimestampMixin, TenantMixin, Base):
    """One configured vendor instance. Secret settings live in the vault, never here."""

    __tablename__ = "sync_connections"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    connector: Mapped[str] = mapped_column(String(63))
    name: Mapped[str] = mapped_column(String(200))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    secret_fields: Mapped[list[str]] = mapped_column(JSONB, default=list)
    mappings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    hook_path: Mapped[str] = mapped_column(String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    poll_interval_seconds: Mapped[int] = mapped_column(Integer, default=300)
    overlap_seconds: Mapped[int] = mapped_column(Integer, default=120)
    stale_hours: Mapped[int] = mapped_column(Integer, default=24)
    reconcile_hours: Mapped[int] = mapped_column(Integer, default=24)
    last_poll_at: Mapped[datetime | None] = mapped_column()
    last_success_at: Mapped[datetime | None] = mapped_column()
    last_reconcile_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


class SyncCursor(IdMixin, TenantMixin, Base):
    """Where the next incremental read of one stream starts (vendor clock); the ``notes``
    stream instead keeps the tickets whose notes are still to be read."""

    __tablename__ = "sync_cursors"
    __table_args__ = (UniqueConstraint("connection_id", "stream"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_connections.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(30))
    updated_since: Mapped[datetime | None] = mapped_column()
    runs: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column()
    #: Stream ``notes``: vendor ids of tickets whose notes are still to be read, oldest first.
    pending: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))


class UnmappedValue(IdMixin, TenantMixin, Base):
    """A vendor status/priority the connection's mapping does not cover (never coerced)."""

    __tablename__ = "sync_unmapped_values"
    __table_args__ = (UniqueConstraint("connection_id", "field", "value"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_connections.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(200))
    count: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[datetime] = mapped_column()
    last_seen: Mapped[datetime] = mapped_column()
    example_external_id: Mapped[str | None] = mapped_column(String(200))


class WebhookDelivery(IdMixin, TenantMixin, Base):
    """A verified inbound delivery, stored raw before processing. The unique
    (connection, event key) pair is the replay guard."""

    __tablename__ = "sync_webhook_deliveries"
    __table_args__ = (UniqueConstraint("connection_id", "event_key"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_connections.id", ondelete="CASCADE"))
    event_key: Mapped[str] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column()
    headers: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    processed_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(Text)


class DirectoryRecord(IdMixin, TimestampMixin, TenantMixin, Base):
    """A vendor company, contact or device, linked to the MSPclaw client once mapped."""

    __tablename__ = "sync_directory"
    __table_args__ = (UniqueConstraint("connection_id", "kind", "external_id"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_connections.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    external_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    client_external_id: Mapped[str | None] = mapped_column(String(200))
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class ScriptRun(IdMixin, TimestampMixin, TenantMixin, Base):
    """Command mode: one script run on an RMM device, polled until a result or timeout."""

    __tablename__ = "sync_script_runs"

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_connections.id", ondelete="CASCADE"))
    device_external_id: Mapped[str] = mapped_column(String(200))
    script: Mapped[str] = mapped_column(String(300))
    args: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(20))
    handle: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    output: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    deadline: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    polls: Mapped[int] = mapped_column(Integer, default=0)


# --- API schemas ------------------------------------------------------------------------


class Mappings(BaseModel):
    """Per-connection mappings (vendor value → normalised value; confirmed client links)."""

    status: dict[str, TicketStatus] = Field(default_factory=dict)
    priority: dict[str, TicketPriority] = Field(default_factory=dict)
    queues: list[str] = Field(default_factory=list, description="Only sync these boards/queues (empty: all).")
    clients: dict[str, uuid.UUID] = Field(
        default_factory=dict, description="Confirmed vendor company id → MSPclaw client id."
    )


class ConnectionCreate(BaseModel):
    """A new connection: settings (secret fields included) are tested before anything is saved."""

    model_config = ConfigDict(extra="forbid")

    connector: str = Field(examples=["superops"])
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(description="Settings per the connector spec's config schema.")
    poll_interval_seconds: int = Field(300, ge=30, le=86_400)
    overlap_seconds: int = Field(120, ge=0, le=86_400)
    stale_hours: int = Field(24, ge=1, le=24 * 90)


class ConnectionUpdate(BaseModel):
    """Tuning a connection; settings changes go through delete + add (they are re-tested)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    poll_interval_seconds: int | None = Field(None, ge=30, le=86_400)
    overlap_seconds: int | None = Field(None, ge=0, le=86_400)
    stale_hours: int | None = Field(None, ge=1, le=24 * 90)


class ConnectionRead(BaseModel):
    """A connection as shown to people: no secret value, ever."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    connector: str
    name: str
    config: dict[str, Any]
    secret_fields: list[str]
    mappings: Mappings
    enabled: bool
    poll_interval_seconds: int
    overlap_seconds: int
    stale_hours: int
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    webhook_path: str | None = Field(None, description="Where the vendor should POST (shown to the owner only).")
    created_at: datetime


class UnmappedRead(BaseModel):
    """A vendor value seen but not mapped."""

    model_config = ConfigDict(from_attributes=True)

    field: str
    value: str
    count: int
    first_seen: datetime
    last_seen: datetime
    example_external_id: str | None


class ClientMatchRead(BaseModel):
    """A proposed vendor company → MSPclaw client link awaiting confirmation."""

    vendor_external_id: str
    vendor_name: str
    client_id: uuid.UUID
    client_name: str
    score: float
    reason: str


class ClientLinkConfirm(BaseModel):
    """Confirm (or set) the MSPclaw client for a vendor company."""

    model_config = ConfigDict(extra="forbid")

    vendor_external_id: str = Field(min_length=1, max_length=200)
    client_id: uuid.UUID


class SyncResult(BaseModel):
    """What one sync run did."""

    tickets_seen: int = 0
    tickets_changed: int = 0
    alerts_seen: int = 0
    alerts_changed: int = 0
    deleted: int = 0
    stale: int = 0
    pages: int = 0
    events: int = 0
    notes_read: int = Field(0, description="Tickets whose notes this run read (at most the per-run cap).")
    notes_added: int = 0
    notes_pending: int = Field(0, description="Tickets whose notes wait for the next run.")


class ScriptRunCreate(BaseModel):
    """Run a saved script on an RMM device through the connection."""

    model_config = ConfigDict(extra="forbid")

    device_external_id: str = Field(min_length=1, max_length=200)
    script: str = Field(min_length=1, max_length=300)
    args: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: int = Field(300, ge=5, le=86_400)


class ScriptRunRead(BaseModel):
    """A tracked script run."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    connection_id: uuid.UUID
    device_external_id: str
    script: str
    args: dict[str, Any]
    status: Literal["pending", "running", "succeeded", "failed", "timed_out"] | str
    output: str | None
    exit_code: int | None
    deadline: datetime
    finished_at: datetime | None
    created_at: datetime
