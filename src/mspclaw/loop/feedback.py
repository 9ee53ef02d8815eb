"""Resolution feedback: signed "did this fix it?" links, per-connection reply settings, and the
stored answers.

A link token is ``base64url(payload).base64url(hmac)``: the payload names the tenant, the run, an
expiry and the master key id; the HMAC key is derived from that master key, so a token cannot be
forged, moved to another tenant's run, or used after it expires. Nothing secret is inside it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.database.base import utcnow
from mspclaw.errors import MSPclawError
from mspclaw.loop.models import ConnectionLoopSettings, LoopConnectionSettings, RunFeedback
from mspclaw.vault.keys import Keyring, VaultError

LINK_TTL = timedelta(days=14)
_PURPOSE = b"mspclaw/loop-feedback/v1"


class LinkInvalid(MSPclawError):
    """The link was altered, has expired, or was never issued (told apart only in the audit-free reason)."""

    code = "feedback_link_invalid"
    status_code = 410


@dataclass(frozen=True)
class LinkClaims:
    tenant_id: uuid.UUID
    run_id: uuid.UUID
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(ring: Keyring, key_id: str, payload: bytes) -> bytes:
    key = hmac.new(ring.get(key_id), _PURPOSE, hashlib.sha256).digest()  # never the vault key itself
    return hmac.new(key, payload, hashlib.sha256).digest()


def sign_link(
    ring: Keyring, *, tenant_id: uuid.UUID, run_id: uuid.UUID, now: datetime | None = None, ttl: timedelta = LINK_TTL
) -> str:
    """A token for one run's feedback link."""
    expires = int(((now or utcnow()) + ttl).timestamp())
    payload = json.dumps(
        {"t": tenant_id.hex, "r": run_id.hex, "e": expires, "k": ring.primary_id}, separators=(",", ":")
    ).encode()
    return f"{_b64(payload)}.{_b64(_mac(ring, ring.primary_id, payload))}"


def verify_link(ring: Keyring, token: str, *, now: datetime | None = None) -> LinkClaims:
    """The claims of a genuine, unexpired token; LinkInvalid otherwise."""
    invalid = LinkInvalid("this link is not valid (it may be incomplete); ask IT support for a new one")
    body, _, sig = token.partition(".")
    try:
        payload = _unb64(body)
        data = json.loads(payload)
        expected = _mac(ring, str(data["k"]), payload)
        claims = LinkClaims(
            uuid.UUID(hex=data["t"]),
            uuid.UUID(hex=data["r"]),
            datetime.fromtimestamp(int(data["e"]), tz=utcnow().tzinfo),
        )
    except (ValueError, KeyError, TypeError, VaultError):
        raise invalid from None
    if not hmac.compare_digest(expected, _unb64(sig) if sig else b""):
        raise invalid
    if (now or utcnow()) > claims.expires_at:
        raise LinkInvalid("this link has expired; reply to your ticket instead")
    return claims


def link_url(base_url: str, token: str) -> str:
    """Where the end user opens the link."""
    return f"{base_url.rstrip('/')}/api/v1/feedback/{token}"


async def get_settings(session: AsyncSession, *, connection_id: uuid.UUID) -> ConnectionLoopSettings:
    """The connection's loop settings (defaults when never set)."""
    row = await session.scalar(
        select(LoopConnectionSettings).where(LoopConnectionSettings.connection_id == connection_id)
    )
    return ConnectionLoopSettings.model_validate(row) if row else ConnectionLoopSettings()


async def put_settings(
    session: AsyncSession, *, connection_id: uuid.UUID, data: ConnectionLoopSettings
) -> ConnectionLoopSettings:
    """Replace the connection's loop settings."""
    row = await session.scalar(
        select(LoopConnectionSettings).where(LoopConnectionSettings.connection_id == connection_id)
    )
    if row is None:
        row = LoopConnectionSettings(connection_id=connection_id)
        session.add(row)
    row.public_reply, row.feedback_link = data.public_reply, data.feedback_link
    await session.flush()
    return ConnectionLoopSettings.model_validate(row)


async def answers_of(session: AsyncSession, *, run_id: uuid.UUID) -> list[RunFeedback]:
    """Every answer recorded for a run, oldest first."""
    query = select(RunFeedback).where(RunFeedback.run_id == run_id).order_by(RunFeedback.created_at)
    return list((await session.scalars(query)).all())
