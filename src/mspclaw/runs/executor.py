"""The run executor: ``runs.advance`` jobs move a persisted run forward one step at a time.

Each job decides (under the run's row lock) what comes next — skip, ask, request approval,
finish, or execute — and for an execution commits the step as ``running`` with its
idempotency key *before* calling the backend, then records the outcome and defers the next
job in the same transaction. A crashed worker's job is retried and resumes the ``running``
step with the same key, which the backend journal answers without executing it again.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import structlog
from mspclaw_agent.tools import ToolOutcome
from procrastinate import RetryStrategy
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw import jobs
from mspclaw.audit import service as audit
from mspclaw.audit.service import Actor
from mspclaw.database.base import utcnow
from mspclaw.database.session import tenant_session
from mspclaw.errors import MSPclawError, NotFound
from mspclaw.identity import verification
from mspclaw.playbooks import (
    PlannedStep,
    Playbook,
    ResolvedPlan,
    TicketContext,
    evaluate,
    plan_scope,
    resolve_inputs,
    resolve_plan,
)
from mspclaw.playbooks.expressions import Deferred
from mspclaw.runs import faults, service
from mspclaw.runs.models import TERMINAL, Approval, Question, Run, RunStep
from mspclaw.runs.policy_gate import ApprovalState, GateContext, GateDecision, StepProposal, check_step
from mspclaw.runs.runtime import RunRuntime, current
from mspclaw.tenancy.models import Client
from mspclaw.tenancy.policy import ClientPolicy
from mspclaw.tools import BackendKind, ToolContext, derive_undo, get_tool

log = structlog.get_logger(__name__)

QUEUE = "runs"
ADVANCE = "runs.advance"
EXPIRE_APPROVAL = "runs.expire_approval"
EXPIRE_QUESTION = "runs.expire_question"
FailurePolicy = Literal["stop", "continue", "rollback"]


@dataclass(frozen=True)
class Call:
    """A concrete tool call the executor may make for one (phase, step) of a run."""

    phase: str
    step_id: str
    tool: str
    args: dict[str, Any]
    backend: BackendKind | None
    requires_approval: bool
    on_failure: FailurePolicy
    reason: str | None = None


@dataclass(frozen=True)
class Execution:
    """A step committed as running, to be carried out outside the transaction."""

    row_id: uuid.UUID
    call: Call
    idempotency_key: str


def allowed_tools(playbook: Playbook, phase: str = "step") -> frozenset[str]:
    """The tools a call in ``phase`` may use: a step only the playbook's declared tools; undo and
    rollback also the declared tools' undo tools (a step cannot smuggle in ``disable_account``
    because the playbook declares ``create_account``)."""
    declared = [get_tool(name) for name in playbook.tools]
    names = {t.name for t in declared}
    if phase == "step":
        return frozenset(names)
    return frozenset(names | {t.undo.tool for t in declared if t.undo is not None})


def automation_actor(run: Run) -> Actor:
    """The audit actor for what the executor does on a run's behalf."""
    return Actor("automation", str(run.id), f"playbook:{run.playbook_id}@{run.playbook_version}")


def idempotency_key(run_id: uuid.UUID, phase: str, step_id: str) -> str:
    """The key of one step of one run: the same on every attempt, unique across runs."""
    return f"run:{run_id}:{phase}:{step_id}"


async def defer_advance(session: AsyncSession, run: Run) -> None:
    """Enqueue the next advance of ``run`` in the caller's transaction."""
    await jobs.defer(
        session, ADVANCE, {"tenant_id": str(run.tenant_id), "run_id": str(run.id)}, queue=QUEUE, lock=f"run:{run.id}"
    )


async def finish(session: AsyncSession, run: Run, status: str, error: str | None = None) -> None:
    """End ``run`` with ``status`` and audit it."""
    run.status = status
    run.error = error if error is not None else run.error
    run.finished_at = utcnow()
    await audit.record(
        session,
        actor=automation_actor(run),
        action="run.finished",
        target_type="run",
        target_id=run.id,
        after={"status": status},
        detail={"error": run.error} if run.error else None,
    )
    # the closed loop writes the outcome back to the PSA ticket (or escalates) in its own job
    with contextlib.suppress(jobs.AlreadyQueued):
        await jobs.defer(
            session,
            "loop.after_run",
            {"tenant_id": str(run.tenant_id), "run_id": str(run.id)},
            queue="loop",
            queueing_lock=f"loop-run:{run.id}",
        )


