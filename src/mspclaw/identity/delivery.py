"""Temporary passwords: generate them, and hand them over exactly once.

The password is stored only as vault ciphertext behind a random view token (kept as a hash);
opening the view — the user's link or the technician's one-time reveal — decrypts it, wipes the
ciphertext in the same transaction, and every later request gets "gone".
"""

from __future__ import annotations

import hashlib
import secrets
import string
import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.database.base import utcnow
from mspclaw.database.session import tenant_of
from mspclaw.errors import MSPclawError, NotFound
from mspclaw.identity.models import SecretView
from mspclaw.vault import service as vault
from mspclaw.vault.keys import Keyring
from mspclaw.vault.models import Secret

VIEW_TTL = timedelta(hours=24)
_SYMBOLS = "!#%+-=?@^_"
# no look-alikes (0/O, 1/l/I): people type these from a phone screen
_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI") + _SYMBOLS


class SecretGone(MSPclawError):
    """The view was already opened, has expired, or never existed (indistinguishable on purpose)."""

    code = "secret_gone"
    status_code = 410


def generate_password(length: int = 16) -> str:
    """A random password with upper, lower, digit and symbol (what every directory's policy wants)."""
    while True:
        candidate = "".join(secrets.choice(_ALPHABET) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and any(c in _SYMBOLS for c in candidate)
        ):
            return candidate


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aad_name(view_id: uuid.UUID) -> str:
    return f"secret-view:{view_id}"


async def create_view(
    session: AsyncSession, ring: Keyring, *, user: str, secret: str, run_id: uuid.UUID | None, ttl: timedelta = VIEW_TTL
) -> tuple[SecretView, str]:
    """Store ``secret`` for one viewing; returns the row and the token (for the link only)."""
    tenant_id = tenant_of(session)
    if tenant_id is None:
        raise MSPclawError("secret views are created in a tenant-bound session")
    view_id = uuid.uuid4()
    key_id, nonce, ciphertext = vault.encrypt(ring, tenant_id, _aad_name(view_id), secret)
    token = secrets.token_urlsafe(32)
    row = SecretView(
        id=view_id,
        token_hash=_token_hash(token),
        run_id=run_id,
        user_ref=user,
        key_id=key_id,
        nonce=nonce,
        ciphertext=ciphertext,
        expires_at=utcnow() + ttl,
    )
    session.add(row)
    await session.flush()
    return row, token


def _consume(ring: Keyring, row: SecretView | None, via: str) -> str:
    if row is None or row.viewed_at is not None or utcnow() > row.expires_at or not row.ciphertext:
        raise SecretGone("this link has already been used or has expired; ask IT support for a new one")
    plain = vault.decrypt(
        ring,
        Secret(
            tenant_id=row.tenant_id,
            name=_aad_name(row.id),
            key_id=row.key_id,
            nonce=row.nonce,
            ciphertext=row.ciphertext,
        ),
    )
    row.viewed_at, row.viewed_via, row.ciphertext, row.nonce = utcnow(), via, b"", b""
    return plain


async def open_by_token(session: AsyncSession, ring: Keyring, *, token: str) -> tuple[SecretView, str]:
    """The user's link: the secret once, then SecretGone. Runs in a system session (no tenant yet)."""
    row = await session.scalar(select(SecretView).where(SecretView.token_hash == _token_hash(token)).with_for_update())
    plain = _consume(ring, row, "link")
    assert row is not None
    return row, plain


async def open_for_technician(session: AsyncSession, ring: Keyring, *, view_id: uuid.UUID) -> tuple[SecretView, str]:
    """The technician's one-time reveal (same one-time semantics as the link)."""
    row = await session.scalar(select(SecretView).where(SecretView.id == view_id).with_for_update())
    if row is None:
        raise NotFound("secret view not found")
    plain = _consume(ring, row, "technician")
    assert row is not None
    return row, plain
