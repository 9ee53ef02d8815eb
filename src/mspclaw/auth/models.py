"""Tables and API schemas for technicians, API keys and console sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.auth.permissions import Role
from mspclaw.database.base import Base, IdMixin, TenantMixin, TimestampMixin
from mspclaw.types import Email


class Technician(IdMixin, TimestampMixin, TenantMixin, Base):
    """A person at the MSP who logs in: engineer, approver, admin, owner or viewer."""

    __tablename__ = "technicians"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    totp_secret_id: Mapped[uuid.UUID | None] = mapped_column()
    totp_enabled: Mapped[bool] = mapped_column(default=False)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    last_login_at: Mapped[datetime | None] = mapped_column()
    skills: Mapped[list[str]] = mapped_column(ARRAY(String(60)), default=list)
    active: Mapped[bool] = mapped_column(default=True)


class ApiKey(IdMixin, TimestampMixin, TenantMixin, Base):
    """A scoped API key; only a hash of its secret is kept."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(60)))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("technicians.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class LoginSession(IdMixin, TimestampMixin, TenantMixin, Base):
    """A console login: the cookie holds a random token whose hash is stored here."""

    __tablename__ = "login_sessions"

    technician_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("technicians.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


# ---------------------------------------------------------------- API schemas


class TechnicianCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: str = Field(min_length=1, max_length=200)
    role: Role = Role.ENGINEER
    password: str | None = Field(default=None, min_length=12, max_length=256)
    skills: list[str] = Field(default_factory=list, max_length=50)


class TechnicianUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    skills: list[str] | None = Field(default=None, max_length=50)
    active: bool | None = None


class TechnicianRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    role: Role
    totp_enabled: bool
    skills: list[str]
    active: bool
    last_login_at: datetime | None
    created_at: datetime


class TechnicianCreated(TechnicianRead):
    """Returned once on creation when MSPclaw generated the first password."""

    initial_password: str | None = None


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] | None = Field(
        default=None, description="Permissions this key carries; default: all of the creator's."
    )
    expires_in_days: int | None = Field(default=90, ge=1, le=3650)


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyRead):
    """The only response that ever contains the key itself."""

    key: str


class TotpSetup(BaseModel):
    secret: str
    provisioning_uri: str


class TotpConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[0-9]{6}$")
