"""The policy gate: the one pure function that decides whether a proposed tool call may run.

Every step — from a playbook, a technician or an LLM plan — passes ``check_step`` before the
executor touches a backend. It answers allow / needs_approval / deny with the reasons, and
an approval counts only for the exact step, tool and argument hash it was granted for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from mspclaw.errors import MSPclawError
from mspclaw.tenancy.policy import BusinessHours, ClientPolicy
from mspclaw.tools import get_tool

Verdict = Literal["allow", "needs_approval", "deny"]
APPROVE_PERMISSION = "runs.approve"

#: tools whose use is capped per run by the client's blast radius, and by which limit
BLAST_LIMITS: dict[str, str] = {
    "disable_account": "max_accounts_disabled",
    "reset_password": "max_password_resets",
}


def args_hash(tool: str, args: Mapping[str, Any]) -> str:
    """A stable hash of a tool call (tool name + canonical JSON arguments)."""
    canonical = json.dumps({"tool": tool, "args": args}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class StepProposal:
    """A tool call someone wants to run, identified by (phase, step id) within its run."""

    phase: str
    step_id: str
    tool: str
    args: Mapping[str, Any]
    requires_approval: bool = False


@dataclass(frozen=True)
class ApprovalState:
    """What the gate needs to know about an approval record."""

    phase: str
    step_id: str
    tool: str
    args_hash: str
    status: str
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by_id: str | None = None
    decider_permissions: frozenset[str] = frozenset()


@dataclass(frozen=True)
class GateContext:
    """Everything outside the step that the decision depends on."""

    policy: ClientPolicy
    allowed_tools: frozenset[str]
    requester_permissions: frozenset[str]
    now: datetime
    requester_id: str | None = None
    author_id: str | None = None
    contact_email: str | None = None
    contact_vip: bool = False
    devices: int = 1
    #: how often each tool already ran (or is running) in this run
    executed: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class GateDecision:
    verdict: Verdict
    reasons: tuple[str, ...] = ()
    approval_reasons: tuple[str, ...] = ()
    args_hash: str = ""

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"


def in_business_hours(hours: BusinessHours, now: datetime) -> bool:
    """Whether ``now`` falls in the client's local working hours."""
    local = now.astimezone(ZoneInfo(hours.timezone))
    day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
    return day in hours.days and hours.start_time <= local.time().replace(tzinfo=None) < hours.end_time


def approval_reasons(proposal: StepProposal, risk: str, ctx: GateContext) -> list[str]:
    """Why this call needs a technician's approval (empty: it may run unattended)."""
    policy = ctx.policy
    reasons: list[str] = []
    if proposal.requires_approval:
        reasons.append("the step is marked requires_approval")
    if risk == "destructive":
        reasons.append("destructive tools always need approval")
    if risk not in policy.unattended_risks:
        reasons.append(f"policy does not allow {risk} tools unattended")
    if proposal.tool in policy.approval_required_tools:
        reasons.append(f"policy requires approval for {proposal.tool}")
    vip = ctx.contact_vip or (ctx.contact_email or "").lower() in policy.vip_contacts
    if vip and risk != "read":
        reasons.append("the contact is a VIP")
    if (
        policy.unattended_only_in_business_hours
        and risk != "read"
        and not in_business_hours(policy.business_hours, ctx.now)
    ):
        reasons.append("outside the client's business hours")
    return reasons


def approval_problem(approval: ApprovalState, proposal: StepProposal, digest: str, ctx: GateContext) -> str | None:
    """Why ``approval`` does not approve this exact call (None: it does)."""
    if (approval.phase, approval.step_id, approval.tool) != (proposal.phase, proposal.step_id, proposal.tool):
        return "the approval is for another step"
    if approval.args_hash != digest:
        return "the approval is for other arguments"
    if approval.status != "approved":
        return f"the approval is {approval.status}"
    if approval.decided_at is None or approval.decided_at > approval.expires_at:
        return "the approval was given after it expired"
    if APPROVE_PERMISSION not in approval.decider_permissions:
        return f"the approver lacks {APPROVE_PERMISSION}"
    if ctx.policy.four_eyes and approval.decided_by_id in {ctx.requester_id, ctx.author_id} - {None}:
        return "four eyes: the approver requested the run or wrote the automation"
    return None


def check_step(proposal: StepProposal, ctx: GateContext, approval: ApprovalState | None = None) -> GateDecision:
    """Decide whether ``proposal`` may run now under ``ctx`` (with ``approval`` if one exists)."""
    try:
        tool = get_tool(proposal.tool)
        tool.validate_args(dict(proposal.args))
    except MSPclawError as exc:
        return GateDecision("deny", (exc.message,))
    digest = args_hash(proposal.tool, proposal.args)
    denials: list[str] = []
    if proposal.tool not in ctx.allowed_tools:
        denials.append(f"{proposal.tool} is not among the automation's declared tools")
    if proposal.tool in ctx.policy.forbidden_tools:
        denials.append(f"{proposal.tool} is forbidden by the client's policy")
    if tool.permission not in ctx.requester_permissions:
        denials.append(f"the requester lacks the {tool.permission} permission")
    limit_name = BLAST_LIMITS.get(proposal.tool)
    if limit_name is not None:
        limit = int(getattr(ctx.policy.blast_radius, limit_name))
        if ctx.executed.get(proposal.tool, 0) + 1 > limit:
            denials.append(f"blast radius: {limit_name} is {limit} per run")
    if ctx.devices > ctx.policy.blast_radius.max_devices:
        denials.append(f"blast radius: max_devices is {ctx.policy.blast_radius.max_devices}")
    if denials:
        return GateDecision("deny", tuple(denials), args_hash=digest)
    needed = approval_reasons(proposal, tool.risk, ctx)
    if not needed:
        return GateDecision("allow", args_hash=digest)
    same_call = approval is not None and (approval.phase, approval.step_id, approval.tool, approval.args_hash) == (
        proposal.phase,
        proposal.step_id,
        proposal.tool,
        digest,
    )
    if approval is not None and same_call and approval.status in {"denied", "expired"}:
        return GateDecision("deny", (f"approval {approval.status}",), tuple(needed), digest)
    if approval is not None and approval_problem(approval, proposal, digest, ctx) is None:
        return GateDecision("allow", (), tuple(needed), digest)
    return GateDecision("needs_approval", (), tuple(needed), digest)
