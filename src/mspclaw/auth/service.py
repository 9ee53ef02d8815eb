"""Technicians, password and TOTP checks, API keys and console sessions."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.audit.service import Actor
from mspclaw.auth.models import (
    ApiKey,
    ApiKeyCreate,
    LoginSession,
    Technician,
    TechnicianCreate,
    TechnicianUpdate,
)
from mspclaw.auth.permissions import ALL_PERMISSIONS, Role, permissions_for
from mspclaw.auth.principal import Principal
from mspclaw.database.base import utcnow
from mspclaw.errors import (
    Conflict,
    InvalidInput,
    MSPclawError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from mspclaw.tenancy.service import flush_or_conflict
from mspclaw.vault import service as vault
from mspclaw.vault.keys import Keyring

_hasher = PasswordHasher()
_DUMMY_PASSWORD = "not-a-real-password-used-for-timing"  # noqa: S105 - hashed for constant-time misses


@functools.cache
def _dummy_hash() -> str:
    # Computed on first use, not at import: hashing costs ~0.1 s and the CLI imports this module.
    return _hasher.hash(_DUMMY_PASSWORD)


KEY_PREFIX = "mspc"


class AccountLocked(MSPclawError):
    """Too many failed logins: the account is locked for a while."""

    code = "account_locked"
    status_code = 429


class TotpRequired(MSPclawError):
    """The password was right; a TOTP code is needed too."""

    code = "totp_required"
    status_code = 401


def hash_password(password: str) -> str:
    """Argon2id hash."""
    return _hasher.hash(password)


def generate_password() -> str:
    """A random password people can type: 20 URL-safe characters."""
    return secrets.token_urlsafe(15)


def sha256(value: str) -> str:
    """Hex SHA-256, for high-entropy tokens (keys, session ids)."""
    return hashlib.sha256(value.encode()).hexdigest()


# ---------------------------------------------------------------- technicians


async def create_technician(session: AsyncSession, *, data: TechnicianCreate) -> tuple[Technician, str | None]:
    """Create a technician; returns the generated password when none was given."""
    email = str(data.email).lower()
    if await session.scalar(select(Technician).where(Technician.email == email)):
        raise Conflict(f"a technician with e-mail {email} already exists")
    generated = None if data.password else generate_password()
    tech = Technician(
        email=email,
        name=data.name.strip(),
        role=data.role.value,
        password_hash=hash_password(data.password or generated or ""),
        skills=data.skills,
    )
    session.add(tech)
    await flush_or_conflict(session, f"a technician with e-mail {email} already exists")
    return tech, generated


async def get_technician(session: AsyncSession, *, ref: str) -> Technician:
    """A technician of this tenant by e-mail or id."""
    try:
        query = select(Technician).where(Technician.id == uuid.UUID(ref))
    except ValueError:
        query = select(Technician).where(Technician.email == ref.lower())
    tech = await session.scalar(query)
    if tech is None:
        raise NotFound(f"technician {ref} not found")
    return tech


async def count_owners(session: AsyncSession) -> int:
    """Active owners of the session's tenant."""
    rows = await session.scalars(select(Technician.id).where(Technician.role == Role.OWNER, Technician.active))
    return len(rows.all())


async def update_technician(
    session: AsyncSession, *, tech: Technician, data: TechnicianUpdate, by: Principal | None
) -> Technician:
    """Change name, role, skills or active flag, keeping at least one owner."""
    if data.role is not None and data.role != tech.role:
        if by is not None and Role.OWNER in (data.role, tech.role) and not by.can("technicians.grant_owner"):
            raise PermissionDenied("only an owner can grant or remove the owner role")
        if tech.role == Role.OWNER and await count_owners(session) <= 1:
            raise Conflict("this is the tenant's last owner; make someone else owner first")
        tech.role = data.role.value
    if data.active is False and tech.role == Role.OWNER and await count_owners(session) <= 1:
        raise Conflict("this is the tenant's last owner; it cannot be deactivated")
    if data.name is not None:
        tech.name = data.name.strip()
    if data.skills is not None:
        tech.skills = data.skills
    if data.active is not None:
        tech.active = data.active
    await session.flush()
    return tech


