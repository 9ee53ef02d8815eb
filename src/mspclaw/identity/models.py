"""Tables of the identity domain: caller verifications and one-time secret views.

Neither table ever holds a secret in clear: one-time codes and view tokens are stored as
keyed hashes, and a temporary password only as vault ciphertext that is wiped once viewed.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.database.base import Base, IdMixin, TenantMixin, TimestampMixin


class Verification(IdMixin, TimestampMixin, TenantMixin, Base):
    """One attempt to verify that the caller is the user whose credentials will change."""

    __tablename__ = "identity_verifications"
    __table_args__ = (Index("ix_identity_verifications_run_user", "run_id", "user_ref"),)

    client_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column()
    user_ref: Mapped[str] = mapped_column(String(256))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    #: otp_sms | otp_email | agent_push | technician_attestation
    method: Mapped[str] = mapped_column(String(32))
    #: pending | verified | failed | expired
    status: Mapped[str] = mapped_column(String(16), default="pending")
    code_hash: Mapped[str | None] = mapped_column(String(128))
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=5)
    expires_at: Mapped[datetime] = mapped_column()
    verified_at: Mapped[datetime | None] = mapped_column()
    #: who vouched: the technician (attestation / OTP checker) or the device (push)
    verified_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)


class SecretView(IdMixin, TimestampMixin, TenantMixin, Base):
    """A secret that can be shown exactly once, until it expires."""

    __tablename__ = "identity_secret_views"

    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column()
    user_ref: Mapped[str] = mapped_column(String(256))
    key_id: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column()
    viewed_at: Mapped[datetime | None] = mapped_column()
    #: link (the user via the view link) | technician (shown once in the console)
    viewed_via: Mapped[str | None] = mapped_column(String(16))
