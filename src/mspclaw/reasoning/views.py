"""Routes: the tenant's LLM provider, its usage against the budget, and planning an instruction."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.usage import RunUsage

from mspclaw.api.deps import Ctx, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.errors import NotFound
from mspclaw.reasoning import store
from mspclaw.reasoning.diagnosis import (
    DiagnoseRequest,
    DiagnosisRead,
    TranscriptRead,
    diagnose_ticket,
    transcript_of_run,
)
from mspclaw.reasoning.grammar import InstructionNotUnderstood
from mspclaw.reasoning.models import InstructionContext, PlanResult
from mspclaw.reasoning.planner import PlannerUnavailable, plan_instruction
from mspclaw.reasoning.providers import ProviderConfig
from mspclaw.reasoning.resolve import InstructionRequest, InstructionResult, resolve_instruction

router = APIRouter(tags=["Reasoning"])


@router.get("/llm/provider", response_model=ProviderConfig, responses=PROBLEM_RESPONSES)
async def get_provider(ctx: Ctx = Depends(context("tenant.read"))) -> ProviderConfig:
    """The configured LLM provider (its API key is in the vault and never returned)."""
    config = await store.get_config(ctx.session)
    if config is None:
        raise NotFound("no LLM provider is configured; MSPclaw uses its offline engines")
    return config


@router.put("/llm/provider", response_model=ProviderConfig, responses=PROBLEM_RESPONSES)
async def put_provider(data: store.ProviderWrite, ctx: Ctx = Depends(context("tenant.write"))) -> ProviderConfig:
    """Configure the tenant's LLM provider (OpenAI, Anthropic, Gemini, Ollama, any OpenAI-compatible)."""
    config = await store.put_config(ctx.session, ctx.keyring, data=data)
    await ctx.audit("llm.configure", target_type="llm_provider", after=config.model_dump(mode="json"))
    await ctx.commit()
    return config


@router.delete("/llm/provider", status_code=204, responses=PROBLEM_RESPONSES)
async def delete_provider(ctx: Ctx = Depends(context("tenant.write"))) -> Response:
    """Remove the provider; everything keeps working through the offline engines."""
    await store.delete_config(ctx.session)
    await ctx.audit("llm.remove", target_type="llm_provider")
    await ctx.commit()
    return Response(status_code=204)


@router.get("/llm/usage", response_model=store.UsageRead, responses=PROBLEM_RESPONSES)
async def get_usage(ctx: Ctx = Depends(context("tenant.read"))) -> store.UsageRead:
    """Tokens and cost this month, against the monthly budget."""
    return await store.usage(ctx.session)


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instruction: str = Field(min_length=1, max_length=2000)
    context: InstructionContext = Field(default_factory=InstructionContext)


@router.post("/instructions/plan", response_model=PlanResult, responses=PROBLEM_RESPONSES)
async def plan(data: PlanRequest, ctx: Ctx = Depends(context("runs.start"))) -> PlanResult:
    """Turn an instruction into a proposed plan (a dry-run view: nothing is executed)."""
    planner, config, reason = await store.planner_for_tenant(ctx.session, ctx.keyring)

    async def on_usage(run_usage: RunUsage) -> None:
        if config is not None:
            await store.record_usage(ctx.session, config, run_usage)

    result = await plan_instruction(data.instruction, data.context, llm=planner, on_usage=on_usage)
    if result.fallback_reason is None and reason and config is not None:
        result.fallback_reason = reason
    await ctx.audit(
        "instruction.plan",
        target_type="ticket",
        target_id=data.context.ticket_id,
        detail={
            "instruction": data.instruction[:500],
            "engine": result.engine,
            "tools": [s.tool for s in result.plan.steps],
            "rejected": [c.model_dump() for c in result.rejected],
        },
    )
    await ctx.commit()
    return result


@router.post("/tickets/{ticket_id}/instructions", response_model=InstructionResult, responses=PROBLEM_RESPONSES)
async def instruct(
    ticket_id: uuid.UUID, data: InstructionRequest, ctx: Ctx = Depends(context("runs.start"))
) -> InstructionResult:
    """Resolve a ticket from an instruction: plan it, then run it under the client's policy and approvals."""
    try:  # the flow audits the instruction and its plan (the CLI shares it)
        result = await resolve_instruction(
            ctx.session, ctx.keyring, principal=ctx.principal, ticket_id=ticket_id, data=data
        )
    except (InstructionNotUnderstood, PlannerUnavailable):
        await ctx.commit()  # keep the refused attempt (and any tokens spent) on record
        raise
    await ctx.commit()
    return result


@router.post("/tickets/{ticket_id}/diagnose", response_model=DiagnosisRead, responses=PROBLEM_RESPONSES)
async def diagnose(
    ticket_id: uuid.UUID, data: DiagnoseRequest, ctx: Ctx = Depends(context("runs.start"))
) -> DiagnosisRead:
    """Investigate a ticket with read-only tools (a bounded ReAct loop, or offline checks without an LLM),
    then start a run of the proposed changes, each waiting for a technician's approval."""
    result = await diagnose_ticket(ctx.session, ctx.keyring, principal=ctx.principal, ticket_id=ticket_id, data=data)
    await ctx.commit()
    return result


@router.get("/runs/{object_id}/transcript", response_model=TranscriptRead, responses=PROBLEM_RESPONSES)
async def run_transcript(object_id: uuid.UUID, ctx: Ctx = Depends(context("runs.read"))) -> TranscriptRead:
    """The diagnosis transcript (thought, action, observation) stored with a run a diagnosis started."""
    return await transcript_of_run(ctx.session, run_id=object_id)
