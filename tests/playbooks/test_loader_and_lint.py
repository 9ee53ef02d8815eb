"""Loading and linting: YAML/schema errors with line numbers, semantic checks (tools,
references, argument validation after templating), and immutable content hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mspclaw.playbooks import PlaybookInvalid, content_hash, get_builtin, lint_text, load_text

GOOD = """\
id: demo
title: Demo
version: 1.0.0
triggers: {intents: [printer]}
inputs:
  printer: {type: string, source: ticket, field: printer, required: false}
tools: [printer_queue_status, clear_print_queue]
steps:
  - id: status
    tool: printer_queue_status
  - id: clear
    tool: clear_print_queue
    when: "steps.status.output.total_jobs > 0"
    args: {printer: "{{ inputs.printer }}"}
"""


def _lines(problems: list) -> list[tuple[int | None, str]]:  # type: ignore[type-arg]
    return [(p.line, p.message) for p in problems]


def test_good_playbook_lints_clean() -> None:
    assert lint_text(GOOD, "demo.yaml") == []


def test_yaml_syntax_error_has_a_line() -> None:
    problems = lint_text(GOOD + "  - id: [broken\n", "demo.yaml")
    assert len(problems) == 1 and problems[0].line is not None and problems[0].line >= 15
    assert "YAML syntax" in problems[0].message


def test_schema_errors_point_at_their_lines() -> None:
    text = GOOD.replace("version: 1.0.0", "version: one").replace(
        "    tool: printer_queue_status", "    tool: printer_queue_status\n    retries: 3"
    )
    problems = lint_text(text, "demo.yaml")
    assert (3, "version: String should match pattern '^\\d+\\.\\d+\\.\\d+$'") in _lines(problems)
    assert any(p.line == 11 and "retries" in p.message for p in problems)
    assert str(problems[0]).startswith("demo.yaml:3: error:")


def test_unknown_undeclared_tools_and_bad_references() -> None:
    text = GOOD.replace(
        "tools: [printer_queue_status, clear_print_queue]",
        "tools: [printer_queue_status, clear_print_queue, format_disk]",
    ) + (
        '  - id: extra\n    tool: restart_service\n    args: {service: "{{ inputs.svc }}"}\n'
        '  - id: early\n    tool: dns_resolve\n    when: "steps.nope.ok"\n'
        "    args: {name: localhost}\n"
    )
    messages = [p.message for p in lint_text(text, "demo.yaml")]
    assert "unknown tool 'format_disk' (not in the catalog)" in messages
    assert "step extra: tool 'restart_service' is not declared in tools" in messages
    assert any("undeclared input 'inputs.svc'" in m for m in messages)
    assert any("no step 'nope' before this one" in m for m in messages)


def test_referencing_a_later_step_is_an_error() -> None:
    text = GOOD.replace(
        "    tool: printer_queue_status\n",
        '    tool: printer_queue_status\n    when: "steps.clear.ok"\n',
        1,
    )
    assert any("no step 'clear' before this one" in p.message for p in lint_text(text, "x.yaml"))


def test_args_are_validated_against_the_tool_after_templating() -> None:
    text = GOOD.replace('args: {printer: "{{ inputs.printer }}"}', 'args: {printer: "spooler; rm -rf /"}')
    problems = lint_text(text, "demo.yaml")
    assert len(problems) == 1 and problems[0].line == 14
    assert "printer" in problems[0].message and "do not validate" in problems[0].message
    sample = GOOD.replace("field: printer, required: false}", "field: printer, sample: 'bad name; x'}")
    assert any("do not validate" in p.message for p in lint_text(sample, "s.yaml"))


def test_load_raises_with_all_problems() -> None:
    with pytest.raises(PlaybookInvalid) as err:
        load_text("id: X\ntitle: ''\nversion: 1\ntools: []\nsteps: []\n", "bad.yaml")
    assert {p.line for p in err.value.problems} >= {1, 2, 3, 5}


def test_content_hash_is_per_version_content() -> None:
    a = load_text(GOOD, "a.yaml")
    same = load_text("# a comment changes nothing\n" + GOOD, "b.yaml")
    edited = load_text(GOOD.replace("title: Demo", "title: Demo 2"), "c.yaml")
    assert a.content_hash == same.content_hash == content_hash(a.playbook)
    assert edited.content_hash != a.content_hash


def test_builtin_files_are_where_the_loader_says() -> None:
    loaded = get_builtin("printer-queue")
    assert Path(loaded.source).name == "printer.yaml"
    assert loaded.line_of(["steps", 1, "when"]) is not None


def test_examples_must_name_real_steps_and_rollback_needs_something_to_undo() -> None:
    text = GOOD + (
        "  - id: again\n    tool: printer_queue_status\n    on_failure: rollback\n"
        "examples:\n  - name: e\n    expect: {run: [status, ghost], questions: [nope]}\n"
    )
    problems = lint_text(text, "x.yaml")
    messages = {(p.severity, p.message) for p in problems}
    assert ("error", "example 'e': no step 'ghost'") in messages
    assert ("error", "example 'e': no input 'nope'") in messages
    assert any(s == "warning" and "no earlier step has an undo tool" in m for s, m in messages)


def test_a_published_version_cannot_change() -> None:
    from mspclaw.errors import Conflict
    from mspclaw.playbooks import ensure_new_version

    first = load_text(GOOD)
    known = {("demo", "1.0.0"): first.content_hash}
    assert ensure_new_version({}, first) is True
    assert ensure_new_version(known, load_text("# same\n" + GOOD)) is False
    with pytest.raises(Conflict, match="bump the version"):
        ensure_new_version(known, load_text(GOOD.replace("title: Demo", "title: Changed")))
    bumped = load_text(GOOD.replace("title: Demo", "title: Changed").replace("1.0.0", "1.1.0"))
    assert ensure_new_version(known, bumped) is True
