"""The offline instruction grammar: common technician commands, pronouns, chains, errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mspclaw.reasoning.grammar import InstructionNotUnderstood, interpret
from mspclaw.reasoning.models import InstructionContext
from mspclaw.reasoning.planner import check_plan

CTX = InstructionContext(contact_email="jane@contoso.com", device_hostname="LT-0100")


def calls(text: str, context: InstructionContext = CTX) -> list[tuple[str, dict]]:
    return [(c.tool, c.args) for c in interpret(text, context).steps]


def test_the_brief_example_verifies_resets_and_texts_the_contact_on_record() -> None:
    plan = interpret("verify user via MFA, reset password, text them the temporary one", CTX)
    assert plan.verification == "agent_push"
    assert [c.tool for c in plan.steps] == ["reset_password", "notify_user"]
    assert plan.steps[0].args == {"user": "jane@contoso.com"}
    assert plan.steps[1].args["channel"] == "sms"
    assert "recipient" not in plan.steps[1].args  # the contact on record, never a number from the ticket
    assert "temporary password is ready" in plan.steps[1].args["message"]
    assert check_plan(plan) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("reset password for bob@fabrikam.com", [("reset_password", {"user": "bob@fabrikam.com"})]),
        ("Unlock account", [("unlock_account", {"user": "jane@contoso.com"})]),
        ("unlock jsmith", [("unlock_account", {"user": "jsmith"})]),
        (
            "add jane@contoso.com to group Finance Team",
            [("add_group_member", {"user": "jane@contoso.com", "group": "Finance Team"})],
        ),
        ("remove bob from the Sales group", [("remove_group_member", {"user": "bob", "group": "Sales"})]),
        ("check disk space then clean up temp files", [("disk_usage", {}), ("cleanup_temp", {})]),
        ("ping 10.0.0.1; flush dns", [("ping", {"host": "10.0.0.1"}), ("flush_dns", {})]),
        ("revoke all sessions for bob@fabrikam.com", [("revoke_sessions", {"user": "bob@fabrikam.com"})]),
        (
            "post an internal note saying Spooler restarted",
            [("post_ticket_note", {"text": "Spooler restarted", "internal": True})],
        ),
    ],
)
def test_commands(text: str, expected: list[tuple[str, dict]]) -> None:
    assert calls(text) == expected


def test_device_named_in_the_instruction_targets_that_device() -> None:
    plan = interpret("restart print spooler on LT-0442", CTX)
    assert plan.device_hostname == "LT-0442"
    assert [c.tool for c in plan.steps] == ["restart_print_spooler"]


def test_verification_methods() -> None:
    assert interpret("verify the caller via sms", CTX).verification == "otp_sms"
    assert interpret("verify user by email", CTX).verification == "otp_email"
    assert interpret("verify user", CTX).verification == "agent_push"


def test_unknown_fragment_is_named() -> None:
    with pytest.raises(InstructionNotUnderstood) as error:
        interpret("reset password then make coffee", CTX)
    assert "make coffee" in error.value.message


def test_pronoun_without_contact_on_record_is_refused() -> None:
    with pytest.raises(InstructionNotUnderstood, match="no contact on record"):
        interpret("reset password", InstructionContext())


@given(st.text(max_size=200))
def test_grammar_never_crashes_and_never_invents_recipients(text: str) -> None:
    try:
        plan = interpret(text, CTX)
    except InstructionNotUnderstood:
        return
    for call in plan.steps:
        assert "recipient" not in call.args
