"""Telling people what the loop could not do: per-tenant notification targets (apprise URLs —
Slack, Microsoft Teams, SMS, e-mail, JSON webhooks — kept only in the vault) and the delivery
of escalation / SLA messages to them. Every delivery is recorded (sent, or failed with why) and audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.audit.service import Actor, record
from mspclaw.errors import InvalidInput, NotFound
from mspclaw.loop.models import NotificationDelivery, NotifyTarget, NotifyTargetSet
from mspclaw.vault import service as vault
from mspclaw.vault.keys import Keyring, VaultError

log = structlog.get_logger(__name__)

VAULT_PREFIX = "loop-notify:"  # vault names of target URLs
LOOP_ACTOR = Actor("automation", "loop", "MSPclaw loop")
MAX_BODY = 3500  # SMS gateways and chat webhooks cut long messages; the PSA note has the rest


@dataclass(frozen=True)
class Message:
    """What a person is told: a one-line title and a short body (no secrets, no raw tool output)."""

    title: str
    body: str


def _scheme(url: str) -> str:
    scheme, sep, _ = url.partition("://")
    return scheme.lower() if sep else ""


def check_url(url: str) -> str:
    """The URL's scheme when apprise can send to it; InvalidInput (never echoing the URL) otherwise."""
    import apprise

    scheme = _scheme(url)
    if not scheme or not apprise.Apprise().add(url):
        raise InvalidInput(
            "the notification URL is not a valid apprise URL (e.g. slack://…, msteams://…, mailtos://…, json://…)",
            detail={"scheme": scheme or None},
        )
    return scheme


async def set_target(session: AsyncSession, ring: Keyring, *, data: NotifyTargetSet) -> tuple[NotifyTarget, bool]:
    """Create or replace the target ``data.name``; returns it and whether it is new."""
    scheme = check_url(data.url)
    target = await session.scalar(select(NotifyTarget).where(NotifyTarget.name == data.name))
    created = target is None
    if target is None:
        target = NotifyTarget(name=data.name, secret_name=f"{VAULT_PREFIX}{data.name}")
        session.add(target)
    target.scheme = scheme
    target.technician_email = data.technician_email
    target.events = list(dict.fromkeys(data.events))
    target.enabled = data.enabled
    await vault.put(session, ring, name=target.secret_name, value=data.url)
    await session.flush()
    return target, created


async def list_targets(session: AsyncSession) -> list[NotifyTarget]:
    """The tenant's targets, by name."""
    return list((await session.scalars(select(NotifyTarget).order_by(NotifyTarget.name))).all())


async def get_target_or_raise(session: AsyncSession, *, target_id: uuid.UUID) -> NotifyTarget:
    """One target of the session's tenant; NotFound names only the id asked for."""
    target = await session.get(NotifyTarget, target_id)
    if target is None:
        raise NotFound(f"notification target {target_id} not found", detail={"id": str(target_id)})
    return target


async def delete_target(session: AsyncSession, *, target_id: uuid.UUID) -> NotifyTarget:
    """Remove a target and its vault secret (past deliveries keep its name)."""
    target = await get_target_or_raise(session, target_id=target_id)
    try:
        await vault.delete(session, name=target.secret_name)
    except NotFound:
        pass  # already gone from the vault: nothing to clean
    await session.delete(target)
    await session.flush()
    return target


async def targets_for(session: AsyncSession, *, event: str, technician_email: str | None) -> list[NotifyTarget]:
    """Enabled targets subscribed to ``event``: the tenant channels plus the routed technician's own."""
    rows = (await session.scalars(select(NotifyTarget).where(NotifyTarget.enabled).order_by(NotifyTarget.name))).all()
    who = technician_email.lower() if technician_email else None
    return [t for t in rows if event in t.events and (t.technician_email is None or t.technician_email == who)]


async def _deliver(url: str, scheme: str, message: Message) -> str | None:
    """Hand the message to apprise; the failure reason, or None when it was accepted."""
    import apprise

    sender = apprise.Apprise()
    if not sender.add(url):
        return f"the stored {scheme} URL is no longer valid; set the target again"
    body = message.body if len(message.body) <= MAX_BODY else message.body[: MAX_BODY - 1] + "…"
    try:
        accepted = await sender.async_notify(body=body, title=message.title)
    except Exception as exc:  # apprise plugins raise anything; the reason must not carry the URL
        return f"the {scheme} service failed ({type(exc).__name__})"
    if not accepted:
        return f"the {scheme} service did not accept the message (unreachable, refused, or an error answer)"
    return None


async def send(
    session: AsyncSession,
    ring: Keyring,
    *,
    target: NotifyTarget,
    event: str,
    message: Message,
    ticket_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
) -> NotificationDelivery:
    """Send to one target and record the delivery (sent or failed) with an audit event."""
    try:
        url = await vault.get_value(session, ring, name=target.secret_name)
    except (NotFound, VaultError) as exc:
        error: str | None = f"the target's URL cannot be read from the vault ({exc.message})"
    else:
        error = await _deliver(url, target.scheme, message)
    delivery = NotificationDelivery(
        target_id=target.id,
        target_name=target.name,
        ticket_id=ticket_id,
        run_id=run_id,
        event=event,
        status="failed" if error else "sent",
        error=error,
        title=message.title[:300],
    )
    session.add(delivery)
    await session.flush()
    await record(
        session,
        actor=LOOP_ACTOR,
        action=f"loop.notification_{delivery.status}",
        target_type="notify_target",
        target_id=target.id,
        detail={
            "target": target.name,
            "scheme": target.scheme,
            "event": event,
            "ticket_id": str(ticket_id) if ticket_id else None,
            "run_id": str(run_id) if run_id else None,
            "error": error,
        },
    )
    if error:
        log.warning("loop_notification_failed", target=target.name, notify_event=event, error=error)
    return delivery


async def notify(
    session: AsyncSession,
    ring: Keyring,
    *,
    event: str,
    message: Message,
    technician_email: str | None = None,
    ticket_id: uuid.UUID | None = None,
    run_id: uuid.UUID | None = None,
) -> list[NotificationDelivery]:
    """Send ``message`` to every target that wants ``event`` (none configured: nothing to do)."""
    return [
        await send(session, ring, target=t, event=event, message=message, ticket_id=ticket_id, run_id=run_id)
        for t in await targets_for(session, event=event, technician_email=technician_email)
    ]


async def list_deliveries(
    session: AsyncSession, *, ticket_id: uuid.UUID | None = None, limit: int = 100
) -> Sequence[NotificationDelivery]:
    """Deliveries, newest first."""
    query = select(NotificationDelivery).order_by(NotificationDelivery.created_at.desc()).limit(limit)
    if ticket_id is not None:
        query = query.where(NotificationDelivery.ticket_id == ticket_id)
    return (await session.scalars(query)).all()
