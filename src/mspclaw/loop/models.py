"""What the loop did for each ticket and run (idempotency, and the trail a technician reads),
where it tells people (notification targets and deliveries), and what end users said (feedback)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.database.base import Base, IdMixin, TenantMixin, utcnow

LoopKind = Literal[
    "started", "suggested", "skipped", "written_back", "escalated", "sla_warning", "feedback", "reopened"
]
#: what a notification target may be told about
SubscribableEvent = Literal["escalation", "sla_warning", "unmatched", "feedback_no"]
NotifyEvent = Literal["escalation", "sla_warning", "unmatched", "feedback_no", "test"]
FeedbackAnswer = Literal["yes", "no", "partial"]
FeedbackSource = Literal["link", "agent", "technician"]


class LoopAction(IdMixin, TenantMixin, Base):
    """One decision of the loop; ``key`` makes every decision happen once."""

    __tablename__ = "loop_actions"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    key: Mapped[str] = mapped_column(String(120))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column()
    kind: Mapped[str] = mapped_column(String(20))
    playbook_id: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(String(1000))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoopActionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    ticket_id: uuid.UUID | None
    run_id: uuid.UUID | None
    kind: LoopKind
    playbook_id: str | None
    reason: str
    detail: dict[str, Any]
    created_at: datetime


class NotifyTarget(IdMixin, TenantMixin, Base):
    """Where escalations go: an apprise URL kept in the vault (``secret_name``), never in this row.

    ``technician_email`` None is the tenant's escalation channel (every escalation); otherwise
    only escalations routed to that technician reach it.
    """

    __tablename__ = "loop_notify_targets"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    scheme: Mapped[str] = mapped_column(String(40))
    technician_email: Mapped[str | None] = mapped_column(String(320))
    events: Mapped[list[str]] = mapped_column(JSONB, default=list)
    secret_name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NotificationDelivery(IdMixin, TenantMixin, Base):
    """One message to one target: sent, or failed with a reason a person can act on."""

    __tablename__ = "loop_notifications"

    target_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("loop_notify_targets.id", ondelete="SET NULL"))
    target_name: Mapped[str] = mapped_column(String(100))
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column()
    event: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(10))
    error: Mapped[str | None] = mapped_column(String(1000))
    title: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunFeedback(IdMixin, TenantMixin, Base):
    """The end user's answer to "did this fix it?" for one run, once per source."""

    __tablename__ = "loop_feedback"
    __table_args__ = (UniqueConstraint("tenant_id", "run_id", "source"),)

    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    client_id: Mapped[uuid.UUID | None] = mapped_column()
    playbook_id: Mapped[str] = mapped_column(String(100))
    answer: Mapped[str] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoopConnectionSettings(IdMixin, TenantMixin, Base):
    """Per PSA connection: whether the loop also posts a public reply (with the feedback link)."""

    __tablename__ = "loop_connection_settings"
    __table_args__ = (UniqueConstraint("tenant_id", "connection_id"),)

    connection_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sync_connections.id", ondelete="CASCADE"))
    public_reply: Mapped[bool] = mapped_column(default=False)
    feedback_link: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# ---------------------------------------------------------------- API schemas

DEFAULT_EVENTS: tuple[SubscribableEvent, ...] = ("escalation", "sla_warning", "feedback_no")


class NotifyTargetSet(BaseModel):
    """Create or replace a target by name; the URL goes to the vault and is never shown again."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")
    url: str = Field(
        min_length=4,
        max_length=2000,
        description="An apprise URL: slack://…, msteams://…, mailtos://…, twilio://…, json://host/path, …",
    )
    technician_email: str | None = Field(
        None, max_length=320, description="Only escalations routed to this technician; empty = every escalation."
    )
    events: list[SubscribableEvent] = Field(default_factory=lambda: list(DEFAULT_EVENTS))
    enabled: bool = True

    @field_validator("technician_email")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.strip().lower() if value else None


class NotifyTargetRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    scheme: str
    technician_email: str | None
    events: list[str]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    target_id: uuid.UUID | None
    target_name: str
    ticket_id: uuid.UUID | None
    run_id: uuid.UUID | None
    event: str
    status: Literal["sent", "failed"]
    error: str | None
    title: str
    created_at: datetime


class FeedbackCreate(BaseModel):
    """An answer recorded for the end user (by the agent's prompt or a technician who asked them)."""

    model_config = ConfigDict(extra="forbid")

    answer: FeedbackAnswer
    source: Literal["agent", "technician"] = "agent"
    comment: str | None = Field(None, max_length=2000)


class FeedbackRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    run_id: uuid.UUID
    ticket_id: uuid.UUID | None
    playbook_id: str
    answer: FeedbackAnswer
    source: FeedbackSource
    comment: str | None
    created_at: datetime


class ConnectionLoopSettings(BaseModel):
    """What the loop writes to one PSA connection besides the internal note."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    public_reply: bool = Field(False, description="Also post a public reply to the end user when a run succeeds.")
    feedback_link: bool = Field(True, description="Put a signed 'did this fix it?' link in the public reply.")
