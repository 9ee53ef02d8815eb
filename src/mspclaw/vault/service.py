"""Store, read and rotate tenant secrets. Plaintext exists only in memory, only here."""

from __future__ import annotations

import os
import uuid

import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mspclaw.database.session import tenant_of, tenant_session
from mspclaw.errors import NotFound
from mspclaw.vault.keys import Keyring, VaultError, new_key
from mspclaw.vault.models import Secret

log = structlog.get_logger(__name__)


def _aad(tenant_id: uuid.UUID, name: str) -> bytes:
    # Binding the ciphertext to its tenant and name stops a row being copied elsewhere.
    return f"{tenant_id}:{name}".encode()


def encrypt(ring: Keyring, tenant_id: uuid.UUID, name: str, value: str) -> tuple[str, bytes, bytes]:
    """Encrypt under the primary key: (key id, nonce, ciphertext)."""
    nonce = os.urandom(12)
    ciphertext = AESGCM(ring.primary).encrypt(nonce, value.encode(), _aad(tenant_id, name))
    return ring.primary_id, nonce, ciphertext


def decrypt(ring: Keyring, secret: Secret) -> str:
    """Decrypt one row; tampering or a wrong key raises VaultError without details."""
    from cryptography.exceptions import InvalidTag

    try:
        plain = AESGCM(ring.get(secret.key_id)).decrypt(
            secret.nonce, secret.ciphertext, _aad(secret.tenant_id, secret.name)
        )
    except InvalidTag:
        raise VaultError(f"secret {secret.name!r} cannot be decrypted (altered, or wrong master key)") from None
    return plain.decode()


async def put(session: AsyncSession, ring: Keyring, *, name: str, value: str) -> Secret:
    """Create or replace the secret ``name`` in the session's tenant."""
    tenant_id = tenant_of(session)
    if tenant_id is None:
        raise VaultError("secrets can only be written in a tenant-bound session")
    key_id, nonce, ciphertext = encrypt(ring, tenant_id, name, value)
    existing = await session.scalar(select(Secret).where(Secret.name == name))
    if existing is None:
        existing = Secret(tenant_id=tenant_id, name=name, key_id=key_id, nonce=nonce, ciphertext=ciphertext)
        session.add(existing)
    else:
        existing.key_id, existing.nonce, existing.ciphertext = key_id, nonce, ciphertext
    await session.flush()
    return existing


async def get_value(session: AsyncSession, ring: Keyring, *, name: str) -> str:
    """The plaintext of ``name``; NotFound when absent."""
    secret = await session.scalar(select(Secret).where(Secret.name == name))
    if secret is None:
        raise NotFound(f"no secret named {name!r}")
    return decrypt(ring, secret)


async def get_by_id_value(session: AsyncSession, ring: Keyring, *, secret_id: uuid.UUID) -> str:
    """The plaintext of the secret with this id; NotFound when absent."""
    secret = await session.get(Secret, secret_id)
    if secret is None:
        raise NotFound("secret not found")
    return decrypt(ring, secret)


async def list_names(session: AsyncSession) -> list[Secret]:
    """Secrets of the session's tenant (rows carry no plaintext)."""
    return list((await session.scalars(select(Secret).order_by(Secret.name))).all())


async def delete(session: AsyncSession, *, name: str) -> Secret:
    """Delete ``name``; NotFound when absent."""
    secret = await session.scalar(select(Secret).where(Secret.name == name))
    if secret is None:
        raise NotFound(f"no secret named {name!r}")
    await session.delete(secret)
    await session.flush()
    return secret


async def rotate(factory: async_sessionmaker[AsyncSession], ring: Keyring, *, generate: bool) -> dict[str, int]:
    """Re-encrypt every secret under the primary key, one short transaction per secret.

    Readers keep working throughout: until a row is rewritten its old key still decrypts it.
    With ``generate`` a new primary key is created and saved first; retired keys are dropped
    from a file keyring once nothing uses them.
    """
    if generate:
        ring.keys.insert(0, new_key())
        ring.save()
    rotated = 0
    # Two sweeps: a process that had not yet seen the new keyring may have written a secret
    # under the old primary while the first sweep ran.
    for _sweep in range(2):
        async with tenant_session(factory, None) as session:
            ids = list((await session.scalars(select(Secret.id).where(Secret.key_id != ring.primary_id))).all())
        for secret_id in ids:
            async with tenant_session(factory, None) as session, session.begin():
                secret = await session.get(Secret, secret_id, with_for_update=True)
                if secret is None or secret.key_id == ring.primary_id:
                    continue
                value = decrypt(ring, secret)
                secret.key_id, secret.nonce, secret.ciphertext = encrypt(ring, secret.tenant_id, secret.name, value)
                rotated += 1
    retired = 0
    if ring.path is not None and len(ring.keys) > 1:
        retired = len(ring.keys) - 1
        ring.keys[:] = ring.keys[:1]
        ring.save()
    log.info("vault_rotated", rotated=rotated, retired_keys=retired, primary_key_id=ring.primary_id)
    return {"rotated": rotated, "retired_keys": retired}
