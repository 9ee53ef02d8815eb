"""The encrypted-secret table and its API schemas (which never carry a secret's value out)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.database.base import Base, IdMixin, TenantMixin, TimestampMixin


class Secret(IdMixin, TimestampMixin, TenantMixin, Base):
    """One secret value, encrypted with the master key named by ``key_id``."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    key_id: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class SecretWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$")
    value: str = Field(min_length=1, max_length=65_536, repr=False)


class SecretRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    key_id: str
    created_at: datetime
    updated_at: datetime
