"""``mspclaw triage FILE.jsonl``: one JSON result per line, bad lines reported, never aborted."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from mspclaw.triage.commands import triage_command

app = typer.Typer()
app.command()(triage_command)
runner = CliRunner()


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "tickets.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _results(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_each_line_gets_intent_confidence_urgency_and_candidates(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            json.dumps({"subject": "Forgot password", "body": "I forgot my password"}),
            "",
            json.dumps(
                {"subject": "printer", "body": "printer on 2nd floor is offline", "client": "acme"}
            ),
        ],
    )
    result = runner.invoke(app, [str(path)])
    assert result.exit_code == 0, result.output
    rows = _results(result.stdout)
    assert [r["line"] for r in rows] == [1, 3]
    assert [r["intent"] for r in rows] == ["password_reset", "printer"]
    for row in rows:
        assert {"intent", "confidence", "urgency", "candidates", "model_version"} <= row.keys()
        assert isinstance(row["candidates"], list) and len(row["candidates"]) == 3
    assert rows[1]["client"] == "acme"


def test_bad_lines_are_reported_and_the_rest_still_triaged(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            json.dumps({"subject": "VPN", "body": "vpn will not connect"}),
            "{not json",
            "[1, 2]",
            json.dumps({"subject": "", "body": ""}),
            json.dumps({"subject": 3, "body": "x"}),
            json.dumps({"subject": "Disk", "body": "C drive full"}),
        ],
    )
    result = runner.invoke(app, [str(path)])
    assert result.exit_code == 1
    rows = _results(result.stdout)
    assert [r["line"] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r.get("error") for r in rows] == [None] + ["invalid_line"] * 4 + [None]
    assert rows[0]["intent"] == "vpn" and rows[5]["intent"] == "disk_space"
    for n in (2, 3, 4, 5):
        assert f"line {n}:" in result.stderr


def test_threshold_option_makes_answers_unsure(tmp_path: Path) -> None:
    path = _write(tmp_path, [json.dumps({"subject": "", "body": "printer offline"})])
    result = runner.invoke(app, [str(path), "--threshold", "1.0"])
    assert result.exit_code == 0
    (row,) = _results(result.stdout)
    assert row["intent"] == "unsure" and row["candidates"][0]["intent"] == "printer"


def test_reads_stdin_with_dash() -> None:
    result = runner.invoke(
        app, ["-"], input=json.dumps({"body": "my account is locked out"}) + "\n"
    )
    assert result.exit_code == 0
    assert _results(result.stdout)[0]["intent"] == "account_lockout"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, [str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "nope.jsonl" in result.output
