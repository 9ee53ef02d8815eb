"""The normalised mirror of PSA/RMM data: tickets, notes, alerts, and the internal events
every real change emits. Rows keep the vendor's raw payload and raw status/priority.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.database.base import Base, IdMixin, TenantMixin, TimestampMixin


class Ticket(IdMixin, TimestampMixin, TenantMixin, Base):
    """A PSA ticket as last seen; ``vendor_updated_at`` orders updates (older never wins)."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("connection_id", "external_id"),
        Index("ix_tickets_tenant_status_updated", "tenant_id", "status", "vendor_updated_at"),
    )

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_connections.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    number: Mapped[str | None] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(20))
    raw_status: Mapped[str | None] = mapped_column(String(200))
    priority: Mapped[str | None] = mapped_column(String(20))
    raw_priority: Mapped[str | None] = mapped_column(String(200))
    client_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"))
    client_external_id: Mapped[str | None] = mapped_column(String(200))
    contact_external_id: Mapped[str | None] = mapped_column(String(200))
    assignee: Mapped[str | None] = mapped_column(String(200))
    queue: Mapped[str | None] = mapped_column(String(200))
    vendor_created_at: Mapped[datetime | None] = mapped_column()
    vendor_updated_at: Mapped[datetime] = mapped_column()
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    deleted_at: Mapped[datetime | None] = mapped_column()
    stale_reported_at: Mapped[datetime | None] = mapped_column()


class TicketNote(IdMixin, TimestampMixin, TenantMixin, Base):
    """A note on a ticket (``internal``: technicians only)."""

    __tablename__ = "ticket_notes"
    __table_args__ = (UniqueConstraint("connection_id", "external_id"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_connections.id", ondelete="CASCADE"))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(200))
    ticket_external_id: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    internal: Mapped[bool] = mapped_column()
    author: Mapped[str | None] = mapped_column(String(200))
    vendor_created_at: Mapped[datetime | None] = mapped_column()
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Alert(IdMixin, TimestampMixin, TenantMixin, Base):
    """An RMM alert; ``open`` flips to false when the vendor resolves or drops it."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("connection_id", "external_id"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_connections.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(200))
    device_external_id: Mapped[str | None] = mapped_column(String(200))
    client_external_id: Mapped[str | None] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    raw_severity: Mapped[str | None] = mapped_column(String(100))
    open: Mapped[bool] = mapped_column(default=True)
    vendor_created_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Event(IdMixin, TenantMixin, Base):
    """An internal event (``ticket.created``, ``note.added``, ``alert.raised`` …) that later
    stages consume; one procrastinate job per event is enqueued in the same transaction."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_tenant_kind_created", "tenant_id", "kind", "created_at"),)

    connection_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sync_connections.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[uuid.UUID | None] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column()
    published_at: Mapped[datetime | None] = mapped_column()


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TicketRead(_Read):
    """A normalised ticket as the API returns it."""

    id: uuid.UUID
    connection_id: uuid.UUID
    external_id: str
    number: str | None
    subject: str
    description: str | None
    status: str | None
    raw_status: str | None
    priority: str | None
    raw_priority: str | None
    client_id: uuid.UUID | None
    client_external_id: str | None
    contact_external_id: str | None
    assignee: str | None
    queue: str | None
    vendor_created_at: datetime | None
    vendor_updated_at: datetime
    deleted_at: datetime | None
    raw: dict[str, Any]


class NoteRead(_Read):
    """A ticket note."""

    id: uuid.UUID
    ticket_id: uuid.UUID | None
    external_id: str
    body: str
    internal: bool
    author: str | None
    vendor_created_at: datetime | None


class AlertRead(_Read):
    """A normalised alert."""

    id: uuid.UUID
    connection_id: uuid.UUID
    external_id: str
    device_external_id: str | None
    client_external_id: str | None
    message: str
    raw_severity: str | None
    open: bool
    vendor_created_at: datetime | None
    resolved_at: datetime | None
    raw: dict[str, Any]


class EventRead(_Read):
    """An internal event."""

    id: uuid.UUID
    connection_id: uuid.UUID | None
    kind: str
    subject_type: str
    subject_id: uuid.UUID | None
    payload: dict[str, Any]
    created_at: datetime
    published_at: datetime | None
