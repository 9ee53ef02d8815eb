"""Dry-run plan resolution (pure): playbook + ticket context + inputs -> the resolved plan.

Shows, without side effects, which steps run with which rendered arguments on which
backend, which need approval, which are skipped by ``when``/``os`` and which can only be
decided at run time (they read a step output or an unanswered question).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from mspclaw_agent.tools import Platform, RiskClass, ToolOutcome
from pydantic import BaseModel, TypeAdapter, ValidationError

from mspclaw.errors import InvalidInput
from mspclaw.playbooks.expressions import Deferred, Scope, evaluate, render, render_preview
from mspclaw.playbooks.loader import LoadedPlaybook, content_hash
from mspclaw.playbooks.models import Playbook, PlaybookInput, Step, TicketContext
from mspclaw.tools import BackendKind, ToolArgumentsInvalid, ToolSpec, get_tool

StepStatus = Literal["run", "skipped", "conditional"]
Phase = Literal["step", "verification", "rollback"]


class MissingInputs(InvalidInput):
    """Required inputs could not be resolved from the ticket, contact or device."""

    code = "missing_inputs"


class PlanInvalid(InvalidInput):
    """A step cannot be planned (arguments do not validate, no backend reaches the device)."""

    code = "plan_invalid"


class PlannedStep(BaseModel):
    """One step of a resolved plan."""

    id: str
    phase: Phase
    tool: str
    tool_version: str
    risk: RiskClass
    status: StepStatus
    reason: str | None = None
    args: dict[str, Any]
    deferred_args: list[str] = []
    requires_approval: bool
    backend: BackendKind | None
    on_failure: Literal["stop", "continue", "rollback"]
    undo_tool: str | None = None


class ResolvedPlan(BaseModel):
    """What would run for this ticket; the executor runs exactly this shape."""

    playbook_id: str
    playbook_version: str
    content_hash: str
    mode: Literal["suggest", "auto"]
    device_os: Platform | None
    inputs: dict[str, Any]
    questions: dict[str, str]
    steps: list[PlannedStep]
    approvals_needed: list[str]
    note_preview: str | None

    def ids(self, status: StepStatus, *, include_rollback: bool = False) -> list[str]:
        """Step ids with ``status`` (rollback steps only when asked)."""
        return [s.id for s in self.steps if s.status == status and (include_rollback or s.phase != "rollback")]


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
_HOST = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})$")
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "string": TypeAdapter(str),
    "integer": TypeAdapter(int),
    "number": TypeAdapter(float),
    "boolean": TypeAdapter(bool),
    "email": TypeAdapter(str),
    "hostname": TypeAdapter(str),
    "list": TypeAdapter(list[str]),
}


def coerce_input(name: str, spec: PlaybookInput, value: Any) -> Any:
    """``value`` converted to the input's type; InvalidInput naming the input otherwise."""
    try:
        typed = _ADAPTERS[spec.type].validate_python(value)
    except ValidationError as exc:
        raise InvalidInput(
            f"input {name!r} must be {spec.type}: {exc.errors()[0]['msg']}",
            detail={"input": name},
        ) from exc
    if spec.type == "email" and not _EMAIL.fullmatch(typed):
        raise InvalidInput(f"input {name!r} must be an e-mail address", detail={"input": name})
    if spec.type == "hostname" and not _HOST.fullmatch(typed):
        raise InvalidInput(f"input {name!r} must be a host name", detail={"input": name})
    if spec.choices is not None and typed not in spec.choices:
        raise InvalidInput(f"input {name!r} must be one of {spec.choices}", detail={"input": name})
    return typed


