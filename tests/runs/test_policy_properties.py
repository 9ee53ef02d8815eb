"""Property tests (hypothesis): random plans, policies, permissions and approval states.

The gate never allows a destructive step (or any step the policy reserves for a human) without
a valid approval for exactly that step, tool and arguments, and never allows a step outside
the policy. The executor, driven with random playbooks and random human decisions against a
recording backend, never calls a backend for a step the gate would not allow.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mspclaw.auth.permissions import ALL_PERMISSIONS
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.errors import MSPclawError
from mspclaw.playbooks import TicketContext, builtin_playbooks, load_text, resolve_plan
from mspclaw.runs import runtime
from mspclaw.runs.models import Approval, RunStep
from mspclaw.runs.policy_gate import (
    ApprovalState,
    GateContext,
    StepProposal,
    approval_reasons,
    args_hash,
    check_step,
    in_business_hours,
)
from mspclaw.tenancy.policy import ClientPolicy
from mspclaw.tools import CATALOG, BackendRouter, get_tool
from tests.conftest import TenantFixture
from tests.runs.helpers import RUN_PERMISSIONS, RecordingBackend, decide, make_client, run_worker, show, start


def _samples() -> dict[str, dict[str, Any]]:
    """Valid arguments per tool, taken from the built-in playbooks' own examples."""
    found: dict[str, dict[str, Any]] = {}
    for loaded in builtin_playbooks().values():
        for example in loaded.playbook.examples:
            context = TicketContext.model_validate(
                example.model_dump(include={"ticket", "contact", "device", "client"})
            )
            try:
                plan = resolve_plan(loaded, context, example.inputs)
            except Exception:  # examples that expect a planning error
                continue
            for step in plan.steps:
                try:
                    get_tool(step.tool).validate_args(step.args)
                except MSPclawError:
                    continue
                found.setdefault(step.tool, step.args)
    return found


SAMPLES = _samples()
TOOLS = sorted(SAMPLES)
PEOPLE = ["alice", "bob", "carol"]
NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)  # a Wednesday, 10:00 UTC

policies = st.builds(
    ClientPolicy,
    unattended_risks=st.lists(st.sampled_from(["read", "change", "destructive"]), unique=True),
    approval_required_tools=st.lists(st.sampled_from(TOOLS), max_size=3),
    forbidden_tools=st.lists(st.sampled_from(TOOLS), max_size=3),
    four_eyes=st.booleans(),
    unattended_only_in_business_hours=st.booleans(),
    vip_contacts=st.lists(st.sampled_from(["vip@client.example", "ceo@client.example"]), max_size=1),
)
permission_sets = st.frozensets(
    st.sampled_from(sorted(ALL_PERMISSIONS | {"identity.read", "notify.send"})), max_size=40
)


@st.composite
def proposals(draw: st.DrawFn) -> StepProposal:
    tool = draw(st.sampled_from(TOOLS))
    args = SAMPLES[tool] if draw(st.integers(0, 9)) else {"unexpected": 1}
    return StepProposal(
        draw(st.sampled_from(["step", "undo"])), draw(st.sampled_from(["a", "b"])), tool, args, draw(st.booleans())
    )


@st.composite
def approvals(draw: st.DrawFn, proposal: StepProposal) -> ApprovalState | None:
    if draw(st.booleans()):
        return None
    same = draw(st.booleans())
    requested = NOW - timedelta(seconds=draw(st.integers(0, 600)))
    expires = requested + timedelta(seconds=300)
    decided = requested + timedelta(seconds=draw(st.integers(0, 600)))
    return ApprovalState(
        phase=proposal.phase if same or draw(st.booleans()) else "step",
        step_id=proposal.step_id if same or draw(st.booleans()) else "other",
        tool=proposal.tool if same or draw(st.booleans()) else draw(st.sampled_from(TOOLS)),
        args_hash=args_hash(proposal.tool, proposal.args) if same or draw(st.booleans()) else "0" * 64,
        status=draw(st.sampled_from(["pending", "approved", "denied", "expired"])),
        expires_at=expires,
        decided_at=decided if draw(st.booleans()) else None,
        decided_by_id=draw(st.sampled_from(PEOPLE)),
        decider_permissions=draw(permission_sets),
    )


