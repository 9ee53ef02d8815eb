"""Route: what the loop decided for a ticket (started, suggested, skipped, written back, escalated)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from mspclaw.api.deps import Ctx, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.loop.models import LoopAction, LoopActionRead

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
