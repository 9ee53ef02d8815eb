"""Routes for playbooks (list, show, dry-run) and runs (start, inspect, approve, answer, cancel).

Thin: each route names its permission through ``context``, calls a flow, audits through the
flow and commits. Every path parameter is ``object_id`` so other tenants' ids answer 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Query

from mspclaw.api.deps import Ctx, Paging, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.api.schemas import Page
from mspclaw.playbooks import builtin_playbooks
from mspclaw.runs import flows, service
from mspclaw.runs.models import (
    AnswerBody,
    ApprovalRead,
    Decision,
    DryRunRequest,
    QuestionRead,
    RunDetail,
    RunRead,
    RunStart,
)

router = APIRouter()
TAGS: list[Any] = ["Runs"]


@router.get("/playbooks", tags=["Playbooks"], responses=PROBLEM_RESPONSES)
async def list_playbooks(ctx: Ctx = Depends(context("playbooks.read"))) -> list[dict[str, Any]]:
    """The playbooks that can be run: id, title, version, mode, triggers and tools."""
    return [
        {
            "id": lp.playbook.id,
            "title": lp.playbook.title,
            "version": lp.playbook.version,
            "mode": lp.playbook.mode,
            "description": lp.playbook.description,
            "intents": lp.playbook.triggers.intents,
            "tools": lp.playbook.tools,
            "content_hash": lp.content_hash,
        }
        for lp in builtin_playbooks().values()
    ]


@router.get("/playbooks/{object_id}", tags=["Playbooks"], responses=PROBLEM_RESPONSES)
async def get_playbook(object_id: str, ctx: Ctx = Depends(context("playbooks.read"))) -> dict[str, Any]:
    """One playbook in full (the document that would be snapshotted into a run)."""
    loaded = flows.get_playbook(object_id)
    return {**loaded.playbook.model_dump(mode="json"), "content_hash": loaded.content_hash}


@router.post("/playbooks/{object_id}/dry-run", tags=["Playbooks"], responses=PROBLEM_RESPONSES)
async def dry_run_playbook(
    object_id: str, body: DryRunRequest, ctx: Ctx = Depends(context("runs.start"))
) -> flows.DryRun:
    """What would run for this ticket: resolved steps, arguments, backends, and the gate's verdicts."""
    return await flows.dry_run(
        ctx.session,
        principal=ctx.principal,
        playbook_id=object_id,
        client_id=body.client_id,
        device_id=body.device_id,
        context=body.context,
        inputs=body.inputs,
    )


@router.post("/runs", status_code=201, tags=TAGS, responses=PROBLEM_RESPONSES)
async def start_run(body: RunStart, ctx: Ctx = Depends(context("runs.start"))) -> RunRead:
    """Start a run of a playbook for a client's ticket/device; the client's policy applies."""
    run = await flows.start_run(ctx.session, principal=ctx.principal, data=body)
    await ctx.commit()
    return RunRead.model_validate(run)


@router.get("/runs", tags=TAGS, responses=PROBLEM_RESPONSES)
async def list_runs(
    paging: Paging = Depends(),
    status: str | None = Query(None, max_length=30, description="Only runs in this state."),
    ctx: Ctx = Depends(context("runs.read")),
) -> Page[RunRead]:
    """Runs, newest first."""
    rows, total = await service.list_runs(ctx.session, status=status, limit=paging.limit, offset=paging.offset)
    return Page(items=[RunRead.model_validate(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/runs/{object_id}", tags=TAGS, responses=PROBLEM_RESPONSES)
async def get_run(object_id: uuid.UUID, ctx: Ctx = Depends(context("runs.read"))) -> RunDetail:
    """One run with its steps, approvals and questions."""
    run = await service.get_run_or_raise(ctx.session, run_id=object_id)
    return await service.detail(ctx.session, run=run)


@router.post("/runs/{object_id}/cancel", tags=TAGS, responses=PROBLEM_RESPONSES)
async def cancel_run(object_id: uuid.UUID, ctx: Ctx = Depends(context("runs.cancel"))) -> RunRead:
    """Cancel a run that has not ended; its open approvals are denied and questions closed."""
    run = await flows.cancel_run(ctx.session, principal=ctx.principal, run_id=object_id)
    await ctx.commit()
    return RunRead.model_validate(run)


@router.get("/approvals", tags=TAGS, responses=PROBLEM_RESPONSES)
async def list_approvals(
    status: str | None = Query("pending", max_length=20, description="Only approvals in this state."),
    ctx: Ctx = Depends(context("runs.read")),
) -> list[ApprovalRead]:
    """Approval requests (by default the pending ones), newest first."""
    return [ApprovalRead.model_validate(a) for a in await service.list_approvals(ctx.session, status=status)]


async def _decide(object_id: uuid.UUID, body: Decision, ctx: Ctx, approve: bool) -> ApprovalRead:
    approval = await flows.decide_approval(
        ctx.session, principal=ctx.principal, approval_id=object_id, approve=approve, reason=body.reason
    )
    await ctx.commit()
    return ApprovalRead.model_validate(approval)


@router.post("/approvals/{object_id}/approve", tags=TAGS, responses=PROBLEM_RESPONSES)
async def approve(object_id: uuid.UUID, body: Decision, ctx: Ctx = Depends(context("runs.approve"))) -> ApprovalRead:
    """Approve exactly this step's tool call (it approves no other step)."""
    return await _decide(object_id, body, ctx, True)


@router.post("/approvals/{object_id}/deny", tags=TAGS, responses=PROBLEM_RESPONSES)
async def deny(object_id: uuid.UUID, body: Decision, ctx: Ctx = Depends(context("runs.approve"))) -> ApprovalRead:
    """Deny this step; the run applies the step's on_failure (stop by default)."""
    return await _decide(object_id, body, ctx, False)


@router.post("/questions/{object_id}/answer", tags=TAGS, responses=PROBLEM_RESPONSES)
async def answer(object_id: uuid.UUID, body: AnswerBody, ctx: Ctx = Depends(context("runs.answer"))) -> QuestionRead:
    """Answer a run's question; the run continues once nothing else is pending."""
    question = await flows.answer_question(
        ctx.session, principal=ctx.principal, question_id=object_id, answer=body.answer
    )
    await ctx.commit()
    return QuestionRead.model_validate(question)
