"""Caller verification before a credential change: one-time codes, device push, attestation.

A code goes only to the phone or e-mail address on record for the contact (never one given in
a ticket), is stored as a keyed hash, expires, and allows a few attempts. The executor asks
``verification_required`` and ``is_verified`` before it runs a credential-changing step.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Literal

from mspclaw_agent.protocol import ApprovalRequest, ApprovalResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.audit import service as audit
from mspclaw.audit.service import Actor
from mspclaw.database.base import utcnow
from mspclaw.errors import MSPclawError, NotFound
from mspclaw.identity.models import Verification
from mspclaw.identity.notify import Channel, Notifier
from mspclaw.tenancy.models import Client, Contact, Device
from mspclaw.tenancy.policy import ClientPolicy, VerificationMethod
from mspclaw.tools.spec import ToolSpec
from mspclaw.vault.keys import Keyring

#: tools that change how someone signs in: a caller must be verified first
CREDENTIAL_TOOLS = frozenset({"reset_password", "unlock_account", "require_mfa_reregistration"})
CODE_TTL = timedelta(minutes=10)
MAX_ATTEMPTS = 5
#: a verification counts for the run for this long after it succeeded
VERIFIED_FOR = timedelta(hours=1)
ApprovalAsker = Callable[[str, ApprovalRequest], Awaitable[ApprovalResponse]]


class VerificationError(MSPclawError):
    """The verification cannot be started or checked (wrong contact, no channel, not pending)."""

    code = "verification_failed"
    status_code = 400


class VerificationNotAllowed(MSPclawError):
    """The client's policy does not allow this verification method."""

    code = "verification_method_not_allowed"
    status_code = 403


class NotifierMissing(MSPclawError):
    """No channel is configured to send one-time codes."""

    code = "notifier_not_configured"
    status_code = 503


class OtpCheck(BaseModel):
    """The result of checking a code; the row's attempt count is committed either way."""

    verification_id: uuid.UUID
    status: str
    verified: bool
    attempts_left: int


def verification_required(tool: ToolSpec | str, policy: ClientPolicy) -> bool:
    """Whether ``tool`` may only run after the caller was verified, under ``policy``."""
    name = tool if isinstance(tool, str) else tool.name
    return policy.require_verification and name in CREDENTIAL_TOOLS


def _norm(user: str) -> str:
    return user.strip().lower()


async def is_verified(session: AsyncSession, *, run_id: uuid.UUID, user: str) -> bool:
    """Whether a verification for ``user`` succeeded in run ``run_id`` (and is still fresh)."""
    found = await session.scalar(
        select(Verification.id)
        .where(
            Verification.run_id == run_id,
            Verification.user_ref == _norm(user),
            Verification.status == "verified",
            Verification.verified_at > utcnow() - VERIFIED_FOR,
        )
        .limit(1)
    )
    return found is not None


async def pending_verification(
    session: AsyncSession, *, tool: ToolSpec | str, args: dict[str, object], policy: ClientPolicy, run_id: uuid.UUID
) -> str | None:
    """Why the step must wait for caller verification, or None when it may run (the executor's gate)."""
    if not verification_required(tool, policy):
        return None
    user = str(args.get("user") or "")
    if user and await is_verified(session, run_id=run_id, user=user):
        return None
    name = tool if isinstance(tool, str) else tool.name
    return (
        f"{name} waits for caller verification of {user or 'the user'} in this run "
        "(one-time code to the contact on record, push to their device, or technician attestation)"
    )


async def latest_verified(session: AsyncSession, *, run_id: uuid.UUID, user: str) -> Verification | None:
    """The most recent successful verification of ``user`` in the run (who vouched, which contact)."""
    return await session.scalar(
        select(Verification)
        .where(Verification.run_id == run_id, Verification.user_ref == _norm(user), Verification.status == "verified")
        .order_by(Verification.verified_at.desc())
        .limit(1)
    )


def _hash_code(ring: Keyring, verification_id: uuid.UUID, code: str) -> str:
    # keyed with the master key: a database dump alone does not let anyone test the 10^6 codes
    return hmac.new(ring.primary, f"{verification_id}:{code}".encode(), hashlib.sha256).hexdigest()