# ---------------------------------------------------------------- the jobs


#: a job that raised (database hiccup, worker bug) is retried; it resumes, it does not redo
RETRY = RetryStrategy(max_attempts=5, exponential_wait=2)


@jobs.app.task(name=ADVANCE, queue=QUEUE, retry=RETRY)
async def advance_task(tenant_id: str, run_id: str) -> None:
    """Move one run forward by (at most) one executed step."""
    await advance(current(), uuid.UUID(tenant_id), uuid.UUID(run_id))


async def _expire(tenant_id: str, model: type[Approval] | type[Question], object_id: str) -> None:
    """Expire a still-pending approval/question; an expired approval counts as denied."""
    async with tenant_session(current().sessions, uuid.UUID(tenant_id)) as session, session.begin():
        try:
            found, run = await service.lock_with_run(session, model=model, object_id=uuid.UUID(object_id), label="item")
        except NotFound:
            return  # the run was deleted meanwhile
        if found.status != "pending":
            return
        found.status = "expired"
        if isinstance(found, Question):
            if run.status not in TERMINAL:
                await finish(session, run, "failed", f"the question for {found.input_name!r} was not answered in time")
            return
        found.decided_at = utcnow()
        found.reason = "nobody decided before the approval expired (counts as denied)"
        await audit.record(
            session,
            actor=Actor.system("approval-timeout"),
            action="run.approval_expired",
            target_type="approval",
            target_id=found.id,
            detail={"run_id": str(run.id), "step": found.step_id, "tool": found.tool},
        )
        if run.status == "awaiting_approval":
            run.status = "running"
            await defer_advance(session, run)


@jobs.app.task(name=EXPIRE_APPROVAL, queue=QUEUE, retry=RETRY)
async def expire_approval_task(tenant_id: str, approval_id: str) -> None:
    """Deny an approval that nobody decided in time, and let the run react."""
    await _expire(tenant_id, Approval, approval_id)


@jobs.app.task(name=EXPIRE_QUESTION, queue=QUEUE, retry=RETRY)
async def expire_question_task(tenant_id: str, question_id: str) -> None:
    """Give up on a question nobody answered in time: the run fails, naming the question."""
    await _expire(tenant_id, Question, question_id)


# ---------------------------------------------------------------- advancing


