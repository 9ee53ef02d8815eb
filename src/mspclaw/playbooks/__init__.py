"""Playbooks: the YAML format (and its JSON Schema), loading and linting, matching
playbooks to triaged tickets, and pure dry-run plan resolution for the executor.
"""

from mspclaw.playbooks.examples import ExampleResult, run_example, run_examples
from mspclaw.playbooks.expressions import Deferred, ExpressionError, Scope, evaluate, render
from mspclaw.playbooks.lint import lint_file, lint_loaded, lint_text
from mspclaw.playbooks.loader import (
    LoadedPlaybook,
    PlaybookInvalid,
    SourceProblem,
    builtin_playbooks,
    content_hash,
    ensure_new_version,
    get_builtin,
    load_file,
    load_reference,
    load_text,
)
from mspclaw.playbooks.matcher import MatchCandidate, context_from_triage, keyword_matches, match_playbooks
from mspclaw.playbooks.models import (
    Example,
    Playbook,
    PlaybookInput,
    Step,
    TicketContext,
    Triggers,
    playbook_json_schema,
)
from mspclaw.playbooks.plan import (
    MissingInputs,
    PlanInvalid,
    PlannedStep,
    ResolvedPlan,
    plan_scope,
    resolve_inputs,
    resolve_plan,
)

__all__ = [
    "Deferred",
    "Example",
    "ExampleResult",
    "ExpressionError",
    "LoadedPlaybook",
    "MatchCandidate",
    "MissingInputs",
    "PlanInvalid",
    "PlannedStep",
    "Playbook",
    "PlaybookInput",
    "PlaybookInvalid",
    "ResolvedPlan",
    "Scope",
    "SourceProblem",
    "Step",
    "TicketContext",
    "Triggers",
    "builtin_playbooks",
    "content_hash",
    "context_from_triage",
    "ensure_new_version",
    "evaluate",
    "get_builtin",
    "keyword_matches",
    "lint_file",
    "lint_loaded",
    "lint_text",
    "load_file",
    "load_reference",
    "load_text",
    "match_playbooks",
    "plan_scope",
    "playbook_json_schema",
    "render",
    "resolve_inputs",
    "resolve_plan",
    "run_example",
    "run_examples",
]