def mask(channel: Channel, target: str) -> str:
    """What may be shown or logged about where a code went."""
    if channel == "email":
        local, _, domain = target.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"***{target[-2:]}"


def _allowed(policy: ClientPolicy, method: VerificationMethod) -> None:
    if method not in policy.verification_methods:
        raise VerificationNotAllowed(
            f"this client's policy does not allow {method} (allowed: {', '.join(policy.verification_methods)})",
            detail={"method": method},
        )


async def _client_policy(session: AsyncSession, client_id: uuid.UUID) -> ClientPolicy:
    client = await session.get(Client, client_id)
    if client is None:
        raise NotFound("client not found")
    return ClientPolicy.model_validate(client.policy or {})


async def _contact_for(session: AsyncSession, client_id: uuid.UUID, contact_id: uuid.UUID, user: str) -> Contact:
    contact = await session.scalar(select(Contact).where(Contact.id == contact_id, Contact.client_id == client_id))
    if contact is None:
        raise NotFound("contact not found for this client")
    if "@" in user and contact.email and contact.email.lower() != _norm(user):
        # verifying Bob must never unlock a reset of Alice's account
        raise VerificationError(
            "the contact on record is not the user whose credentials would change",
            detail={"contact_id": str(contact_id)},
        )
    return contact


async def _record(session: AsyncSession, row: Verification, actor: Actor, action: str, **extra: object) -> None:
    await audit.record(
        session,
        actor=actor,
        action=action,
        target_type="identity_user",
        target_id=row.user_ref,
        detail={"verification_id": str(row.id), "method": row.method, "run_id": str(row.run_id), **extra},
    )
    if row.status == "verified" and row.run_id is not None:
        await _resume_run(session, row.run_id)


async def _resume_run(session: AsyncSession, run_id: uuid.UUID) -> None:
    """A run paused for this verification continues (its next step is gated again)."""
    from mspclaw.runs.flows import resume_when_unblocked
    from mspclaw.runs.models import Run

    run = await session.get(Run, run_id)
    if run is not None:
        await resume_when_unblocked(session, run)