def _valid_approval(approval: ApprovalState | None, proposal: StepProposal, ctx: GateContext) -> bool:
    """The specification of a valid approval, written independently of the gate."""
    return (
        approval is not None
        and approval.status == "approved"
        and (approval.phase, approval.step_id, approval.tool) == (proposal.phase, proposal.step_id, proposal.tool)
        and approval.args_hash == args_hash(proposal.tool, proposal.args)
        and approval.decided_at is not None
        and approval.decided_at <= approval.expires_at
        and "runs.approve" in approval.decider_permissions
        and not (ctx.policy.four_eyes and approval.decided_by_id in {ctx.requester_id, ctx.author_id})
    )


@settings(max_examples=600, deadline=None)
@given(data=st.data(), policy=policies, permissions=permission_sets, executed=st.integers(0, 2))
def test_gate_never_allows_outside_policy_or_without_a_valid_approval(
    data: st.DataObject, policy: ClientPolicy, permissions: frozenset[str], executed: int
) -> None:
    proposal = data.draw(proposals())
    approval = data.draw(approvals(proposal))
    ctx = GateContext(
        policy=policy,
        allowed_tools=frozenset(data.draw(st.lists(st.sampled_from(TOOLS), max_size=20))),
        requester_permissions=permissions,
        now=NOW + timedelta(hours=data.draw(st.integers(0, 23))),
        requester_id=data.draw(st.sampled_from(PEOPLE)),
        author_id="mspclaw:builtin",
        contact_email=data.draw(st.sampled_from(["vip@client.example", "someone@client.example"])),
        executed={proposal.tool: executed},
    )
    decision = check_step(proposal, ctx, approval)
    if not decision.allowed:
        return
    tool = get_tool(proposal.tool)
    tool.validate_args(dict(proposal.args))  # never allowed with invalid arguments
    assert proposal.tool in ctx.allowed_tools
    assert proposal.tool not in policy.forbidden_tools
    assert tool.permission in permissions
    if proposal.tool == "disable_account":
        assert executed < policy.blast_radius.max_accounts_disabled
    if proposal.tool == "reset_password":
        assert executed < policy.blast_radius.max_password_resets
    needs_human = (
        tool.risk == "destructive"
        or proposal.requires_approval
        or tool.risk not in policy.unattended_risks
        or proposal.tool in policy.approval_required_tools
        or (tool.risk != "read" and ctx.contact_email in policy.vip_contacts)
        or (
            tool.risk != "read"
            and policy.unattended_only_in_business_hours
            and not in_business_hours(policy.business_hours, ctx.now)
        )
    )
    assert bool(approval_reasons(proposal, tool.risk, ctx)) == needs_human
    if needs_human:
        assert _valid_approval(approval, proposal, ctx), (decision, approval)


# ---------------------------------------------------------------- the executor


ENDPOINT_TOOLS = [t for t in TOOLS if CATALOG[t].backends[0].kind == "endpoint"]
IDENTITY_TOOLS = [t for t in TOOLS if CATALOG[t].backends[0].kind == "identity"]
_counter = itertools.count()


