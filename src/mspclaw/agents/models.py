"""Tables and schemas for enrolment tokens, device credentials and device memory."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.database.base import Base, IdMixin, TenantMixin, TimestampMixin, utcnow


class EnrollmentToken(IdMixin, TimestampMixin, TenantMixin, Base):
    """A client-scoped token an agent trades once for its own credential."""

    __tablename__ = "agent_enrollment_tokens"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column()
    max_uses: Mapped[int] = mapped_column(default=1)
    uses: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str | None] = mapped_column(String(320))
    revoked_at: Mapped[datetime | None] = mapped_column()


class DeviceCredential(IdMixin, TimestampMixin, TenantMixin, Base):
    """The secret a device authenticates its WebSocket with (only its hash is stored)."""

    __tablename__ = "agent_device_credentials"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    enrolled_with: Mapped[uuid.UUID | None] = mapped_column()
    agent_version: Mapped[str | None] = mapped_column(String(40))
    revoked_at: Mapped[datetime | None] = mapped_column()


class DeviceMemory(TimestampMixin, TenantMixin, Base):
    """Facts about a device's user, learnt once and never asked again."""

    __tablename__ = "agent_device_memory"

    device_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    facts: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class GatewaySpill(Base):
    """Routed gateway messages too large for a NOTIFY payload (read by id, pruned after minutes)."""

    __tablename__ = "gateway_spill"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# ---------------------------------------------------------------- schemas


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID
    site_id: uuid.UUID | None = None
    name: str = Field(default="agent enrolment", min_length=1, max_length=200)
    expires_in_hours: int = Field(default=72, ge=1, le=24 * 90)
    max_uses: int = Field(default=1, ge=1, le=100_000)


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    client_id: uuid.UUID
    site_id: uuid.UUID | None
    name: str
    prefix: str
    expires_at: datetime
    max_uses: int
    uses: int
    revoked_at: datetime | None
    created_at: datetime


class TokenCreated(TokenRead):
    """The only response that carries the token itself."""

    token: str


class EnrollRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    token: str = Field(min_length=10, max_length=200)
    hostname: str = Field(min_length=1, max_length=253)
    os: str = Field(max_length=20)
    os_version: str = Field(default="", max_length=100)
    serial: str = Field(default="", max_length=100)
    logged_in_user: str = Field(default="", max_length=200)
    agent_version: str = Field(default="", max_length=40)


class EnrollResponse(BaseModel):
    device_id: str
    device_credential: str
    gateway_url: str


class DeviceMemoryFacts(BaseModel):
    """What the agent (or a technician) learnt about the device's user."""

    model_config = ConfigDict(extra="forbid")

    user_name: str | None = Field(default=None, max_length=200)
    department: str | None = Field(default=None, max_length=200)
    location: str | None = Field(default=None, max_length=200)
    preferred_contact: Literal["email", "sms", "phone", "teams", "slack", "agent"] | None = None


class PresenceRead(BaseModel):
    device_id: uuid.UUID
    presence: Literal["online", "overdue", "offline"]
    last_seen_at: datetime | None
    agent_enrolled: bool
    agent_revoked: bool


class AssetQuery(BaseModel):
    """What a ticket tells us about the device it concerns."""

    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID
    contact_email: str | None = Field(default=None, max_length=320)
    contact_id: uuid.UUID | None = None
    configuration_item: str | None = Field(default=None, max_length=200, description="PSA configuration item id.")
    rmm_device_id: str | None = Field(default=None, max_length=200, description="RMM device id from an alert.")
    hostname: str | None = Field(default=None, max_length=253)


class AssetCandidate(BaseModel):
    device_id: uuid.UUID
    hostname: str
    os: str


class AssetResolution(BaseModel):
    device: AssetCandidate | None
    reason: str
    ask_technician: bool
    candidates: list[AssetCandidate]
