"""Routes to read and verify the tenant's audit trail."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from mspclaw.api.deps import Ctx, Paging, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.api.schemas import Page
from mspclaw.audit import service
from mspclaw.audit.models import AuditEventRead, AuditVerification

router = APIRouter(tags=["Audit"])


@router.get("/audit/events", response_model=Page[AuditEventRead], responses=PROBLEM_RESPONSES)
async def list_events(
    ctx: Ctx = Depends(context("audit.read")),
    paging: Paging = Depends(),
    action: str | None = Query(None, max_length=100, description="Only actions starting with this text."),
) -> Page[AuditEventRead]:
    """Audit events, newest first."""
    items, total = await service.list_events(ctx.session, limit=paging.limit, offset=paging.offset, action=action)
    return Page(
        items=[AuditEventRead.model_validate(e) for e in items],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/audit/verify", response_model=AuditVerification, responses=PROBLEM_RESPONSES)
async def verify_chain(ctx: Ctx = Depends(context("audit.verify"))) -> AuditVerification:
    """Recompute the hash chain and name the first broken event, if any."""
    return await service.verify(ctx.session, tenant_id=ctx.tenant_id)