async def remove_technician(session: AsyncSession, *, tech: Technician, by: Principal | None) -> None:
    """Delete a technician (never the last owner); their sessions and keys go with them."""
    if tech.role == Role.OWNER:
        if by is not None and not by.can("technicians.grant_owner"):
            raise PermissionDenied("only an owner can remove an owner")
        if await count_owners(session) <= 1:
            raise Conflict("this is the tenant's last owner; make someone else owner first")
    keys = await session.scalars(select(ApiKey).where(ApiKey.created_by == tech.id, ApiKey.revoked_at.is_(None)))
    for key in keys.all():
        key.revoked_at = utcnow()
    await session.delete(tech)
    await session.flush()


def technician_principal(tech: Technician) -> Principal:
    """The principal a logged-in technician acts as."""
    return Principal(
        tenant_id=tech.tenant_id,
        actor=Actor("technician", str(tech.id), tech.email),
        permissions=permissions_for(tech.role),
        role=tech.role,
        technician_id=tech.id,
    )


# ---------------------------------------------------------------- login


async def authenticate_password(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    totp_code: str | None,
    keyring: Keyring,
    max_failures: int,
    lockout_minutes: int,
) -> Technician:
    """Check e-mail + password (+ TOTP); counts failures and locks the account after too many.

    Runs in a system-scope session: the tenant is not known until the technician is found.
    """
    now = utcnow()
    candidates = list(
        (await session.scalars(select(Technician).where(Technician.email == email.strip().lower()))).all()
    )
    if not candidates:
        _safe_verify(_dummy_hash(), password)  # same work as a real check: no timing oracle
        raise Unauthenticated("wrong e-mail or password")
    for tech in candidates:
        if tech.locked_until is not None and tech.locked_until > now:
            continue
        if tech.active and tech.password_hash and _safe_verify(tech.password_hash, password):
            if tech.totp_enabled:
                if not totp_code:
                    raise TotpRequired("enter the 6-digit code from your authenticator app")
                secret = await vault.get_by_id_value(_bind(session, tech), keyring, secret_id=tech.totp_secret_id)  # type: ignore[arg-type]
                if not pyotp.TOTP(secret).verify(totp_code, valid_window=1):
                    _count_failure(tech, max_failures, lockout_minutes)
                    await session.flush()
                    raise Unauthenticated("wrong authenticator code")
            tech.failed_logins = 0
            tech.locked_until = None
            tech.last_login_at = now
            await session.flush()
            return tech
    locked = False
    for tech in candidates:
        if tech.locked_until is not None and tech.locked_until > now:
            locked = True
            continue
        _count_failure(tech, max_failures, lockout_minutes)
        locked = locked or (tech.locked_until is not None and tech.locked_until > now)
    await session.flush()
    if locked:
        raise AccountLocked(
            f"too many failed sign-ins; the account is locked for up to {lockout_minutes} minutes",
        )
    raise Unauthenticated("wrong e-mail or password")


def _bind(session: AsyncSession, tech: Technician) -> AsyncSession:
    # The vault reads through the tenant-scoped layer; a login session starts unscoped.
    session.info["tenant_id"] = tech.tenant_id
    return session


def _safe_verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _count_failure(tech: Technician, max_failures: int, lockout_minutes: int) -> None:
    tech.failed_logins += 1
    if tech.failed_logins >= max_failures:
        tech.locked_until = utcnow() + timedelta(minutes=lockout_minutes)
        tech.failed_logins = 0


async def create_login_session(session: AsyncSession, *, tech: Technician, hours: int) -> tuple[LoginSession, str]:
    """A new console session; returns the row and the cookie token (shown only here)."""
    token = secrets.token_urlsafe(32)
    row = LoginSession(
        tenant_id=tech.tenant_id,
        technician_id=tech.id,
        token_hash=sha256(token),
        csrf_token=secrets.token_urlsafe(24),
        expires_at=utcnow() + timedelta(hours=hours),
    )
    session.add(row)
    await session.flush()
    return row, token


