"""Dry-run plan resolution: inputs from ticket/contact/device, missing inputs listed,
questions, typed rendering, approvals, and a plan that never runs anything."""

from __future__ import annotations

import pytest

from mspclaw.errors import InvalidInput
from mspclaw.playbooks import (
    MissingInputs,
    PlanInvalid,
    TicketContext,
    get_builtin,
    load_text,
    plan_scope,
    render,
    resolve_plan,
)
from mspclaw.tools import ToolOutcome


def _ctx(**parts: object) -> TicketContext:
    return TicketContext.model_validate(parts)


def test_missing_inputs_are_all_listed() -> None:
    with pytest.raises(MissingInputs) as err:
        resolve_plan(get_builtin("onboarding"), _ctx(ticket={"intent": "onboarding"}))
    assert err.value.detail["missing"] == [
        "new_user (from ticket.new_user_email)",
        "display_name (from ticket.new_user_name)",
    ]
    assert "new_user (from ticket.new_user_email), display_name" in err.value.message


def test_inputs_are_typed_and_validated() -> None:
    pb = get_builtin("vpn-connectivity")
    plan = resolve_plan(pb, _ctx(client={"vpn_gateway": "vpn.x.example", "vpn_port": "8443"}))
    reach = next(s for s in plan.steps if s.id == "reach_gateway")
    assert reach.args == {"host": "vpn.x.example", "port": 8443}  # a number, not text
    with pytest.raises(InvalidInput, match="vpn_gateway"):
        resolve_plan(pb, _ctx(client={"vpn_gateway": "evil.com; rm -rf /"}))
    with pytest.raises(InvalidInput, match="unknown inputs"):
        resolve_plan(pb, _ctx(client={"vpn_gateway": "v.example"}), {"shell": "id"})


def test_provided_inputs_override_the_ticket() -> None:
    plan = resolve_plan(
        get_builtin("password-reset"),
        _ctx(contact={"email": "old@example.com"}),
        {"user": "new@example.com"},
    )
    assert plan.inputs["user"] == "new@example.com"
    assert next(s for s in plan.steps if s.id == "lookup").args == {"user": "new@example.com"}


def test_deferred_arguments_and_approvals() -> None:
    plan = resolve_plan(get_builtin("password-reset"), _ctx(contact={"email": "j@example.com", "phone": "+1555"}))
    tell = next(s for s in plan.steps if s.id == "tell_technician")
    assert tell.deferred_args == ["message"]
    assert "{{ steps.reset.output.delivery }}" in tell.args["message"]
    assert plan.approvals_needed == ["reset"]
    reset = next(s for s in plan.steps if s.id == "reset")
    assert reset.status == "conditional" and reset.backend == "identity"


def test_destructive_steps_always_need_approval() -> None:
    plan = resolve_plan(
        get_builtin("offboarding"),
        _ctx(ticket={"leaver_email": "x@example.com", "leaver_device": "LT-1"}),
    )
    disable = next(s for s in plan.steps if s.id == "disable")
    assert disable.risk == "destructive" and disable.requires_approval
    assert disable.undo_tool == "enable_account"
    assert {"disable", "wipe"} <= set(plan.approvals_needed)


def test_questions_defer_the_steps_that_read_them() -> None:
    plan = resolve_plan(get_builtin("phishing-report"), _ctx(contact={"email": "j@example.com"}))
    assert plan.questions == {"clicked": "Did you click a link or enter your password after opening the message?"}
    assert plan.ids("conditional") == ["revoke", "reset"]
    assert "{{ inputs.clicked }}" in (plan.note_preview or "")


def test_args_that_fail_the_tool_model_are_a_plan_error() -> None:
    text = """\
id: bad-args
title: t
version: 1.0.0
triggers: {intents: [other]}
inputs:
  n: {type: integer, source: ticket, field: n}
tools: [top_processes]
steps:
  - id: top
    tool: top_processes
    args: {limit: "{{ inputs.n }}"}
"""
    loaded = load_text(text)
    assert resolve_plan(loaded, _ctx(ticket={"n": 5})).steps[0].args == {"limit": 5}
    with pytest.raises(PlanInvalid, match="limit"):
        resolve_plan(loaded, _ctx(ticket={"n": 5000}))


def _outcome(tool: str, ok: bool = True, **output: object) -> ToolOutcome:
    return ToolOutcome(tool=tool, ok=ok, output=dict(output), duration_ms=1)


def test_results_decide_conditions_and_render_arguments() -> None:
    pb = get_builtin("password-reset")
    context = _ctx(contact={"email": "j@example.com", "phone": "+1555"})
    after_lookup = resolve_plan(pb, context, results={"lookup": _outcome("lookup_user", enabled=True)})
    assert {s.id: s.status for s in after_lookup.steps}["reset"] == "run"
    after_reset = resolve_plan(
        pb,
        context,
        results={
            "lookup": _outcome("lookup_user", enabled=True),
            "reset": _outcome("reset_password", delivery="one-time link sent by sms to +1***5"),
        },
    )
    tell = next(s for s in after_reset.steps if s.id == "tell_technician")
    assert tell.deferred_args == [] and "one-time link sent by sms" in tell.args["message"]
    disabled = resolve_plan(pb, context, results={"lookup": _outcome("lookup_user", enabled=False)})
    assert {s.id: s.status for s in disabled.steps}["reset"] == "skipped"


def test_a_skipped_step_reads_as_not_ok() -> None:
    pb = get_builtin("account-lockout")
    context = _ctx(contact={"email": "j@example.com"})
    plan = resolve_plan(pb, context, results={"lookup": _outcome("lookup_user", locked=False), "unlock": None})
    assert {s.id: s.status for s in plan.steps}["tell_user"] == "skipped"


def test_scope_keeps_unfinished_steps_pending() -> None:
    pb = get_builtin("printer-queue").playbook
    scope = plan_scope(pb, _ctx(), {"printer": None}, {}, {"queue_status": _outcome("x", total_jobs=2)})
    assert render("{{ steps.queue_status.output.total_jobs > 0 }}", scope) is True
    assert "steps.clear_queue" in scope.pending