@st.composite
def playbooks(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A random playbook of 1-4 steps over endpoint and identity tools (destructive ones included)."""
    tools = draw(st.lists(st.sampled_from(ENDPOINT_TOOLS + IDENTITY_TOOLS), min_size=1, max_size=4))
    declared = sorted(set(tools) - set(draw(st.lists(st.sampled_from(tools), max_size=1))))
    steps = [
        {
            "id": f"s{i}",
            "tool": tool,
            "args": SAMPLES[tool],
            "requires_approval": draw(st.booleans()),
            "on_failure": draw(st.sampled_from(["stop", "continue", "rollback"])),
        }
        for i, tool in enumerate(tools)
    ]
    doc = {
        "id": f"random-{next(_counter)}",
        "title": "random",
        "version": "1.0.0",
        "tools": declared or [tools[0]],
        "steps": steps,
    }
    return yaml.safe_dump(doc), tools


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    spec=playbooks(),
    policy=policies,
    decisions=st.lists(st.sampled_from(["approve", "deny", "self-approve"]), min_size=6, max_size=6),
    failing=st.sets(st.sampled_from(ENDPOINT_TOOLS + IDENTITY_TOOLS), max_size=2),
)
async def test_executor_calls_backends_only_for_allowed_steps(
    db: Database,
    tenant_a: TenantFixture,
    spec: tuple[str, list[str]],
    policy: ClientPolicy,
    decisions: list[str],
    failing: set[str],
) -> None:
    text, _tools = spec
    loaded = load_text(text)
    endpoint = RecordingBackend("endpoint", failing=failing)
    identity = RecordingBackend("identity", failing=failing)
    runtime.install(runtime.RunRuntime(db.sessions, BackendRouter(endpoint, identity)))
    client_id, device_id = await make_client(db, tenant_a.id, policy.model_dump(mode="json"))
    run_id = await start(
        db,
        tenant_a.id,
        loaded.playbook.id,
        client_id,
        device_id,
        playbook=loaded,
        who="alice",
        context={"contact": {"email": "vip@client.example"}},
    )
    await run_worker(db)
    for decision in decisions:
        run = await show(db, tenant_a.id, run_id)
        pending = [a for a in run.approvals if a.status == "pending"]
        if not pending:
            break
        who = "alice" if decision == "self-approve" else "bob"
        try:
            await decide(db, tenant_a.id, pending[0].id, approve=decision != "deny", who=who)
        except Exception as exc:  # four eyes refuses the requester: the test then denies
            assert "four eyes" in str(exc)
            await decide(db, tenant_a.id, pending[0].id, approve=False, who="bob")
        await run_worker(db)

    calls = endpoint.calls + identity.calls
    async with tenant_session(db.sessions, tenant_a.id) as session:
        rows = {
            r.idempotency_key: r
            for r in (await session.execute(select(RunStep).where(RunStep.run_id == run_id))).scalars()
        }
        approvals = {
            a.id: a for a in (await session.execute(select(Approval).where(Approval.run_id == run_id))).scalars()
        }
    assert len({c.key for c in calls}) == len(calls), "a step was executed twice"
    for call in calls:
        row = rows[call.key]
        assert row.tool == call.tool and row.status in ("succeeded", "failed")
        tool = get_tool(call.tool)
        assert call.tool in loaded.playbook.tools or row.phase == "undo"
        assert call.tool not in policy.forbidden_tools
        assert tool.permission in RUN_PERMISSIONS
        proposal = StepProposal(row.phase, row.step_id, call.tool, call.args)
        ctx = GateContext(
            policy=policy,
            allowed_tools=frozenset(),
            requester_permissions=frozenset(),
            now=datetime.now(UTC),
            requester_id=str(uuid.uuid5(uuid.NAMESPACE_DNS, "alice")),
            author_id="mspclaw:builtin",
        )
        if tool.risk == "destructive" or (row.args_hash and approval_reasons(proposal, tool.risk, ctx)):
            approval = approvals.get(row.approval_id) if row.approval_id else None
            assert approval is not None, f"{call.tool} ran without an approval"
            assert approval.status == "approved" and approval.args_hash == args_hash(call.tool, call.args)
            assert (approval.phase, approval.step_id, approval.tool) == (row.phase, row.step_id, call.tool)
            assert approval.decided_by_id != ctx.requester_id or not policy.four_eyes
