"""Diagnosis on a ticket: a bounded ReAct loop (or, with no LLM, a fixed read-only sweep) whose
tool calls pass the policy gate and observe the ticket's device, then a run of the changes it
proposes — every change waits for a technician. The transcript is stored with the run.

The transcript lives in the audit trail (action ``diagnosis.transcript``, target the run, or
the ticket when nothing was proposed): append-only and hash-chained, so what the model saw and
asked for cannot be edited afterwards. ``GET /api/v1/runs/{id}/transcript`` serves it.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.audit import service as audit
from mspclaw.audit.models import AuditEvent
from mspclaw.auth.principal import Principal
from mspclaw.database.base import utcnow
from mspclaw.errors import NotFound
from mspclaw.playbooks.models import Step
from mspclaw.playbooks.plan import choose_backend
from mspclaw.reasoning.grammar import InstructionNotUnderstood, interpret
from mspclaw.reasoning.models import ProposedCall, ProposedPlan
from mspclaw.reasoning.planner import (
    Diagnosis,
    DiagnosisResult,
    ReadRefused,
    ReadToolRunner,
    RefusedCall,
    check_plan,
    diagnose,
    observing_tool,
)
from mspclaw.reasoning.resolve import (
    TicketScope,
    audit_ticket,
    plan_run,
    plan_to_playbook,
    tenant_planner,
    ticket_scope,
)
from mspclaw.runs import runtime as runs_runtime
from mspclaw.runs import service as runs
from mspclaw.runs.flows import person_id, run_context
from mspclaw.runs.models import RunRead
from mspclaw.runs.policy_gate import GateContext, StepProposal, check_step
from mspclaw.tenancy.models import Device
from mspclaw.tenancy.policy import ClientPolicy
from mspclaw.tools import ToolContext, get_tool
from mspclaw.vault.keys import Keyring

log = structlog.get_logger(__name__)

TRANSCRIPT_ACTION = "diagnosis.transcript"
#: what the offline engine looks at when the goal names no read-only check it understands
OFFLINE_SWEEP: list[tuple[str, dict[str, Any]]] = [("system_info", {}), ("disk_usage", {}), ("top_processes", {})]


class DiagnoseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=1, max_length=2000, description="What to find out, e.g. 'why is the laptop slow'.")
    device_id: uuid.UUID | None = Field(default=None, description="Override the device asset mapping picks.")
    max_steps: int = Field(default=12, ge=1, le=12, description="Most read-only tool calls the loop may make.")
    start: bool = Field(default=True, description="Start a run of the proposed changes (each waits for approval).")


class DiagnosisRead(BaseModel):
    """What the investigation found, what it proposes, and its thought/action/observation transcript."""

    engine: Literal["llm", "offline"]
    fallback_reason: str | None = None
    findings: str
    proposed_changes: list[ProposedCall]
    dropped_changes: list[RefusedCall] = Field(description="Proposals that were not valid tool calls.")
    refused_calls: list[RefusedCall] = Field(description="Tool calls the loop asked for and did not get.")
    read_calls: int
    transcript: list[dict[str, Any]]
    run: RunRead | None = None


class TranscriptRead(BaseModel):
    """A diagnosis transcript as stored with its run."""

    run_id: uuid.UUID | None
    ticket_id: str
    goal: str
    engine: str
    findings: str
    transcript: list[dict[str, Any]]
    refused_calls: list[dict[str, Any]]
    dropped_changes: list[dict[str, Any]]
    recorded_at: datetime
    recorded_by: str | None


async def read_runner(
    session: AsyncSession, *, principal: Principal, scope: TicketScope, device: Device | None
) -> ReadToolRunner:
    """Runs one read-only tool on the ticket's device, after the same policy gate as any run step."""
    policy = ClientPolicy.model_validate(scope.client.policy or {})
    context = await run_context(
        session, client=scope.client, device_id=device.id if device else None, context=scope.run_context
    )
    router = runs_runtime.current().router
    seq = itertools.count(1)

    async def run(tool: str, args: dict[str, Any]) -> dict[str, Any]:
        spec = get_tool(tool)
        step_id = f"read_{next(seq)}"
        gate = GateContext(
            policy=policy,
            allowed_tools=frozenset({tool}),
            requester_permissions=principal.permissions,
            now=utcnow(),
            requester_id=person_id(principal),
            contact_email=context.contact.email,
            contact_vip=context.contact.vip,
        )
        decision = check_step(StepProposal("diagnosis", step_id, tool, args), gate)
        if decision.verdict != "allow":
            raise ReadRefused("; ".join(decision.reasons or decision.approval_reasons))
        backend = choose_backend(spec, Step(id=step_id, tool=tool), context)
        if backend is None or backend not in router.kinds():
            raise ReadRefused(f"no backend can run {tool} on this ticket's device")
        tool_context = ToolContext(
            tenant_id=principal.tenant_id,
            client_id=scope.client.id,
            ticket_id=str(scope.ticket.id),
            device_id=context.device.id,
            device_os=context.device.os,
            actor=principal.actor.name,
        )
        outcome = await router.execute(spec, args, tool_context, backend)
        detail = {"tool": tool, "args": spec.redact(args), "ok": outcome.ok, "error": outcome.error}
        await audit_ticket(session, principal, "diagnosis.read", scope.ticket.id, detail)
        return {"ok": outcome.ok, "output": spec.redact(outcome.output), "error": outcome.error}

    return run


