"""Run flows that people trigger: start, dry-run, approve/deny, answer, cancel.

Shared by the API and the CLI; each flow works in the caller's tenant-bound session, audits,
and enqueues the next ``runs.advance`` job in the same transaction (the caller commits).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.audit import service as audit
from mspclaw.auth.principal import Principal
from mspclaw.database.base import utcnow
from mspclaw.errors import Conflict, NotFound, PermissionDenied
from mspclaw.playbooks import (
    LoadedPlaybook,
    Playbook,
    PlaybookInput,
    ResolvedPlan,
    TicketContext,
    get_builtin,
    resolve_plan,
)
from mspclaw.playbooks.plan import coerce_input
from mspclaw.runs import service
from mspclaw.runs.executor import allowed_tools, defer_advance, finish
from mspclaw.runs.models import TERMINAL, Approval, Question, Run, RunStart
from mspclaw.runs.policy_gate import GateContext, StepProposal, approval_reasons, check_step
from mspclaw.tenancy import service as tenancy
from mspclaw.tenancy.models import Client, Device
from mspclaw.tenancy.policy import ClientPolicy, ClientStack

#: author recorded for the shipped playbooks (four eyes compares approvers against it)
BUILTIN_AUTHOR = "mspclaw:builtin"


class GateView(BaseModel):
    """What the policy gate would decide for one planned step (dry-run)."""

    phase: str
    step: str
    tool: str
    verdict: str
    reasons: list[str]
    approval_reasons: list[str]


class DryRun(BaseModel):
    """A resolved plan plus the gate's verdict for every step that would run."""

    plan: ResolvedPlan
    gate: list[GateView]


def person_id(principal: Principal) -> str:
    """Who a principal is for four-eyes purposes: the technician behind a key, else the actor."""
    return str(principal.technician_id or principal.actor.id or principal.actor.name)


def get_playbook(playbook_id: str) -> LoadedPlaybook:
    """A playbook by id (NotFound names only the id asked for)."""
    try:
        return get_builtin(playbook_id)
    except NotFound:
        raise NotFound(f"playbook {playbook_id} not found", detail={"id": playbook_id}) from None


def client_fields(client: Client) -> dict[str, Any]:
    """What playbooks see as ``client``: the client's settings (``stack.settings``), its id and name."""
    settings = ClientStack.model_validate(client.stack or {}).settings
    return {**settings, "id": str(client.id), "name": client.name}


async def run_context(
    session: AsyncSession, *, client: Client | None, device_id: uuid.UUID | None, context: TicketContext
) -> TicketContext:
    """The ticket context enriched with the stored client and device (404 for other tenants')."""
    data = context.model_dump()
    if client is not None:
        # stored settings first; values the caller put in the context override them for this run
        data["client"] = {**client_fields(client), **data["client"], "id": str(client.id), "name": client.name}
    if device_id is not None:
        device = await tenancy.get_or_raise(session, Device, device_id, "device")
        if client is not None and device.client_id != client.id:
            raise NotFound(f"device {device_id} not found", detail={"id": str(device_id)})
        os_name = device.os if device.os in ("linux", "macos", "windows") else data["device"].get("os")
        data["device"] = {**data["device"], "id": str(device.id), "hostname": device.hostname, "os": os_name}
    return TicketContext.model_validate(data)


async def dry_run(
    session: AsyncSession,
    *,
    principal: Principal,
    playbook_id: str,
    client_id: uuid.UUID | None,
    device_id: uuid.UUID | None,
    context: TicketContext,
    inputs: dict[str, Any],
    playbook: LoadedPlaybook | None = None,
) -> DryRun:
    """The plan and the gate's decision for each step that would run; no side effects.

    ``playbook`` judges a loaded (e.g. instruction-built) playbook instead of a built-in one.
    """
    loaded = playbook or get_playbook(playbook_id)
    client = await tenancy.get_or_raise(session, Client, client_id, "client") if client_id else None
    ctx_model = await run_context(session, client=client, device_id=device_id, context=context)
    plan = resolve_plan(loaded, ctx_model, inputs)
    policy = ClientPolicy.model_validate(client.policy if client else {})
    gate_ctx = GateContext(
        policy=policy,
        allowed_tools=allowed_tools(loaded.playbook),
        requester_permissions=principal.permissions,
        now=utcnow(),
        requester_id=person_id(principal),
        author_id=BUILTIN_AUTHOR,
        contact_email=ctx_model.contact.email,
        contact_vip=ctx_model.contact.vip,
    )
    views = []
    for step in plan.steps:
        if step.status == "skipped":
            continue
        proposal = StepProposal(step.phase, step.id, step.tool, step.args, step.requires_approval)
        gate_ctx = replace(gate_ctx, allowed_tools=allowed_tools(loaded.playbook, step.phase))
        if step.deferred_args:
            # arguments known only at run time: the gate judges them then; approval rules are known now
            needed = approval_reasons(proposal, step.risk, gate_ctx)
            view = GateView(
                phase=step.phase,
                step=step.id,
                tool=step.tool,
                verdict="decided_at_run_time",
                reasons=[f"arguments known at run time: {', '.join(step.deferred_args)}"],
                approval_reasons=needed,
            )
        else:
            decision = check_step(proposal, gate_ctx)
            view = GateView(
                phase=step.phase,
                step=step.id,
                tool=step.tool,
                verdict=decision.verdict,
                reasons=list(decision.reasons),
                approval_reasons=list(decision.approval_reasons),
            )
        views.append(view)
    return DryRun(plan=plan, gate=views)