async def advance(runtime: RunRuntime, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
    """Decide the next thing for the run; execute at most one step, then record it."""
    async with tenant_session(runtime.sessions, tenant_id) as session:
        async with session.begin():
            run = await service.lock_run(session, run_id=run_id)
            if run is None or run.status in TERMINAL or run.status.startswith("awaiting_"):
                return
            execution = await Decider(session, run, runtime).next()
        if execution is None:
            return
        faults.crash_point("before_execute", execution.call.step_id)
        outcome = await execute(runtime, run, execution)
        faults.crash_point("after_execute", execution.call.step_id)
        async with session.begin():
            run = await service.lock_run(session, run_id=run_id)
            assert run is not None
            await record(session, run, execution, outcome)
        faults.crash_point("after_record", execution.call.step_id)


async def execute(runtime: RunRuntime, run: Run, execution: Execution) -> ToolOutcome:
    """Carry the call out on its backend; a misconfiguration becomes a failed outcome."""
    call = execution.call
    started = time.monotonic()
    context = TicketContext.model_validate(run.context)

    def failed(error: str) -> ToolOutcome:
        return ToolOutcome(
            tool=call.tool, ok=False, output={}, error=error, duration_ms=int((time.monotonic() - started) * 1000)
        )

    if call.backend is None:
        return failed("no backend can reach the device (it has neither an MSPclaw agent nor an RMM)")
    if call.backend not in runtime.router.kinds():
        return failed(f"no {call.backend} backend is configured for this client, so {call.tool} cannot run")
    tool_context = ToolContext(
        tenant_id=run.tenant_id,
        client_id=run.client_id,
        ticket_id=run.ticket_ref,
        device_id=context.device.id,
        device_os=context.device.os,
        run_id=run.id,
        step_id=call.step_id,
        idempotency_key=execution.idempotency_key,
        actor=automation_actor(run).name,
    )
    try:
        return await runtime.router.execute(get_tool(call.tool), call.args, tool_context, call.backend)
    except MSPclawError as exc:
        return failed(exc.message)


async def record(session: AsyncSession, run: Run, execution: Execution, outcome: ToolOutcome) -> None:
    """Store the outcome (redacted), apply the failure policy, and schedule the next job."""
    row = await session.get(RunStep, execution.row_id, populate_existing=True)
    assert row is not None
    spec = get_tool(row.tool)
    row.status = "succeeded" if outcome.ok else "failed"
    row.output = spec.redact(outcome.output)
    row.error = outcome.error
    row.finished_at = utcnow()
    row.duration_ms = outcome.duration_ms
    await audit.record(
        session,
        actor=automation_actor(run),
        action="run.step_executed",
        target_type="run",
        target_id=run.id,
        detail={
            "phase": row.phase,
            "step": row.step_id,
            "tool": row.tool,
            "ok": outcome.ok,
            "approver": row.approver,
            "idempotency_key": row.idempotency_key,
        },
    )
    if run.status in TERMINAL:
        return  # cancelled while the tool ran: the outcome is recorded, nothing more happens
    if not outcome.ok and row.phase in ("step", "verification"):
        await on_step_failure(session, run, execution.call.on_failure, f"step {row.step_id} failed: {outcome.error}")
    if run.status not in TERMINAL:
        await defer_advance(session, run)


async def on_step_failure(session: AsyncSession, run: Run, policy: FailurePolicy, error: str) -> None:
    """Apply a failed step's ``on_failure``: carry on, stop the run, or start the rollback."""
    if policy == "continue":
        return
    if policy == "rollback":
        run.phase = "rollback"
        run.error = error
        await audit.record(
            session,
            actor=automation_actor(run),
            action="run.rollback_started",
            target_type="run",
            target_id=run.id,
            detail={"error": error},
        )
        return
    await finish(session, run, "failed", error)


def _referenced_questions(playbook: Playbook, step_id: str, phase: str, pending: dict[str, str]) -> list[str]:
    """The unanswered questions a step's condition or arguments read (all of them if none is named)."""
    step = next(s for p, s in playbook.all_steps() if s.id == step_id and p == phase)
    text = json.dumps(step.args) + (step.when or "")
    named = [name for name in pending if f"inputs.{name}" in text]
    return named or list(pending)


class Decider:
    """One decision pass over a locked run: records skips, asks, requests approval or picks a step."""

    def __init__(self, session: AsyncSession, run: Run, runtime: RunRuntime) -> None:
        self.session = session
        self.run = run
        self.runtime = runtime
        self.playbook = Playbook.model_validate(run.playbook)
        self.context = TicketContext.model_validate(run.context)

    async def next(self) -> Execution | None:
        """The step to execute now, or None when the run waits or has finished."""
        run = self.run
        if run.status == "pending":
            run.status = "running"
            run.started_at = utcnow()
        client = await self.session.get(Client, run.client_id)
        self.policy = ClientPolicy.model_validate(client.policy if client else {})
        self.rows = {(r.phase, r.step_id): r for r in await service.steps_of(self.session, run_id=run.id)}
        self.approvals = await service.approvals_of(self.session, run_id=run.id)
        self.questions = {q.input_name: q for q in await service.questions_of(self.session, run_id=run.id)}
        self.inputs = {
            **run.inputs,
            **{n: q.answer for n, q in self.questions.items() if q.status == "answered"},
        }
        if run.phase == "main":
            found = await self._main()
            if found is not None or run.phase == "main" or run.status in TERMINAL:
                return found
        return await self._rollback()

    def _results(self) -> dict[str, ToolOutcome | None]:
        results: dict[str, ToolOutcome | None] = {}
        for (phase, step_id), row in self.rows.items():
            if phase not in ("step", "verification") or row.status == "running":
                continue
            if row.status == "skipped":
                results[step_id] = None
            else:
                results[step_id] = ToolOutcome(
                    tool=row.tool, ok=row.status == "succeeded", output=row.output, error=row.error, duration_ms=0
                )
        return results

    async def _main(self) -> Execution | None:
        # re-resolve after every recorded skip or refusal: later conditions may read it
        while True:
            try:
                plan = resolve_plan(self.playbook, self.context, self.inputs, results=self._results())
            except MSPclawError as exc:
                await finish(self.session, self.run, "failed", exc.message)
                return None
            step = await self._main_pass(plan)
            if step == "again":
                continue
            if step == "done":
                self.run.note = plan.note_preview
                await finish(self.session, self.run, "succeeded")
                return None
            return step

    async def _main_pass(self, plan: ResolvedPlan) -> Execution | Literal["again", "done"] | None:
        """One pass over the plan: the execution to start, "again" after a record, "done", or None to wait."""
        for planned in plan.steps:
            if planned.phase == "rollback":
                continue
            row = self.rows.get((planned.phase, planned.id))
            if row is not None and row.status != "running":
                continue
            if planned.status == "skipped":
                await self._record_plain(self._call(planned), "skipped", planned.reason)
                return "again"
            if planned.status == "conditional" or planned.deferred_args:
                if plan.questions:
                    await self._ask(_referenced_questions(self.playbook, planned.id, planned.phase, plan.questions))
                    return None
                await self._record_plain(self._call(planned), "skipped", f"not decidable: {planned.reason}")
                return "again"
            execution = await self._gate_and_start(self._call(planned), row)
            if execution is not None or self.run.status != "running" or self.run.phase != "main":
                return execution
            return "again"  # refused with on_failure: continue
        return "done"

    @staticmethod
    def _call(planned: PlannedStep) -> Call:
        return Call(
            phase=planned.phase,
            step_id=planned.id,
            tool=planned.tool,
            args=planned.args,
            backend=planned.backend,
            requires_approval=planned.requires_approval,
            on_failure=planned.on_failure,
            reason=planned.reason,
        )

    def rollback_calls(self) -> list[Call]:
        """Undo calls of completed changes (reverse order), then the playbook's rollback steps."""
        calls: list[Call] = []
        done = sorted(
            (r for r in self.rows.values() if r.phase == "step" and r.status == "succeeded" and r.risk != "read"),
            key=lambda r: r.seq,
        )
        for row in reversed(done):
            spec = get_tool(row.tool)
            try:
                undo = derive_undo(spec, row.args, row.output)
            except MSPclawError as exc:
                log.warning("undo_underivable", run_id=str(self.run.id), step=row.step_id, error=exc.message)
                continue
            if undo is not None:
                tool, args = undo
                calls.append(Call("undo", row.step_id, tool, args, row.backend, False, "continue"))  # type: ignore[arg-type]
        values, pending = resolve_inputs(self.playbook, self.context, self.inputs)
        scope = plan_scope(self.playbook, self.context, values, pending, self._results())
        plan = resolve_plan(self.playbook, self.context, self.inputs, results=self._results())
        for planned in plan.steps:
            if planned.phase != "rollback":
                continue
            step = next(s for s in self.playbook.rollback if s.id == planned.id)
            verdict = True if step.when is None else evaluate(step.when, scope)
            runs = not isinstance(verdict, Deferred) and bool(verdict)
            calls.append(
                Call(
                    "rollback",
                    planned.id,
                    planned.tool,
                    planned.args,
                    planned.backend,
                    planned.requires_approval,
                    "continue",
                    None if runs else f"when: {step.when} is not true",
                )
            )
        return calls

    async def _rollback(self) -> Execution | None:
        for call in self.rollback_calls():
            row = self.rows.get((call.phase, call.step_id))
            if row is not None and row.status != "running":
                continue
            if call.reason is not None:
                await self._record_plain(call, "skipped", call.reason)
                continue
            execution = await self._gate_and_start(call, row)
            if execution is not None or self.run.status != "running":
                return execution
        failed = [
            f"{r.phase} {r.step_id}"
            for r in self.rows.values()
            if r.phase in ("undo", "rollback") and r.status != "succeeded" and r.status != "skipped"
        ]
        error = self.run.error or "a step failed"
        if failed:
            error += f"; rollback incomplete: {', '.join(failed)}"
        await finish(self.session, self.run, "rolled_back", error)
        return None

    # -------------------------------------------------------------- gate, approvals, questions

    def gate_context(self, call: Call) -> GateContext:
        """The gate's view of this run: policy, allowed tools, requester, counts of earlier calls."""
        executed: dict[str, int] = {}
        for key, row in self.rows.items():
            if key != (call.phase, call.step_id) and row.status in ("running", "succeeded"):
                executed[row.tool] = executed.get(row.tool, 0) + 1
        return GateContext(
            policy=self.policy,
            allowed_tools=allowed_tools(self.playbook, call.phase),
            requester_permissions=frozenset(self.run.requester_permissions),
            now=utcnow(),
            requester_id=self.run.requested_by_id,
            author_id=self.run.author,
            contact_email=self.context.contact.email,
            contact_vip=self.context.contact.vip,
            executed=executed,
        )

    async def _gate_and_start(self, call: Call, row: RunStep | None) -> Execution | None:
        proposal = StepProposal(call.phase, call.step_id, call.tool, call.args, call.requires_approval)
        ctx = self.gate_context(call)
        decision = check_step(proposal, ctx)
        approval = next(
            (
                a
                for a in reversed(self.approvals)
                if (a.phase, a.step_id, a.tool, a.args_hash)
                == (call.phase, call.step_id, call.tool, decision.args_hash)
            ),
            None,
        )
        if approval is not None:
            decision = check_step(proposal, ctx, _approval_state(approval))
        if decision.verdict == "deny":
            status = "denied" if approval is not None and approval.status in ("denied", "expired") else "blocked"
            await self._record_plain(call, status, "; ".join(decision.reasons), approval)
            error = f"step {call.step_id} was {status}: {'; '.join(decision.reasons)}"
            if call.phase in ("step", "verification"):
                await on_step_failure(self.session, self.run, call.on_failure, error)
            return None
        if decision.verdict == "needs_approval":
            if approval is None or approval.status != "pending":
                await self._request_approval(call, decision)
            self.run.status = "awaiting_approval"
            return None
        waiting = await verification.pending_verification(
            self.session, tool=call.tool, args=call.args, policy=self.policy, run_id=self.run.id
        )
        if waiting is not None:
            # a credential change waits until the caller is verified in this run; the
            # verification (code, push or attestation) resumes the run
            if self.run.status != "awaiting_input":
                await audit.record(
                    self.session,
                    actor=automation_actor(self.run),
                    action="run.awaiting_verification",
                    target_type="run",
                    target_id=self.run.id,
                    detail={"step": call.step_id, "reason": waiting},
                )
            self.run.status = "awaiting_input"
            return None
        return await self._start(call, row, decision, approval)

    async def _start(
        self, call: Call, row: RunStep | None, decision: GateDecision, approval: Approval | None
    ) -> Execution:
        """Commit the step as running (with its idempotency key) before anything executes."""
        spec = get_tool(call.tool)
        if row is None:
            row = self._new_row(call, "running")
            self.session.add(row)
        row.status = "running"
        row.attempt += 1
        row.args_hash = decision.args_hash
        row.started_at = utcnow()
        if approval is not None:
            row.approval_id = approval.id
            row.approver = approval.decided_by
        row.args = spec.redact(call.args)
        await self.session.flush()
        return Execution(row.id, call, row.idempotency_key)

    def _new_row(self, call: Call, status: str) -> RunStep:
        spec = get_tool(call.tool)
        row = RunStep(
            run_id=self.run.id,
            seq=len(self.rows) + 1,
            phase=call.phase,
            step_id=call.step_id,
            tool=call.tool,
            tool_version=spec.version,
            risk=spec.risk,
            args=spec.redact(call.args),
            backend=call.backend,
            status=status,
            output={},
            attempt=0,
            idempotency_key=idempotency_key(self.run.id, call.phase, call.step_id),
        )
        self.rows[(call.phase, call.step_id)] = row
        return row

    async def _record_plain(
        self, call: Call, status: str, reason: str | None, approval: Approval | None = None
    ) -> None:
        """Record a step that did not execute (skipped, blocked by policy, or denied)."""
        row = self._new_row(call, status)
        row.reason = reason
        row.finished_at = utcnow()
        if approval is not None:
            row.approval_id = approval.id
            row.approver = approval.decided_by
        self.session.add(row)
        if status != "skipped":
            await audit.record(
                self.session,
                actor=automation_actor(self.run),
                action=f"run.step_{status}",
                target_type="run",
                target_id=self.run.id,
                detail={"phase": call.phase, "step": call.step_id, "tool": call.tool, "reason": reason},
            )
        await self.session.flush()

    async def _request_approval(self, call: Call, decision: GateDecision) -> None:
        spec = get_tool(call.tool)
        now = utcnow()
        approval = Approval(
            run_id=self.run.id,
            phase=call.phase,
            step_id=call.step_id,
            tool=call.tool,
            args=spec.redact(call.args),
            args_hash=decision.args_hash,
            risk=spec.risk,
            reasons=list(decision.approval_reasons),
            status="pending",
            requested_at=now,
            expires_at=now + timedelta(seconds=self.policy.approval_timeout_seconds),
            decider_permissions=[],
        )
        self.approvals.append(approval)
        detail = {"step": call.step_id, "tool": call.tool, "args": approval.args, "reasons": approval.reasons}
        await self._open_with_timeout(approval, EXPIRE_APPROVAL, "approval", "run.approval_requested", detail)

    async def _open_with_timeout(
        self, obj: Approval | Question, task: str, kind: str, action: str, detail: dict[str, Any]
    ) -> None:
        """Store an approval/question, schedule its expiry job for ``expires_at``, and audit it."""
        self.session.add(obj)
        await self.session.flush()
        await jobs.defer(
            self.session,
            task,
            {"tenant_id": str(self.run.tenant_id), f"{kind}_id": str(obj.id)},
            queue=QUEUE,
            scheduled_at=obj.expires_at,
        )
        await audit.record(
            self.session,
            actor=automation_actor(self.run),
            action=action,
            target_type=kind,
            target_id=obj.id,
            detail={"run_id": str(self.run.id), **detail},
        )

    async def _ask(self, names: list[str]) -> None:
        """Ask each question not asked yet; a question nobody answered in time fails the run."""
        expired = [n for n in names if n in self.questions and self.questions[n].status == "expired"]
        if expired:
            await finish(self.session, self.run, "failed", f"the question for {expired[0]!r} was not answered in time")
            return
        now = utcnow()
        for name in names:
            if name in self.questions:
                continue  # never asked twice
            spec = self.playbook.inputs[name]
            question = Question(
                run_id=self.run.id,
                input_name=name,
                prompt=spec.question or name,
                status="pending",
                asked_at=now,
                expires_at=now + timedelta(seconds=self.policy.approval_timeout_seconds),
            )
            self.questions[name] = question
            await self._open_with_timeout(question, EXPIRE_QUESTION, "question", "run.question_asked", {"input": name})
        self.run.status = "awaiting_input"


def _approval_state(approval: Approval) -> ApprovalState:
    return ApprovalState(
        phase=approval.phase,
        step_id=approval.step_id,
        tool=approval.tool,
        args_hash=approval.args_hash,
        status=approval.status,
        expires_at=approval.expires_at,
        decided_at=approval.decided_at,
        decided_by_id=approval.decided_by_id,
        decider_permissions=frozenset(approval.decider_permissions),
    )
