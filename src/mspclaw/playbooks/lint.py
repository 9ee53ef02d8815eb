"""The playbook linter: schema errors by line, unknown or undeclared tools, bad references
in templates and conditions, and arguments that fail the tool's model once rendered with
sample inputs. Problems carry file and line so editors and CI can point at them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mspclaw.errors import MSPclawError
from mspclaw.playbooks.expressions import (
    ExpressionError,
    Scope,
    references,
    render,
    template_expressions,
)
from mspclaw.playbooks.loader import (
    LoadedPlaybook,
    PlaybookInvalid,
    SourceProblem,
    load_file,
    load_text,
)
from mspclaw.playbooks.models import Playbook, PlaybookInput, Step
from mspclaw.playbooks.plan import check_step_args, split_deferred
from mspclaw.tools import CATALOG
from mspclaw.triage.taxonomy import INTENT_IDS

_SAMPLES: dict[str, Any] = {
    "string": "sample",
    "integer": 1,
    "number": 1.0,
    "boolean": True,
    "email": "jane.doe@example.com",
    "hostname": "host1.example.com",
    "list": ["sample"],
}
_CONTEXT_ROOTS = {"ticket", "contact", "device", "client"}


def sample_value(spec: PlaybookInput) -> Any:
    """A plausible value of an input for lint rendering."""
    if spec.sample is not None:
        return spec.sample
    if spec.default is not None:
        return spec.default
    if spec.choices:
        return spec.choices[0]
    return _SAMPLES[spec.type]


class _Linter:
    def __init__(self, loaded: LoadedPlaybook) -> None:
        self.loaded = loaded
        self.pb: Playbook = loaded.playbook
        self.problems: list[SourceProblem] = []
        self.step_ids = [s.id for _, s in self.pb.all_steps()]

    def add(self, loc: list[str | int], message: str, severity: str = "error") -> None:
        line = self.loaded.line_of(loc)
        self.problems.append(SourceProblem(self.loaded.source, line, message, severity))

    def run(self) -> list[SourceProblem]:
        self.check_triggers()
        self.check_tools()
        seen: set[str] = set()
        for phase_key, steps in (
            ("steps", self.pb.steps),
            ("verification", self.pb.verification),
            ("rollback", self.pb.rollback),
        ):
            for index, step in enumerate(steps):
                loc: list[str | int] = [phase_key, index]
                if step.id in seen:
                    self.add([*loc, "id"], f"step id {step.id!r} is used twice")
                seen.add(step.id)
                earlier = set(self.step_ids[: self.step_ids.index(step.id)])
                visible = earlier if phase_key == "steps" else set(self.step_ids)
                self.check_step(loc, step, visible)
        if self.pb.note:
            self.check_refs(["note"], template_expressions(self.pb.note), set(self.step_ids))
        self.check_rollback()
        self.check_examples()
        return self.problems

    def check_rollback(self) -> None:
        for index, step in enumerate(self.pb.steps):
            if step.on_failure != "rollback":
                continue
            earlier = self.pb.steps[:index]
            undoable = [s for s in earlier if (spec := CATALOG.get(s.tool)) and spec.undo]
            if not undoable and not self.pb.rollback:
                self.add(
                    ["steps", index, "on_failure"],
                    f"step {step.id}: on_failure: rollback, but no earlier step has an undo "
                    "tool and there are no rollback steps",
                    "warning",
                )

    def check_examples(self) -> None:
        known = set(self.step_ids)
        for index, example in enumerate(self.pb.examples):
            expect = example.expect
            for key in ("run", "skipped", "conditional", "approvals"):
                for step_id in getattr(expect, key) or []:
                    if step_id not in known:
                        self.add(
                            ["examples", index, "expect", key],
                            f"example {example.name!r}: no step {step_id!r}",
                        )
            for name in expect.questions or []:
                if name not in self.pb.inputs:
                    self.add(
                        ["examples", index, "expect", "questions"],
                        f"example {example.name!r}: no input {name!r}",
                    )

    def check_triggers(self) -> None:
        for i, intent in enumerate(self.pb.triggers.intents):
            if intent not in INTENT_IDS:
                self.add(
                    ["triggers", "intents", i],
                    f"intent {intent!r} is not in the built-in taxonomy",
                    "warning",
                )
        triggers = self.pb.triggers
        if not (triggers.intents or triggers.keywords or triggers.alert_kinds):
            self.add(["triggers"], "no intents, keywords or alert kinds: it never matches", "warning")

    def check_tools(self) -> None:
        for i, name in enumerate(self.pb.tools):
            if name not in CATALOG:
                self.add(["tools", i], f"unknown tool {name!r} (not in the catalog)")
        used = {s.tool for _, s in self.pb.all_steps()}
        for i, name in enumerate(self.pb.tools):
            if name in CATALOG and name not in used:
                self.add(["tools", i], f"tool {name!r} is declared but never used", "warning")

    def check_refs(self, loc: list[str | int], expressions: list[str], steps: set[str]) -> bool:
        ok = True
        for expression in expressions:
            try:
                refs = references(expression)
            except ExpressionError as exc:
                self.add(loc, exc.message)
                ok = False
                continue
            for ref in refs:
                parts = ref.split(".")
                if parts[0] == "inputs":
                    if len(parts) < 2 or parts[1] not in self.pb.inputs:
                        self.add(loc, f"{{{{ {expression} }}}} reads undeclared input {ref!r}")
                        ok = False
                elif parts[0] == "steps":
                    step = parts[1] if len(parts) > 1 else ""
                    if step not in steps:
                        self.add(loc, f"{expression!r} reads {ref!r}: no step {step!r} before this one")
                        ok = False
                    elif len(parts) > 2 and parts[2] not in ("output", "ok"):
                        self.add(loc, f"{ref!r}: a step exposes only .output and .ok")
                        ok = False
                elif parts[0] not in _CONTEXT_ROOTS:
                    self.add(loc, f"{expression!r}: unknown name {parts[0]!r}")
                    ok = False
        return ok

    def check_step(self, loc: list[str | int], step: Step, visible: set[str]) -> None:
        spec = CATALOG.get(step.tool)
        if spec is None:
            self.add([*loc, "tool"], f"step {step.id}: unknown tool {step.tool!r}")
        elif step.tool not in self.pb.tools:
            self.add([*loc, "tool"], f"step {step.id}: tool {step.tool!r} is not declared in tools")
        refs_ok = self.check_refs([*loc, "args"], template_expressions(step.args), visible)
        if step.when is not None:
            refs_ok = self.check_refs([*loc, "when"], [step.when], visible) and refs_ok
        if spec is None or not refs_ok:
            return
        if step.backend is not None and not spec.backend(step.backend):
            self.add([*loc, "backend"], f"tool {spec.name} has no {step.backend} backend")
        # render with sample inputs; outputs of steps stay deferred and are checked at run time
        scope = Scope(
            data={
                "inputs": {n: sample_value(s) for n, s in self.pb.inputs.items()},
                "ticket": {},
                "contact": {},
                "device": {},
                "client": {},
                "steps": {},
            },
            pending={f"steps.{sid}" for sid in self.step_ids},
        )
        deferred: list[str] = []
        try:
            args = split_deferred(render(step.args, scope), "", deferred)
            check_step_args(spec, step.id, args, deferred)
        except MSPclawError as exc:
            field = (exc.detail or {}).get("problems", [{}])[0].get("field", "")
            self.add([*loc, "args", field.split(".")[0]] if field else [*loc, "args"], exc.message)


def lint_loaded(loaded: LoadedPlaybook) -> list[SourceProblem]:
    """Semantic problems of an already-validated playbook."""
    return _Linter(loaded).run()


def lint_text(text: str, source: str = "<playbook>") -> list[SourceProblem]:
    """Every problem in playbook YAML ``text`` (syntax, schema, semantics)."""
    try:
        loaded = load_text(text, source)
    except PlaybookInvalid as exc:
        return exc.problems
    return lint_loaded(loaded)


def lint_file(path: str | Path) -> list[SourceProblem]:
    """Every problem in the playbook file ``path``."""
    try:
        loaded = load_file(path)
    except PlaybookInvalid as exc:
        return exc.problems
    return lint_loaded(loaded)
