"""Running a playbook's declared examples in dry-run and comparing with what they expect.

This is ``mspclaw playbook test``: every example ticket is matched and planned, and each
expectation (match, steps that run / are skipped / conditional, approvals, questions,
or the error text) is compared; differences are reported per example.
"""

from __future__ import annotations

from pydantic import BaseModel

from mspclaw.errors import MSPclawError
from mspclaw.playbooks.loader import LoadedPlaybook
from mspclaw.playbooks.matcher import score_playbook
from mspclaw.playbooks.models import Example, TicketContext
from mspclaw.playbooks.plan import ResolvedPlan, resolve_plan


class ExampleResult(BaseModel):
    """The outcome of one example: passed, or the list of differences."""

    name: str
    passed: bool
    failures: list[str]
    plan: ResolvedPlan | None = None


def _compare(label: str, expected: list[str] | None, actual: list[str], out: list[str]) -> None:
    if expected is not None and sorted(expected) != sorted(actual):
        out.append(f"{label}: expected {sorted(expected)}, got {sorted(actual)}")


def run_example(loaded: LoadedPlaybook, example: Example) -> ExampleResult:
    """Match and dry-run one example, comparing against its expectations."""
    expect = example.expect
    failures: list[str] = []
    context = TicketContext.model_validate(example.model_dump(include={"ticket", "contact", "device", "client"}))
    candidate = score_playbook(loaded.playbook, context)
    if expect.matches and candidate is None:
        failures.append("expected the playbook to match the ticket, it did not")
    if not expect.matches and candidate is not None:
        failures.append(f"expected no match, matched with {candidate.reasons}")
    plan: ResolvedPlan | None = None
    try:
        plan = resolve_plan(loaded, context, example.inputs)
    except MSPclawError as exc:
        if expect.error_contains is None or expect.error_contains not in exc.message:
            failures.append(f"dry-run failed: {exc.message}")
        return ExampleResult(name=example.name, passed=not failures, failures=failures)
    if expect.error_contains is not None:
        failures.append(f"expected dry-run to fail with {expect.error_contains!r}, it planned")
    _compare("run", expect.run, plan.ids("run"), failures)
    _compare("skipped", expect.skipped, plan.ids("skipped"), failures)
    _compare("conditional", expect.conditional, plan.ids("conditional"), failures)
    _compare("approvals", expect.approvals, plan.approvals_needed, failures)
    _compare("questions", expect.questions, list(plan.questions), failures)
    return ExampleResult(name=example.name, passed=not failures, failures=failures, plan=plan)


def run_examples(loaded: LoadedPlaybook) -> list[ExampleResult]:
    """Every declared example of the playbook, in order."""
    return [run_example(loaded, ex) for ex in loaded.playbook.examples]
