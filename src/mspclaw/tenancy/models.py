"""Tables and API schemas for tenants, clients, sites, contacts and devices."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.database.base import Base, IdMixin, TenantMixin, TimestampMixin
from mspclaw.tenancy.policy import ClientPolicy, ClientStack
from mspclaw.types import Email

DeviceOS = Literal["windows", "macos", "linux", "other"]


class Tenant(IdMixin, TimestampMixin, Base):
    """One MSP: the customer of MSPclaw. Owns everything else."""

    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)


class Client(IdMixin, TimestampMixin, TenantMixin, Base):
    """A company the MSP serves, with its policy and product stack."""

    __tablename__ = "clients"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(253))
    policy: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    stack: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Site(IdMixin, TimestampMixin, TenantMixin, Base):
    """A location of a client."""

    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("tenant_id", "client_id", "name"),)

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str | None] = mapped_column(String(500))


class Contact(IdMixin, TimestampMixin, TenantMixin, Base):
    """A person at a client (the one who raises tickets and whose account tools change)."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    vip: Mapped[bool] = mapped_column(default=False)
    department: Mapped[str | None] = mapped_column(String(200))


class Device(IdMixin, TimestampMixin, TenantMixin, Base):
    """An endpoint or server: the unit an action runs on."""

    __tablename__ = "devices"

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    hostname: Mapped[str] = mapped_column(String(253))
    os: Mapped[str] = mapped_column(String(20), default="other")
    os_version: Mapped[str | None] = mapped_column(String(100))
    serial: Mapped[str | None] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(40), default="workstation")
    last_user: Mapped[str | None] = mapped_column(String(200))
    last_seen_at: Mapped[datetime | None] = mapped_column()
    external_ids: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


# ---------------------------------------------------------------- API schemas


class ORMModel(BaseModel):
    """Read schemas are built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


def _strip_name(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    return value


class TenantRead(ORMModel):
    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    domain: str | None = Field(default=None, max_length=253)
    policy: ClientPolicy = Field(default_factory=ClientPolicy)
    stack: ClientStack = Field(default_factory=ClientStack)

    _name = field_validator("name")(_strip_name)


class ClientUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    domain: str | None = Field(default=None, max_length=253)
    policy: ClientPolicy | None = None
    stack: ClientStack | None = None


class ClientRead(ORMModel):
    id: uuid.UUID
    name: str
    domain: str | None
    policy: ClientPolicy
    stack: ClientStack
    created_at: datetime
    updated_at: datetime


class SiteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    address: str | None = Field(default=None, max_length=500)

    _name = field_validator("name")(_strip_name)


class SiteRead(ORMModel):
    id: uuid.UUID
    client_id: uuid.UUID
    name: str
    address: str | None


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID
    site_id: uuid.UUID | None = None
    name: str = Field(min_length=1, max_length=200)
    email: Email | None = None
    phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9 ()\-.]{3,40}$")
    vip: bool = False
    department: str | None = Field(default=None, max_length=200)

    _name = field_validator("name")(_strip_name)


class ContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: Email | None = None
    phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9 ()\-.]{3,40}$")
    vip: bool | None = None
    department: str | None = Field(default=None, max_length=200)
    site_id: uuid.UUID | None = None


class ContactRead(ORMModel):
    id: uuid.UUID
    client_id: uuid.UUID
    site_id: uuid.UUID | None
    name: str
    email: str | None
    phone: str | None
    vip: bool
    department: str | None


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID
    site_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    hostname: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-_]*$")
    os: DeviceOS = "other"
    os_version: str | None = Field(default=None, max_length=100)
    serial: str | None = Field(default=None, max_length=100)
    role: Literal["workstation", "laptop", "server", "domain_controller", "firewall", "printer", "other"] = (
        "workstation"
    )


class DeviceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    os: DeviceOS | None = None
    os_version: str | None = Field(default=None, max_length=100)
    role: Literal["workstation", "laptop", "server", "domain_controller", "firewall", "printer", "other"] | None = None


class DeviceRead(ORMModel):
    id: uuid.UUID
    client_id: uuid.UUID
    site_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    hostname: str
    os: str
    os_version: str | None
    serial: str | None
    role: str
    last_user: str | None
    last_seen_at: datetime | None