async def resolve_login_session(session: AsyncSession, *, token: str) -> tuple[LoginSession, Technician] | None:
    """The live session and technician for a cookie token, or None."""
    row = await session.scalar(select(LoginSession).where(LoginSession.token_hash == sha256(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    tech = await session.scalar(
        select(Technician).where(Technician.id == row.technician_id).execution_options(skip_tenant_scope=True)
    )
    if tech is None or not tech.active:
        return None
    return row, tech


# ---------------------------------------------------------------- TOTP


async def begin_totp(session: AsyncSession, *, tech: Technician, keyring: Keyring, issuer: str) -> tuple[str, str]:
    """Store a new (not yet enabled) TOTP secret in the vault; returns secret and otpauth URI."""
    secret = pyotp.random_base32()
    row = await vault.put(session, keyring, name=f"technician/{tech.id}/totp", value=secret)
    tech.totp_secret_id = row.id
    tech.totp_enabled = False
    await session.flush()
    return secret, pyotp.TOTP(secret).provisioning_uri(name=tech.email, issuer_name=issuer)


async def confirm_totp(session: AsyncSession, *, tech: Technician, keyring: Keyring, code: str) -> None:
    """Enable TOTP once the technician proves their app shows the right code."""
    if tech.totp_secret_id is None:
        raise Conflict("start TOTP set-up first (POST /api/v1/me/totp)")
    secret = await vault.get_by_id_value(session, keyring, secret_id=tech.totp_secret_id)
    if not pyotp.TOTP(secret).verify(code, valid_window=1):
        raise InvalidInput("that code does not match; check the time on your phone and try the next code")
    tech.totp_enabled = True
    await session.flush()


# ---------------------------------------------------------------- API keys


async def create_api_key(session: AsyncSession, *, data: ApiKeyCreate, creator: Principal) -> tuple[ApiKey, str]:
    """Create a key no wider than its creator; returns the row and the key (shown once)."""
    scopes = sorted(creator.permissions if data.scopes is None else set(data.scopes))
    unknown = sorted(set(scopes) - ALL_PERMISSIONS)
    if unknown:
        raise InvalidInput(f"unknown scopes: {', '.join(unknown)}", detail={"unknown_scopes": unknown})
    wider = sorted(set(scopes) - creator.permissions)
    if wider:
        raise PermissionDenied(
            f"a key cannot carry permissions its creator lacks: {', '.join(wider)}",
            detail={"scopes": wider},
        )
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        name=data.name.strip(),
        prefix=prefix,
        secret_hash=sha256(secret),
        scopes=scopes,
        created_by=creator.technician_id,
        expires_at=utcnow() + timedelta(days=data.expires_in_days) if data.expires_in_days else None,
    )
    session.add(key)
    await session.flush()
    return key, f"{KEY_PREFIX}_{prefix}_{secret}"


async def resolve_api_key(session: AsyncSession, *, presented: str) -> Principal | None:
    """The principal for a presented key, or None when unknown, revoked or expired."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    _, prefix, secret = parts
    key = await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not hmac.compare_digest(key.secret_hash, sha256(secret)):
        return None
    now = utcnow()
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    permissions = frozenset(key.scopes)
    if key.created_by is not None:
        # A key never outranks its technician: a demoted or deactivated creator narrows it at once.
        creator = await session.scalar(
            select(Technician).where(Technician.id == key.created_by).execution_options(skip_tenant_scope=True)
        )
        if creator is None or not creator.active:
            return None
        permissions &= permissions_for(creator.role)
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=1):
        key.last_used_at = now  # throttled so busy keys do not write on every request
        await session.flush()
    return Principal(
        tenant_id=key.tenant_id,
        actor=Actor("api_key", str(key.id), key.name),
        permissions=permissions,
        api_key_id=key.id,
        technician_id=key.created_by,
    )


async def revoke_api_key(session: AsyncSession, *, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key of this tenant (idempotent)."""
    key = await session.scalar(select(ApiKey).where(ApiKey.id == key_id))
    if key is None:
        raise NotFound(f"API key {key_id} not found")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.flush()
    return key


async def list_api_keys(session: AsyncSession) -> list[ApiKey]:
    """Keys of this tenant, newest first."""
    return list((await session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()))).all())
