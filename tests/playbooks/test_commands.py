"""``mspclaw playbook`` commands through typer's runner: schema, lint, test, dry-run."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from typer.testing import CliRunner

from mspclaw.playbooks.commands import playbook_app
from mspclaw.playbooks.loader import builtin_paths

runner = CliRunner()


def test_schema_is_json_schema_that_accepts_every_builtin() -> None:
    result = runner.invoke(playbook_app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in builtin_paths():
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    bad = yaml.safe_load(builtin_paths()[0].read_text()) | {"mode": "yolo"}
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(bad))


def test_lint_builtins_ok_and_bad_file_exit_1(tmp_path: Path) -> None:
    ok = runner.invoke(playbook_app, ["lint"])
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.count(": ok") == 15
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: b\ntitle: b\nversion: 1.0.0\ntools: [ghost]\nsteps:\n  - id: s\n    tool: ghost\n")
    result = runner.invoke(playbook_app, ["lint", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:4: error: unknown tool 'ghost'" in result.output


def test_test_runs_examples(tmp_path: Path) -> None:
    result = runner.invoke(playbook_app, ["test", *map(str, builtin_paths())])
    assert result.exit_code == 0, result.output
    assert "PASS printer-queue :: a sprint planning ticket is not a printer problem" in result.stdout
    text = Path(builtin_paths()[0]).read_text()
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(text.replace("run: [lookup, grant_mailbox, tell_user, verify]", "run: [lookup]"))
    failed = runner.invoke(playbook_app, ["test", str(wrong)])
    assert failed.exit_code == 1
    assert "FAIL access-request :: shared mailbox" in failed.stdout
    assert "run: expected ['lookup']" in failed.stdout


def test_dry_run_builtin_by_id(tmp_path: Path) -> None:
    ticket = tmp_path / "ticket.json"
    ticket.write_text(
        json.dumps(
            {
                "ticket": {"subject": "Printer offline", "intent": "printer"},
                "device": {"os": "windows", "hostname": "LT-042"},
            }
        )
    )
    result = runner.invoke(playbook_app, ["dry-run", "printer-queue", "--ticket", str(ticket)])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["playbook_id"] == "printer-queue"
    assert [s["id"] for s in plan["steps"] if s["status"] == "run"] == [
        "queue_status",
        "restart_spooler",
        "queue_after",
    ]
    missing = runner.invoke(playbook_app, ["dry-run", "onboarding", "--ticket", str(ticket)])
    assert missing.exit_code == 1
    assert "missing required inputs: new_user" in missing.output
    unknown = runner.invoke(playbook_app, ["dry-run", "no-such", "--ticket", str(ticket)])
    assert unknown.exit_code == 1


def test_list_builtins() -> None:
    result = runner.invoke(playbook_app, ["list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 15
    assert "printer-queue\t1.0.0\tauto\tprinter\tPrinter offline / print queue stuck" in lines