def resolve_inputs(
    playbook: Playbook, context: TicketContext, provided: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """(values, unanswered questions); MissingInputs lists every required input not found."""
    provided = provided or {}
    unknown = sorted(set(provided) - set(playbook.inputs))
    if unknown:
        raise InvalidInput(
            f"unknown inputs for {playbook.id}: {', '.join(unknown)}",
            detail={"unknown": unknown, "declared": sorted(playbook.inputs)},
        )
    sources = context.model_dump()
    values: dict[str, Any] = {}
    questions: dict[str, str] = {}
    missing: list[str] = []
    for name, spec in playbook.inputs.items():
        if name in provided:
            value = provided[name]
        elif spec.source == "question":
            questions[name] = spec.question or name
            continue
        else:
            value = sources[spec.source].get(spec.field or name)
        if value is None or value == "":
            value = spec.default
        if value is None:
            if spec.required:
                missing.append(f"{name} (from {spec.source}.{spec.field or name})")
            else:
                values[name] = None
            continue
        values[name] = coerce_input(name, spec, value)
    if missing:
        raise MissingInputs(
            f"{playbook.id} is missing required inputs: {', '.join(missing)}",
            detail={"missing": missing},
        )
    return values, questions


def choose_backend(tool: ToolSpec, step: Step, context: TicketContext) -> BackendKind | None:
    """The backend that carries ``step`` out for this device; None if none can."""
    kinds = [b.kind for b in tool.backends]
    if step.backend is not None:
        if step.backend not in kinds:
            raise PlanInvalid(
                f"step {step.id}: tool {tool.name} cannot run on backend {step.backend}",
                detail={"step": step.id, "backends": kinds},
            )
        return step.backend
    device = context.device
    if "endpoint" in kinds:
        if device.agent and tool.runs_on("endpoint", device.os):
            return "endpoint"
        if device.rmm and tool.runs_on("rmm_script", device.os):
            return "rmm_script"
        return None
    return kinds[0]


def split_deferred(value: Any, path: str, deferred: list[str]) -> Any:
    """Replace Deferred values by their template text, recording where they were."""
    if isinstance(value, Deferred):
        deferred.append(path)
        return str(value)
    if isinstance(value, dict):
        return {k: split_deferred(v, f"{path}.{k}" if path else k, deferred) for k, v in value.items()}
    if isinstance(value, list):
        return [split_deferred(v, f"{path}.{i}", deferred) for i, v in enumerate(value)]
    return value


def check_step_args(tool: ToolSpec, step_id: str, args: dict[str, Any], deferred: list[str]) -> None:
    """Validate rendered args; fields still deferred are checked at run time instead."""
    top_deferred = {d.split(".")[0] for d in deferred}
    concrete = {k: v for k, v in args.items() if k not in top_deferred}
    try:
        tool.validate_args(concrete)
    except ToolArgumentsInvalid as exc:
        problems = [p for p in exc.detail["problems"] if p["field"].split(".")[0] not in top_deferred]
        if problems:
            text = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
            raise PlanInvalid(
                f"step {step_id}: arguments for {tool.name} do not validate: {text}",
                detail={"step": step_id, "tool": tool.name, "problems": problems},
            ) from exc


def _plan_step(phase: Phase, step: Step, scope: Scope, context: TicketContext) -> PlannedStep:
    tool = get_tool(step.tool)
    status: StepStatus = "run"
    reason: str | None = None
    device_os = context.device.os
    if phase == "rollback":
        status, reason = "conditional", "runs only if a step fails with on_failure: rollback"
    elif step.os is not None and device_os is None:
        status, reason = "conditional", f"runs only on {', '.join(step.os)}; device OS unknown"
    elif step.os is not None and device_os not in step.os:
        status, reason = "skipped", f"only for {', '.join(step.os)}; device is {device_os}"
    elif step.when is not None:
        verdict = evaluate(step.when, scope)
        if isinstance(verdict, Deferred):
            status, reason = "conditional", f"when: {step.when} (decided at run time)"
        elif not verdict:
            status, reason = "skipped", f"when: {step.when} is false"
    deferred: list[str] = []
    args = split_deferred(render(step.args, scope), "", deferred)
    backend = choose_backend(tool, step, context)
    if backend is None and status != "skipped":
        status, reason = "skipped", "the device has neither an MSPclaw agent nor an RMM"
    if status == "conditional":
        # an absent optional input usually is what the condition guards against; the
        # executor validates again with the real values before running the step
        deferred += [k for k, v in args.items() if v is None and k not in deferred]
    if status != "skipped":
        check_step_args(tool, step.id, args, deferred)
    return PlannedStep(
        id=step.id,
        phase=phase,
        tool=tool.name,
        tool_version=tool.version,
        risk=tool.risk,
        status=status,
        reason=reason,
        args=args,
        deferred_args=deferred,
        requires_approval=step.requires_approval or tool.risk == "destructive",
        backend=backend,
        on_failure=step.on_failure,
        undo_tool=tool.undo.tool if tool.undo else None,
    )


def plan_scope(
    playbook: Playbook,
    context: TicketContext,
    inputs: dict[str, Any],
    questions: dict[str, str],
    results: Mapping[str, ToolOutcome | None] | None = None,
) -> Scope:
    """The expression scope: context, inputs, and the results of steps decided so far.

    ``results`` maps step id -> its ToolOutcome, or None for a step that was skipped
    (it then reads as ``ok: false`` with an empty output). Other steps stay pending.
    """
    results = results or {}
    data = context.model_dump()
    data["inputs"] = dict(inputs)
    data["steps"] = {
        sid: (
            {"ok": False, "output": {}, "skipped": True}
            if outcome is None
            else {"ok": outcome.ok, "output": outcome.output, "skipped": False}
        )
        for sid, outcome in results.items()
    }
    pending = {f"inputs.{q}" for q in questions}
    pending |= {f"steps.{s.id}" for _, s in playbook.all_steps() if s.id not in results}
    return Scope(data=data, pending=pending)


def resolve_plan(
    source: Playbook | LoadedPlaybook,
    context: TicketContext,
    inputs: dict[str, Any] | None = None,
    *,
    results: Mapping[str, ToolOutcome | None] | None = None,
) -> ResolvedPlan:
    """The plan of ``source`` for ``context``; raises MissingInputs / PlanInvalid.

    Without ``results`` this is the dry-run. The executor calls it again after each step
    with the results so far (and answered questions as inputs): conditions and arguments
    that read those results are then decided and rendered for real.
    """
    playbook = source.playbook if isinstance(source, LoadedPlaybook) else source
    digest = source.content_hash if isinstance(source, LoadedPlaybook) else content_hash(playbook)
    values, questions = resolve_inputs(playbook, context, inputs)
    scope = plan_scope(playbook, context, values, questions, results)
    steps = [_plan_step(phase, step, scope, context) for phase, step in playbook.all_steps()]
    note = None
    if playbook.note is not None:
        note = render_preview(playbook.note, scope)
    return ResolvedPlan(
        playbook_id=playbook.id,
        playbook_version=playbook.version,
        content_hash=digest,
        mode=playbook.mode,
        device_os=context.device.os,
        inputs=values,
        questions=questions,
        steps=steps,
        approvals_needed=[s.id for s in steps if s.requires_approval and s.status != "skipped"],
        note_preview=note,
    )
