"""Enrolment, device credentials, device memory and asset mapping (the gateway's database side)."""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mspclaw.agents.models import (
    AssetCandidate,
    AssetQuery,
    AssetResolution,
    DeviceCredential,
    DeviceMemory,
    EnrollmentToken,
    EnrollRequest,
    TokenCreate,
)
from mspclaw.audit.service import Actor, record
from mspclaw.auth.service import sha256
from mspclaw.database.base import utcnow
from mspclaw.database.session import tenant_session
from mspclaw.errors import MSPclawError, NotFound
from mspclaw.gateway.hub import DeviceIdentity
from mspclaw.tenancy.models import Client, Contact, Device, Site
from mspclaw.tenancy.service import get_or_raise

TOKEN_PREFIX = "mspe"  # noqa: S105 - a marker, not a secret
CREDENTIAL_PREFIX = "mspd"
_OS_NAMES = {"linux": "linux", "darwin": "macos", "macos": "macos", "windows": "windows"}


class EnrollmentRefused(MSPclawError):
    """The enrolment token is unknown, expired, used up or revoked."""

    code = "enrollment_refused"
    status_code = 401


def _split(presented: str, prefix: str) -> tuple[str, str] | None:
    parts = presented.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != prefix:
        return None
    return parts[1], parts[2]


async def create_token(
    session: AsyncSession, *, data: TokenCreate, created_by: str | None
) -> tuple[EnrollmentToken, str]:
    """A new enrolment token for a client (and optionally a site); the token is returned once."""
    await get_or_raise(session, Client, data.client_id, "client")
    if data.site_id is not None:
        site = await get_or_raise(session, Site, data.site_id, "site")
        if site.client_id != data.client_id:
            raise NotFound(f"site {data.site_id} not found for this client")
    prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    token = EnrollmentToken(
        client_id=data.client_id,
        site_id=data.site_id,
        name=data.name,
        prefix=prefix,
        secret_hash=sha256(secret),
        expires_at=utcnow() + timedelta(hours=data.expires_in_hours),
        max_uses=data.max_uses,
        created_by=created_by,
    )
    session.add(token)
    await session.flush()
    return token, f"{TOKEN_PREFIX}_{prefix}_{secret}"


async def revoke_token(session: AsyncSession, *, token_id: uuid.UUID) -> EnrollmentToken:
    """Stop a token from enrolling more devices (devices already enrolled keep working)."""
    token = await get_or_raise(session, EnrollmentToken, token_id, "enrolment token")
    token.revoked_at = token.revoked_at or utcnow()
    await session.flush()
    return token