async def start_run(
    session: AsyncSession, *, principal: Principal, data: RunStart, playbook: LoadedPlaybook | None = None
) -> Run:
    """Create a pending run for the client's ticket/device and enqueue its first step.

    ``playbook`` runs a loaded (e.g. tenant-authored) playbook instead of the built-in named
    by ``data.playbook_id``; the run snapshots whichever it is.
    """
    loaded = playbook or get_playbook(data.playbook_id)
    client = await tenancy.get_or_raise(session, Client, data.client_id, "client")
    context = await run_context(session, client=client, device_id=data.device_id, context=data.context)
    resolve_plan(loaded, context, data.inputs)  # refuse now what cannot be planned (missing inputs, bad args)
    run = Run(
        client_id=client.id,
        device_id=data.device_id,
        ticket_ref=data.ticket_ref or context.ticket.id,
        context=context.model_dump(mode="json"),
        playbook_id=loaded.playbook.id,
        playbook_version=loaded.playbook.version,
        content_hash=loaded.content_hash,
        playbook=loaded.playbook.model_dump(mode="json"),
        status="pending",
        phase="main",
        requested_by_type=principal.actor.type,
        requested_by_id=person_id(principal),
        requested_by_name=principal.actor.name,
        requester_permissions=sorted(principal.permissions),
        author=BUILTIN_AUTHOR,
        inputs=data.inputs,
    )
    session.add(run)
    await session.flush()
    await audit.record(
        session,
        actor=principal.actor,
        action="run.started",
        target_type="run",
        target_id=run.id,
        after={"playbook": f"{run.playbook_id}@{run.playbook_version}", "client_id": str(client.id)},
        detail={"inputs": data.inputs, "ticket": run.ticket_ref},
    )
    await defer_advance(session, run)
    return run


async def decide_approval(
    session: AsyncSession, *, principal: Principal, approval_id: uuid.UUID, approve: bool, reason: str | None
) -> Approval:
    """Approve or deny one pending approval (exactly that step's tool and arguments)."""
    principal.require("runs.approve")
    approval, run = await service.lock_with_run(session, model=Approval, object_id=approval_id, label="approval")
    if approval.status != "pending":
        raise Conflict(f"approval {approval_id} is already {approval.status}", detail={"status": approval.status})
    now = utcnow()
    if now > approval.expires_at:
        raise Conflict(f"approval {approval_id} has expired", detail={"expires_at": approval.expires_at.isoformat()})
    client = await session.get(Client, run.client_id)
    policy = ClientPolicy.model_validate(client.policy if client else {})
    who = person_id(principal)
    if approve and policy.four_eyes and who in {run.requested_by_id, run.author}:
        raise PermissionDenied(
            "four eyes: the client's policy requires an approver other than the run's requester or author",
            detail={"approval": str(approval_id)},
        )
    approval.status = "approved" if approve else "denied"
    approval.decided_at = now
    approval.decided_by = principal.actor.name
    approval.decided_by_id = who
    approval.decider_permissions = sorted(principal.permissions)
    approval.reason = reason
    await audit.record(
        session,
        actor=principal.actor,
        action="run.approval_approved" if approve else "run.approval_denied",
        target_type="approval",
        target_id=approval.id,
        detail={"run_id": str(run.id), "step": approval.step_id, "tool": approval.tool, "reason": reason},
    )
    if run.status == "awaiting_approval":
        run.status = "running"
        await defer_advance(session, run)
    return approval


async def answer_question(
    session: AsyncSession, *, principal: Principal, question_id: uuid.UUID, answer: Any
) -> Question:
    """Record the answer (typed as the playbook input) and let the run continue."""
    question, run = await service.lock_with_run(session, model=Question, object_id=question_id, label="question")
    if question.status != "pending":
        raise Conflict(f"question {question_id} is already {question.status}", detail={"status": question.status})
    spec = get_playbook_input(run, question.input_name)
    question.answer = coerce_input(question.input_name, spec, answer)
    question.status = "answered"
    question.answered_at = utcnow()
    question.answered_by = principal.actor.name
    await audit.record(
        session,
        actor=principal.actor,
        action="run.question_answered",
        target_type="question",
        target_id=question.id,
        detail={"run_id": str(run.id), "input": question.input_name},
    )
    await resume_when_unblocked(session, run)
    return question


async def resume_when_unblocked(session: AsyncSession, run: Run) -> None:
    """A run paused for input (answers, a caller's verification) continues once no question is
    pending; its next step is gated again. The executor returns early on any awaiting_* status,
    so the run must be running before its next advance."""
    if run.status != "awaiting_input":
        return
    if any(q.status == "pending" for q in await service.questions_of(session, run_id=run.id)):
        return
    run.status = "running"
    await defer_advance(session, run)


def get_playbook_input(run: Run, name: str) -> PlaybookInput:
    """The input declaration ``name`` of the run's playbook snapshot."""
    return Playbook.model_validate(run.playbook).inputs[name]


async def cancel_run(session: AsyncSession, *, principal: Principal, run_id: uuid.UUID) -> Run:
    """Cancel a run that has not finished; its open approvals and questions close with it."""
    run = await service.lock_run(session, run_id=run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found", detail={"id": str(run_id)})
    if run.status in TERMINAL:
        raise Conflict(f"run {run_id} already ended ({run.status})", detail={"status": run.status})
    now = utcnow()
    for approval in await service.approvals_of(session, run_id=run.id):
        if approval.status == "pending":
            approval.status, approval.decided_at, approval.reason = "denied", now, "run cancelled"
    for question in await service.questions_of(session, run_id=run.id):
        if question.status == "pending":
            question.status = "expired"
    await audit.record(
        session,
        actor=principal.actor,
        action="run.cancelled",
        target_type="run",
        target_id=run.id,
        before={"status": run.status},
    )
    await finish(session, run, "cancelled", f"cancelled by {principal.actor.name}")
    return run
