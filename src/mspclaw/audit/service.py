"""Write and verify the hash chain of audit events.

Writers serialise per tenant with a transaction-scoped advisory lock, so the chain never
forks; values that look like secrets are redacted before they are stored or hashed.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.audit.models import AuditEvent, AuditVerification
from mspclaw.database.base import utcnow
from mspclaw.database.session import tenant_of

GENESIS = "0" * 64
_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|api_?key|credential|otp|totp|private|value)$", re.I)
REDACTED = "***"


@dataclass(frozen=True)
class Actor:
    """Who did it: a technician, an API key, the system, an agent, an automation or an LLM plan."""

    type: str
    id: str | None = None
    name: str | None = None

    @classmethod
    def system(cls, name: str = "mspclaw") -> Actor:
        return cls("system", None, name)


def redact(value: Any) -> Any:
    """A JSON-safe copy of ``value`` with secret-looking fields replaced by '***'."""
    if isinstance(value, dict):
        return {
            str(k): (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return json.loads(json.dumps(value, default=str))


def _digest(event: AuditEvent) -> str:
    body = {
        "tenant_id": str(event.tenant_id),
        "seq": event.seq,
        "created_at": event.created_at.isoformat(),
        "actor": [event.actor_type, event.actor_id, event.actor_name],
        "action": event.action,
        "target": [event.target_type, event.target_id],
        "before": event.before,
        "after": event.after,
        "detail": event.detail,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def record(
    session: AsyncSession,
    *,
    actor: Actor,
    action: str,
    target_type: str | None = None,
    target_id: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
    request_id: str | None = None,
    tenant_id: uuid.UUID | None = None,
) -> AuditEvent:
    """Append one event to the tenant's chain inside the caller's transaction."""
    tenant = tenant_id or tenant_of(session)
    if tenant is None:
        raise ValueError("an audit event needs a tenant")
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"audit:{tenant}"})
    last = (
        await session.execute(
            select(AuditEvent.seq, AuditEvent.hash)
            .where(AuditEvent.tenant_id == tenant)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
            .execution_options(skip_tenant_scope=True)
        )
    ).first()
    event = AuditEvent(
        id=uuid.uuid4(),
        tenant_id=tenant,
        seq=(last.seq + 1) if last else 1,
        created_at=utcnow(),
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        action=action,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        before=redact(before) if before is not None else None,
        after=redact(after) if after is not None else None,
        detail=redact(detail) if detail is not None else None,
        request_id=request_id,
        prev_hash=last.hash if last else GENESIS,
    )
    event.hash = _digest(event)
    session.add(event)
    await session.flush()
    return event


async def list_events(
    session: AsyncSession, *, limit: int = 50, offset: int = 0, action: str | None = None
) -> tuple[list[AuditEvent], int]:
    """Newest first, with the total count."""
    query = select(AuditEvent)
    count = select(func.count()).select_from(AuditEvent)
    if action:
        query = query.where(AuditEvent.action.startswith(action))
        count = count.where(AuditEvent.action.startswith(action))
    rows = await session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit).offset(offset))
    total = await session.scalar(count)
    return list(rows.all()), int(total or 0)


async def _iterate(session: AsyncSession, tenant_id: uuid.UUID) -> AsyncIterator[AuditEvent]:
    stream = await session.stream_scalars(
        select(AuditEvent)
        .where(AuditEvent.tenant_id == tenant_id)
        .order_by(AuditEvent.seq)
        .execution_options(skip_tenant_scope=True, yield_per=1000)
    )
    async for event in stream:
        yield event


async def verify(session: AsyncSession, *, tenant_id: uuid.UUID) -> AuditVerification:
    """Recompute the chain; name the first event whose content or link does not hold."""
    expected_prev = GENESIS
    expected_seq = 1
    checked = 0
    async for event in _iterate(session, tenant_id):
        checked += 1
        reason = None
        if event.seq != expected_seq:
            reason = f"sequence gap: expected event {expected_seq}, found {event.seq} (an event was removed)"
        elif event.prev_hash != expected_prev:
            reason = "link broken: prev_hash does not match the previous event's hash"
        elif _digest(event) != event.hash:
            reason = "content altered: the event's hash does not match its fields"
        if reason:
            return AuditVerification(
                ok=False,
                events_checked=checked,
                first_broken_seq=event.seq,
                first_broken_id=event.id,
                reason=reason,
            )
        expected_prev = event.hash
        expected_seq += 1
    return AuditVerification(ok=True, events_checked=checked)