async def enroll(
    factory: async_sessionmaker[AsyncSession], *, request: EnrollRequest, request_id: str | None = None
) -> tuple[Device, str]:
    """Trade a token for a device registration and a fresh per-device credential.

    The token says which tenant and client the device belongs to; a device that enrols
    again with the same hostname and serial keeps its row and gets a new credential.
    """
    split = _split(request.token, TOKEN_PREFIX)
    refused = EnrollmentRefused("this enrolment token is not valid (unknown, expired, used up or revoked)")
    if split is None:
        raise refused
    prefix, secret = split
    async with tenant_session(factory, None) as session, session.begin():
        token = await session.scalar(select(EnrollmentToken).where(EnrollmentToken.prefix == prefix).with_for_update())
        if token is None or not hmac.compare_digest(token.secret_hash, sha256(secret)):
            raise refused
        if token.revoked_at is not None or token.expires_at <= utcnow() or token.uses >= token.max_uses:
            raise refused
        token.uses += 1
        session.info["tenant_id"] = token.tenant_id  # from here on, the token's tenant only
        os_name = _OS_NAMES.get(request.os.lower(), "other")
        device = await session.scalar(
            select(Device).where(
                Device.client_id == token.client_id,
                Device.hostname == request.hostname,
                Device.serial == (request.serial or None),
            )
        )
        if device is None:
            device = Device(
                client_id=token.client_id,
                site_id=token.site_id,
                hostname=request.hostname,
                os=os_name,
                os_version=request.os_version or None,
                serial=request.serial or None,
                last_user=request.logged_in_user or None,
                role="workstation",
            )
            session.add(device)
            await session.flush()
        else:
            device.os, device.os_version = os_name, request.os_version or device.os_version
            device.last_user = request.logged_in_user or device.last_user
        await _link_contact(session, device, request.logged_in_user)
        await session.execute(
            update(DeviceCredential)
            .where(DeviceCredential.device_id == device.id, DeviceCredential.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        cred_prefix, cred_secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        session.add(
            DeviceCredential(
                device_id=device.id,
                prefix=cred_prefix,
                secret_hash=sha256(cred_secret),
                enrolled_with=token.id,
                agent_version=request.agent_version or None,
            )
        )
        await record(
            session,
            actor=Actor("agent", str(device.id), request.hostname),
            action="agent.enroll",
            target_type="device",
            target_id=device.id,
            after={"hostname": device.hostname, "os": device.os, "client_id": str(device.client_id)},
            detail={"token_id": str(token.id)},
            request_id=request_id,
        )
    return device, f"{CREDENTIAL_PREFIX}_{cred_prefix}_{cred_secret}"


async def _link_contact(session: AsyncSession, device: Device, user: str) -> None:
    """Link the device to the contact whose e-mail user part or name matches the logged-in user."""
    if device.contact_id is not None or not user:
        return
    name = user.split("\\")[-1].split("@")[0].lower()
    contacts = (await session.scalars(select(Contact).where(Contact.client_id == device.client_id))).all()
    matches = [c for c in contacts if c.email and c.email.split("@")[0].lower() == name]
    if len(matches) == 1:
        device.contact_id = matches[0].id


async def authenticate_device(factory: async_sessionmaker[AsyncSession], credential: str) -> DeviceIdentity | None:
    """The identity behind a device credential, or None when unknown or revoked."""
    split = _split(credential, CREDENTIAL_PREFIX)
    if split is None:
        return None
    prefix, secret = split
    async with tenant_session(factory, None) as session, session.begin():
        row = (
            await session.execute(
                select(DeviceCredential, Device.client_id)
                .join(Device, Device.id == DeviceCredential.device_id)
                .where(DeviceCredential.prefix == prefix)
            )
        ).first()
        if row is None:
            return None
        cred, client_id = row
        if cred.revoked_at is not None or not hmac.compare_digest(cred.secret_hash, sha256(secret)):
            return None
        await session.execute(update(Device).where(Device.id == cred.device_id).values(last_seen_at=utcnow()))
    return DeviceIdentity(tenant_id=str(cred.tenant_id), device_id=str(cred.device_id), client_id=str(client_id))


async def revoke_device(session: AsyncSession, *, device_id: uuid.UUID) -> int:
    """Revoke every credential of a device in this tenant; returns how many were live."""
    await get_or_raise(session, Device, device_id, "device")
    result = await session.execute(
        update(DeviceCredential)
        .where(DeviceCredential.device_id == device_id, DeviceCredential.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    await session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def credential_state(session: AsyncSession, *, device_id: uuid.UUID) -> tuple[bool, bool]:
    """(ever enrolled, has no live credential)."""
    total = await session.scalar(select(func.count()).where(DeviceCredential.device_id == device_id))
    live = await session.scalar(
        select(func.count()).where(DeviceCredential.device_id == device_id, DeviceCredential.revoked_at.is_(None))
    )
    return bool(total), bool(total) and not live


# ---------------------------------------------------------------- memory


async def get_memory(session: AsyncSession, *, device_id: uuid.UUID) -> dict[str, Any]:
    """Known facts about the device's user (empty when nothing is known yet)."""
    await get_or_raise(session, Device, device_id, "device")
    row = await session.scalar(select(DeviceMemory).where(DeviceMemory.device_id == device_id))
    return dict(row.facts) if row is not None else {}


async def remember(session: AsyncSession, *, device_id: uuid.UUID, facts: dict[str, Any]) -> dict[str, Any]:
    """Merge new facts (None values are ignored: a known fact is never forgotten by omission)."""
    await get_or_raise(session, Device, device_id, "device")
    row = await session.scalar(select(DeviceMemory).where(DeviceMemory.device_id == device_id))
    if row is None:
        row = DeviceMemory(device_id=device_id, facts={})
        session.add(row)
    row.facts = {**row.facts, **{k: v for k, v in facts.items() if v is not None}}
    await session.flush()
    return dict(row.facts)


# ---------------------------------------------------------------- asset mapping


def _candidate(device: Device) -> AssetCandidate:
    return AssetCandidate(device_id=device.id, hostname=device.hostname, os=device.os)


async def resolve_device(session: AsyncSession, *, query: AssetQuery) -> AssetResolution:
    """Which device a ticket is about: PSA configuration item, the contact's devices, the RMM
    mapping, the client's only device — in that order; otherwise ask the technician."""
    await get_or_raise(session, Client, query.client_id, "client")
    devices = list((await session.scalars(select(Device).where(Device.client_id == query.client_id))).all())

    def by_external(key: str, value: str) -> list[Device]:
        return [d for d in devices if str((d.external_ids or {}).get(key, "")) == value]

    if query.configuration_item:
        found = by_external("psa_configuration_item", query.configuration_item)
        if len(found) == 1:
            return AssetResolution(
                device=_candidate(found[0]),
                reason="PSA configuration item on the ticket",
                ask_technician=False,
                candidates=[_candidate(found[0])],
            )
    contact_id = query.contact_id
    if contact_id is None and query.contact_email:
        contact = await session.scalar(
            select(Contact).where(Contact.client_id == query.client_id, Contact.email == query.contact_email.lower())
        )
        contact_id = contact.id if contact else None
    if contact_id is not None:
        mine = [d for d in devices if d.contact_id == contact_id]
        if query.hostname:
            mine = [d for d in mine if d.hostname.lower() == query.hostname.lower()] or mine
        if len(mine) == 1:
            return AssetResolution(
                device=_candidate(mine[0]),
                reason="the contact's device",
                ask_technician=False,
                candidates=[_candidate(mine[0])],
            )
        if len(mine) > 1:
            latest = sorted(mine, key=lambda d: d.last_seen_at or d.created_at, reverse=True)
            return AssetResolution(
                device=None,
                reason="the contact has several devices; choose one",
                ask_technician=True,
                candidates=[_candidate(d) for d in latest],
            )
    if query.rmm_device_id:
        found = by_external("rmm_device_id", query.rmm_device_id)
        if len(found) == 1:
            return AssetResolution(
                device=_candidate(found[0]),
                reason="RMM device mapping",
                ask_technician=False,
                candidates=[_candidate(found[0])],
            )
    if query.hostname:
        found = [d for d in devices if d.hostname.lower() == query.hostname.lower()]
        if len(found) == 1:
            return AssetResolution(
                device=_candidate(found[0]),
                reason="hostname named on the ticket",
                ask_technician=False,
                candidates=[_candidate(found[0])],
            )
    if len(devices) == 1:
        return AssetResolution(
            device=_candidate(devices[0]),
            reason="the client's only device",
            ask_technician=False,
            candidates=[_candidate(devices[0])],
        )
    return AssetResolution(
        device=None,
        reason="no device could be determined; choose one" if devices else "the client has no devices",
        ask_technician=bool(devices),
        candidates=[_candidate(d) for d in devices[:50]],
    )
