"""Triage routes: ad-hoc triage, a ticket's stored triage, technician intent labels, the
tenant's intents and model retraining. Thin: the work is in ``service`` and ``tenant_models``.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, status

from mspclaw.api.deps import Ctx, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.triage import service, tasks, tenant_models
from mspclaw.triage.models import (
    BackfillQueued,
    IntentConfirm,
    IntentLabelRead,
    IntentRead,
    RetrainQueued,
    TenantIntentCreate,
    TenantModelRead,
    TicketTriageRead,
    TriageAnswer,
    TriageRequest,
    TriageSettingsRead,
    TriageSettingsUpdate,
)

router = APIRouter(tags=["Triage"], responses=PROBLEM_RESPONSES)


@router.post("/triage", response_model=TriageAnswer)
async def triage(data: TriageRequest, ctx: Ctx = Depends(context("triage.run"))) -> TriageAnswer:
    """Triage ad-hoc text: intent with confidence and candidates, urgency with its factors,
    similar resolved tickets of this tenant and the client's context. Nothing is stored. With the
    tenant's LLM provider set to ``use_for_triage``, its answer is combined with the offline one."""
    answer = await service.triage_adhoc(ctx.session, tenant_id=ctx.tenant_id, data=data, keyring=ctx.keyring)
    await ctx.commit()  # only LLM usage is written (when the tenant uses its LLM for triage)
    return answer


@router.get("/triage/intents", response_model=list[IntentRead])
async def list_intents(ctx: Ctx = Depends(context("triage.read"))) -> list[IntentRead]:
    """The intent taxonomy: built-in intents, then the tenant's own."""
    return await service.list_intents(ctx.session, tenant_id=ctx.tenant_id)


@router.post("/triage/intents", response_model=IntentRead, status_code=status.HTTP_201_CREATED)
async def add_intent(data: TenantIntentCreate, ctx: Ctx = Depends(context("triage.run"))) -> IntentRead:
    """Add an intent of the tenant's own (technicians can then label tickets with it)."""
    intent = await service.add_intent(ctx.session, tenant_id=ctx.tenant_id, intent_id=data.id, label=data.label)
    await ctx.audit("triage.intent.add", target_type="intent", target_id=data.id, after=data.model_dump())
    await ctx.commit()
    return intent


@router.post("/triage/retrain", response_model=RetrainQueued, status_code=status.HTTP_202_ACCEPTED)
async def retrain(ctx: Ctx = Depends(context("triage.run"))) -> RetrainQueued:
    """Queue retraining of the tenant's intent model; until the tenant has enough confirmed
    tickets the shipped model stays and nothing is queued."""
    counts = await tenant_models.label_counts(ctx.session, tenant_id=ctx.tenant_id)
    ready = tenant_models.ready(counts)
    job_id = await tasks.enqueue_retrain(ctx.session, tenant_id=ctx.tenant_id) if ready else None
    if ready:
        await ctx.audit("triage.retrain.queue", target_type="tenant_model", detail={"label_counts": counts})
    await ctx.commit()
    return RetrainQueued(
        queued=job_id is not None,
        job_id=job_id,
        ready=ready,
        label_counts=counts,
        requirement=tenant_models.requirement(),
    )


@router.post("/triage/backfill", response_model=BackfillQueued, status_code=status.HTTP_202_ACCEPTED)
async def backfill(
    limit: int = Query(10_000, ge=1, le=1_000_000, description="Most tickets to triage."),
    ctx: Ctx = Depends(context("triage.run")),
) -> BackfillQueued:
    """Queue triage of tickets that were never triaged (synced before triage was running)."""
    job_id = await tasks.enqueue_backfill(ctx.session, tenant_id=ctx.tenant_id, limit=limit)
    await ctx.audit("triage.backfill.queue", target_type="tenant", detail={"limit": limit})
    await ctx.commit()
    return BackfillQueued(queued=job_id is not None, job_id=job_id, limit=limit)


@router.get("/triage/settings", response_model=TriageSettingsRead)
async def get_settings(ctx: Ctx = Depends(context("triage.read"))) -> TriageSettingsRead:
    """The tenant's confidence threshold (below it the intent is ``unsure``) and the one in force."""
    return await service.get_settings(ctx.session, tenant_id=ctx.tenant_id)


@router.put("/triage/settings", response_model=TriageSettingsRead)
async def update_settings(data: TriageSettingsUpdate, ctx: Ctx = Depends(context("triage.run"))) -> TriageSettingsRead:
    """Set the tenant's confidence threshold (null: use the model's)."""
    before = await service.get_settings(ctx.session, tenant_id=ctx.tenant_id)
    after = await service.update_settings(ctx.session, tenant_id=ctx.tenant_id, data=data)
    await ctx.audit(
        "triage.settings.update",
        target_type="triage_settings",
        before=before.model_dump(),
        after=after.model_dump(),
    )
    await ctx.commit()
    return after


@router.get("/triage/model", response_model=TenantModelRead | None)
async def tenant_model(ctx: Ctx = Depends(context("triage.read"))) -> TenantModelRead | None:
    """The tenant's newest trained intent model and its metrics (null: the shipped model is used)."""
    row = await tenant_models.latest(ctx.session, tenant_id=ctx.tenant_id)
    return TenantModelRead.model_validate(row) if row is not None else None


@router.get("/tickets/{object_id}/triage", response_model=TicketTriageRead)
async def ticket_triage(object_id: uuid.UUID, ctx: Ctx = Depends(context("triage.read"))) -> TicketTriageRead:
    """The ticket's latest stored triage with similar resolved tickets and proposed merges
    (triaged now if the automatic job has not reached it yet)."""
    result = await service.latest_for_ticket(ctx.session, tenant_id=ctx.tenant_id, ticket_id=object_id)
    await ctx.commit()
    return result


@router.post("/tickets/{object_id}/intent", response_model=IntentLabelRead)
async def confirm_intent(
    object_id: uuid.UUID, data: IntentConfirm, ctx: Ctx = Depends(context("triage.run"))
) -> IntentLabelRead:
    """A technician confirms or corrects the ticket's intent; the label trains the tenant's model."""
    label = await service.confirm_intent(
        ctx.session,
        tenant_id=ctx.tenant_id,
        ticket_id=object_id,
        intent=data.intent,
        actor=f"{ctx.principal.actor.type}:{ctx.principal.actor.name or ctx.principal.actor.id}",
    )
    await ctx.audit(
        "triage.intent.confirm",
        target_type="ticket",
        target_id=object_id,
        after={"intent": label.intent, "predicted": label.predicted_intent},
    )
    await ctx.commit()
    return IntentLabelRead.model_validate(label)
