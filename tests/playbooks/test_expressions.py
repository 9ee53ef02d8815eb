"""Safe expressions and templates: typed rendering, run-time deferral, and refusal of
anything that is not a path, literal, comparison or and/or/not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mspclaw.playbooks import Deferred, ExpressionError, Scope, evaluate, render

SCOPE = Scope(
    data={
        "inputs": {"user": "jane@example.com", "port": 443, "flag": False, "printer": None},
        "device": {"os": "windows"},
        "ticket": {},
        "contact": {},
        "client": {},
        "steps": {"check": {"output": {"count": 0, "free": 5}, "ok": True}},
    },
    pending={"steps.later", "inputs.answer"},
)


def test_conditions() -> None:
    assert evaluate("device.os == 'windows'", SCOPE) is True
    assert evaluate("device.os in ['macos', 'linux']", SCOPE) is False
    assert evaluate("steps.check.output.count == 0 and not inputs.flag", SCOPE) is True
    assert evaluate("1 < steps.check.output.free <= 5", SCOPE) is True
    assert evaluate("inputs.printer == null", SCOPE) is True
    assert evaluate("inputs.missing > 3", SCOPE) is False  # absent value: not met, no crash


def test_templates_keep_types_and_interpolate_text() -> None:
    rendered = render(
        {
            "port": "{{ inputs.port }}",
            "msg": "hi {{ inputs.user }} on {{ device.os }}",
            "list": ["{{ inputs.flag }}"],
            "default": "{{ inputs.printer or 'all' }}",
            "n": 3,
        },
        SCOPE,
    )
    assert rendered == {
        "port": 443,
        "msg": "hi jane@example.com on windows",
        "list": [False],
        "default": "all",
        "n": 3,
    }


def test_pending_references_are_deferred() -> None:
    assert evaluate("steps.later.output.x == 1", SCOPE) == Deferred(("steps.later.output.x",))
    assert evaluate("inputs.answer == true and device.os == 'windows'", SCOPE) == Deferred(("inputs.answer",))
    assert isinstance(render("code {{ steps.later.output.code }}", SCOPE), Deferred)
    # short-circuit: a false left side decides without waiting
    assert evaluate("device.os == 'linux' and steps.later.ok", SCOPE) is False


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('id')",
        "inputs.user.__class__",
        "inputs['user']",
        "(lambda: 1)()",
        "[x for x in inputs]",
        "inputs.port + 1",
        "open('/etc/passwd')",
        "os.system",
        "inputs.user if true else 1",
        "f'{inputs.user}'",
    ],
)
def test_forbidden_constructs(expression: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(expression, SCOPE)


def test_only_mappings_are_walked() -> None:
    # a string value has no attributes to reach through a path
    assert evaluate("inputs.user.upper", SCOPE) is None


@given(st.text(max_size=40))
def test_arbitrary_text_is_rejected_or_evaluated_never_executed(text: str) -> None:
    try:
        evaluate(text, SCOPE)
    except ExpressionError:
        pass


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=30))
def test_text_without_templates_renders_unchanged(text: str) -> None:
    assert render(text, SCOPE) == text
