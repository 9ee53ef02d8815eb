"""Routes: what the loop decided for a ticket, where it sends escalations (notification targets,
deliveries), per-connection write-back settings, end-user feedback, and success statistics."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy import select

from mspclaw.api.deps import Ctx, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.loop import flows, notify
from mspclaw.loop.models import (
    LoopAction,
    LoopActionRead,
    NotificationRead,
    NotifyTargetRead,
    NotifyTargetSet,
)

router = APIRouter(tags=["Loop"])


@router.get("/loop/actions", response_model=list[LoopActionRead], responses=PROBLEM_RESPONSES)
async def list_actions(
    ctx: Ctx = Depends(context("tickets.read")),
    ticket_id: uuid.UUID | None = Query(None, description="Only this ticket's decisions."),
    limit: int = Query(100, ge=1, le=500),
) -> list[LoopActionRead]:
    """The loop's decisions, newest first."""
    query = select(LoopAction).order_by(LoopAction.created_at.desc()).limit(limit)
    if ticket_id is not None:
        query = query.where(LoopAction.ticket_id == ticket_id)
    return [LoopActionRead.model_validate(a) for a in (await ctx.session.scalars(query)).all()]


@router.post("/loop/actions/{action_id}/start", response_model=LoopActionRead, responses=PROBLEM_RESPONSES)
async def start_suggestion(action_id: uuid.UUID, ctx: Ctx = Depends(context("runs.start"))) -> LoopActionRead:
    """Start the playbook the loop suggested for a ticket (as you; approvals still apply)."""
    action = await flows.accept_suggestion(ctx.session, principal=ctx.principal, action_id=action_id)
    read = LoopActionRead.model_validate(action)
    await ctx.commit()
    return read


# ---------------------------------------------------------------- notification targets


@router.post("/loop/notify-targets", response_model=NotifyTargetRead, responses=PROBLEM_RESPONSES)
async def set_notify_target(
    body: NotifyTargetSet, response: Response, ctx: Ctx = Depends(context("loop.configure"))
) -> NotifyTargetRead:
    """Create or replace (by name) where escalations and SLA warnings go; the URL is kept in the vault only."""
    target, created = await notify.set_target(ctx.session, ctx.keyring, data=body)
    await ctx.audit(
        "loop.notify_target_set",
        target_type="notify_target",
        target_id=target.id,
        after={
            "name": target.name,
            "scheme": target.scheme,
            "technician_email": target.technician_email,
            "events": target.events,
            "enabled": target.enabled,
        },
    )
    await ctx.commit()
    response.status_code = 201 if created else 200
    return NotifyTargetRead.model_validate(target)


@router.get("/loop/notify-targets", response_model=list[NotifyTargetRead], responses=PROBLEM_RESPONSES)
async def list_notify_targets(ctx: Ctx = Depends(context("loop.configure"))) -> list[NotifyTargetRead]:
    """The tenant's notification targets (scheme only: the URL never leaves the vault)."""
    return [NotifyTargetRead.model_validate(t) for t in await notify.list_targets(ctx.session)]


@router.delete("/loop/notify-targets/{target_id}", response_model=NotifyTargetRead, responses=PROBLEM_RESPONSES)
async def delete_notify_target(target_id: uuid.UUID, ctx: Ctx = Depends(context("loop.configure"))) -> NotifyTargetRead:
    """Remove a target and its vault secret."""
    target = await notify.delete_target(ctx.session, target_id=target_id)
    read = NotifyTargetRead.model_validate(target)
    await ctx.audit("loop.notify_target_deleted", target_type="notify_target", target_id=target_id)
    await ctx.commit()
    return read


@router.post("/loop/notify-targets/{target_id}/test", response_model=NotificationRead, responses=PROBLEM_RESPONSES)
async def test_notify_target(target_id: uuid.UUID, ctx: Ctx = Depends(context("loop.configure"))) -> NotificationRead:
    """Send a test message now; the delivery record says whether it arrived at the service."""
    target = await notify.get_target_or_raise(ctx.session, target_id=target_id)
    delivery = await notify.send(
        ctx.session,
        ctx.keyring,
        target=target,
        event="test",
        message=notify.Message(
            "MSPclaw test notification", f"Escalations for this tenant will arrive here ({target.name})."
        ),
    )
    await ctx.commit()
    return NotificationRead.model_validate(delivery)


@router.get("/loop/notifications", response_model=list[NotificationRead], responses=PROBLEM_RESPONSES)
async def list_notifications(
    ctx: Ctx = Depends(context("tickets.read")),
    ticket_id: uuid.UUID | None = Query(None, description="Only this ticket's notifications."),
    limit: int = Query(100, ge=1, le=500),
) -> list[NotificationRead]:
    """Notification deliveries (sent, or failed with the reason), newest first."""
    rows = await notify.list_deliveries(ctx.session, ticket_id=ticket_id, limit=limit)
    return [NotificationRead.model_validate(d) for d in rows]