async def offline_diagnosis(goal: str, scope: TicketScope, runner: ReadToolRunner) -> DiagnosisResult:
    """The read-only checks the goal names (else a standard sweep), run in order; no proposals."""
    try:
        named = [(s.tool, s.args) for s in interpret(goal, scope.context).steps if observing_tool(s.tool) is None]
    except InstructionNotUnderstood:
        named = []
    entries: list[dict[str, Any]] = []
    refused: list[RefusedCall] = []
    seen: list[str] = []
    for tool, args in named or OFFLINE_SWEEP:
        entries.append({"kind": "action", "tool": "run_read_tool", "args": {"tool": tool, "args": args}})
        try:
            output = await runner(tool, args)
        except ReadRefused as exc:
            refused.append(RefusedCall(tool=tool, args=args, reason=exc.message))
            entries.append({"kind": "observation", "tool": "run_read_tool", "text": f"refused: {exc.message}"})
            continue
        entries.append({"kind": "observation", "tool": "run_read_tool", "text": str(output)[:2000]})
        seen.append(f"{tool}: {'ok' if output['ok'] else 'failed (' + str(output['error']) + ')'}")
    findings = "Offline checks (no LLM configured): " + ("; ".join(seen) or "none could run")
    return DiagnosisResult(
        diagnosis=Diagnosis(findings=findings), transcript=entries, read_calls=len(seen), refused=refused
    )


def split_proposals(proposals: list[ProposedCall]) -> tuple[list[ProposedCall], list[RefusedCall]]:
    """Valid catalog calls (every change marked for approval) and the rest with why."""
    valid, dropped = [], []
    for call in proposals:
        problems = check_plan(ProposedPlan(steps=[call]))
        if problems:
            dropped.append(RefusedCall(tool=call.tool, args=call.args, reason=problems[0]))
            continue
        call.requires_approval = get_tool(call.tool).risk != "read"
        valid.append(call)
    return valid, dropped


async def diagnose_ticket(
    session: AsyncSession, keyring: Keyring, *, principal: Principal, ticket_id: uuid.UUID, data: DiagnoseRequest
) -> DiagnosisRead:
    """Investigate the ticket read-only, store the transcript, and start a run of the proposed changes."""
    scope = await ticket_scope(session, principal=principal, ticket_id=ticket_id, device_id=data.device_id)
    runner = await read_runner(session, principal=principal, scope=scope, device=scope.device)
    planner, on_usage = await tenant_planner(session, keyring)
    engine: Literal["llm", "offline"] = "offline"
    fallback_reason = None
    result = None
    if planner is not None:
        try:
            result = await diagnose(
                data.goal, scope.context, model=planner.model, run_read_tool=runner, max_steps=data.max_steps
            )
            await on_usage(result.usage)
            engine = "llm"
        except SQLAlchemyError:
            raise
        except Exception as exc:  # a provider failure falls back to the offline checks
            fallback_reason = f"the LLM could not be used ({type(exc).__name__}: {str(exc)[:200]})"
            log.warning("diagnosis_fallback_offline", reason=fallback_reason)
    if result is None:
        result = await offline_diagnosis(data.goal, scope, runner)
    proposed, dropped = split_proposals(result.diagnosis.proposed_changes)
    run = None
    if proposed:
        plan = ProposedPlan(summary=result.diagnosis.findings[:500], steps=proposed)
        _view, run = await plan_run(
            session,
            principal=principal,
            scope=scope,
            device=scope.device,
            playbook=plan_to_playbook(plan, f"Diagnosis: {data.goal}", origin="diagnosis"),
            preview=False,
            start=data.start,
        )
    for attempt in [*result.refused, *dropped]:
        await audit_ticket(session, principal, "diagnosis.refused", scope.ticket.id, attempt.model_dump())
    read = DiagnosisRead(
        engine=engine,
        fallback_reason=fallback_reason,
        findings=result.diagnosis.findings,
        proposed_changes=proposed,
        dropped_changes=dropped,
        refused_calls=result.refused,
        read_calls=result.read_calls,
        transcript=result.transcript,
        run=RunRead.model_validate(run) if run else None,
    )
    await audit.record(
        session,
        actor=principal.actor,
        action=TRANSCRIPT_ACTION,
        target_type="run" if run else "ticket",
        target_id=run.id if run else scope.ticket.id,
        detail={
            "ticket_id": str(scope.ticket.id),
            "goal": data.goal,
            **read.model_dump(mode="json", exclude={"run", "fallback_reason", "read_calls"}),
        },
    )
    return read


async def transcript_of_run(session: AsyncSession, *, run_id: uuid.UUID) -> TranscriptRead:
    """The diagnosis transcript stored with ``run_id`` (NotFound for runs no diagnosis started)."""
    await runs.get_run_or_raise(session, run_id=run_id)
    event = await session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.action == TRANSCRIPT_ACTION,
            AuditEvent.target_type == "run",
            AuditEvent.target_id == str(run_id),
        )
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    )
    if event is None or event.detail is None:
        raise NotFound(f"run {run_id} was not started by a diagnosis, so it has no transcript")
    detail = event.detail
    return TranscriptRead(
        run_id=run_id,
        ticket_id=detail["ticket_id"],
        goal=detail["goal"],
        engine=detail["engine"],
        findings=detail["findings"],
        transcript=detail["transcript"],
        refused_calls=detail["refused_calls"],
        dropped_changes=detail["dropped_changes"],
        recorded_at=event.created_at,
        recorded_by=event.actor_name,
    )