async def start_otp(
    session: AsyncSession,
    ring: Keyring,
    notifier: Notifier | None,
    *,
    client_id: uuid.UUID,
    contact_id: uuid.UUID,
    user: str,
    method: Literal["otp_sms", "otp_email"],
    run_id: uuid.UUID | None,
    actor: Actor,
) -> tuple[Verification, str]:
    """Send a 6-digit code to the contact's number/address on record; (row, masked destination)."""
    _allowed(await _client_policy(session, client_id), method)
    contact = await _contact_for(session, client_id, contact_id, user)
    channel: Channel = "sms" if method == "otp_sms" else "email"
    target = contact.phone if channel == "sms" else contact.email
    if not target:
        raise VerificationError(
            f"the contact has no {'phone number' if channel == 'sms' else 'e-mail address'} on record; "
            "update the contact record (a number or address from the ticket is never used)"
        )
    row = Verification(
        id=uuid.uuid4(),
        client_id=client_id,
        run_id=run_id,
        user_ref=_norm(user),
        contact_id=contact.id,
        method=method,
        status="pending",
        attempts=0,
        max_attempts=MAX_ATTEMPTS,
        expires_at=utcnow() + CODE_TTL,
    )
    if notifier is None:
        raise NotifierMissing("no e-mail/SMS channel is configured for verification codes")
    code = f"{secrets.randbelow(1_000_000):06d}"
    row.code_hash = _hash_code(ring, row.id, code)
    session.add(row)
    await session.flush()
    minutes = int(CODE_TTL.total_seconds() // 60)
    await notifier.send(
        channel,
        target,
        "Your verification code",
        f"Your IT support verification code is {code}. It expires in {minutes} minutes. "
        "Only read it to the technician who is helping you right now.",
    )
    shown = mask(channel, target)
    await _record(session, row, actor, "identity.verification_started", sent_to=shown)
    return row, shown


async def check_otp(
    session: AsyncSession, ring: Keyring, *, verification_id: uuid.UUID, code: str, actor: Actor
) -> OtpCheck:
    """Check a code the caller read out; counts the attempt, expires and locks as needed."""
    row = await session.scalar(select(Verification).where(Verification.id == verification_id).with_for_update())
    if row is None or row.code_hash is None:
        raise NotFound("verification not found")
    if row.status == "pending" and utcnow() > row.expires_at:
        row.status = "expired"
        await _record(session, row, actor, "identity.verification_expired")
    if row.status != "pending":
        return OtpCheck(verification_id=row.id, status=row.status, verified=False, attempts_left=0)
    row.attempts += 1
    if hmac.compare_digest(row.code_hash, _hash_code(ring, row.id, code.strip())):
        row.status, row.verified_at, row.verified_by = "verified", utcnow(), actor.name or actor.id
        await _record(session, row, actor, "identity.verification_succeeded")
    elif row.attempts >= row.max_attempts:
        row.status = "failed"
        await _record(session, row, actor, "identity.verification_failed", attempts=row.attempts)
    await session.flush()
    return OtpCheck(
        verification_id=row.id,
        status=row.status,
        verified=row.status == "verified",
        attempts_left=max(0, row.max_attempts - row.attempts) if row.status == "pending" else 0,
    )


async def attest(
    session: AsyncSession,
    *,
    client_id: uuid.UUID,
    user: str,
    run_id: uuid.UUID | None,
    technician: Actor,
    reason: str,
) -> Verification:
    """A technician vouches for the caller (e.g. known voice, in person); the reason is audited."""
    _allowed(await _client_policy(session, client_id), "technician_attestation")
    if technician.type != "technician":
        raise VerificationError("only a signed-in technician can attest to a caller's identity")
    if len(reason.strip()) < 10:
        raise VerificationError("say how you verified the caller (at least 10 characters)")
    now = utcnow()
    row = Verification(
        client_id=client_id,
        run_id=run_id,
        user_ref=_norm(user),
        method="technician_attestation",
        status="verified",
        attempts=0,
        max_attempts=0,
        expires_at=now,
        verified_at=now,
        verified_by=technician.name or technician.id,
        reason=reason.strip(),
    )
    session.add(row)
    await session.flush()
    await _record(session, row, technician, "identity.verification_attested", reason=row.reason)
    return row


async def request_push(
    session: AsyncSession,
    ask: ApprovalAsker,
    *,
    client_id: uuid.UUID,
    contact_id: uuid.UUID,
    device_id: uuid.UUID,
    user: str,
    run_id: uuid.UUID | None,
    actor: Actor,
    wait_seconds: float = 120.0,
) -> Verification:
    """Ask the user on their own enrolled device (through the agent) to confirm it is them."""
    _allowed(await _client_policy(session, client_id), "agent_push")
    contact = await _contact_for(session, client_id, contact_id, user)
    device = await session.get(Device, device_id)
    if device is None or device.client_id != client_id or device.contact_id != contact.id:
        # a device the caller names is not proof; only one assigned to this contact on record is
        raise VerificationError("the device is not assigned to this contact on record")
    row = Verification(
        client_id=client_id,
        run_id=run_id,
        user_ref=_norm(user),
        contact_id=contact.id,
        method="agent_push",
        status="pending",
        attempts=1,
        max_attempts=1,
        expires_at=utcnow() + timedelta(seconds=wait_seconds),
    )
    session.add(row)
    await session.flush()
    answer = await ask(
        str(device_id),
        ApprovalRequest(
            request_id=str(row.id),
            title="IT support: is this you?",
            message="Your IT support team is about to reset your sign-in. Approve only if you asked for this.",
            timeout=wait_seconds,
        ),
    )
    if answer.status == "approved":
        row.status, row.verified_at, row.verified_by = "verified", utcnow(), f"device:{device_id}"
        await _record(session, row, actor, "identity.verification_succeeded", device_id=str(device_id))
    else:
        row.status = "failed"
        await _record(session, row, actor, "identity.verification_failed", answer=answer.status)
    await session.flush()
    return row
