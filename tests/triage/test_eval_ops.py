"""Evaluation harness for routing and alert noise: scoring logic and the typer commands."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from mspclaw.triage.commands import EXIT_DATASET_MISSING
from mspclaw.triage.datasets import DatasetMissing, find_dataset
from mspclaw.triage.eval_ops import (
    LabelledAlert,
    alerts_command,
    naive_incident_count,
    routing_command,
    score_scenario,
    split_indices,
)
from mspclaw.triage.noise import AlertEvent

T0 = datetime(2022, 1, 20, tzinfo=UTC)
runner = CliRunner()


def _app(command: object) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)  # type: ignore[arg-type]
    return app


def _labelled(n: int, minutes: float, kind: str, host: str, phase: str) -> LabelledAlert:
    return LabelledAlert(
        event=AlertEvent(
            id=str(n),
            source="wazuh",
            kind=kind,
            host=host,
            site="lab",
            time=T0 + timedelta(minutes=minutes),
            message=kind,
        ),
        phase=phase,
        event_label="-" if phase == "false_positive" else phase,
    )


def _scenario(quiet_phase_at: float) -> list[LabelledAlert]:
    """Two days of routine logins, an attack with new alert types, and a signal-less phase."""
    alerts = [_labelled(i, i * 3.0, "W-Sys-Dov", "mail", "false_positive") for i in range(0, 960)]
    n = len(alerts)
    attack = [(2900.0, "S-Flw-Nmp", "fw", "service_scans"), (2901.0, "W-Aut-Sud", "web", "privesc")]
    for offset, (minute, kind, host, phase) in enumerate(attack):
        alerts.append(_labelled(n + offset, minute, kind, host, phase))
    alerts.append(_labelled(n + 5, quiet_phase_at, "W-Sys-Dov", "mail", "dnsteal"))
    return sorted(alerts, key=lambda a: a.event.time)


def test_naive_grouping_splits_on_one_hour_gap() -> None:
    events = [
        _labelled(i, m, k, h, "false_positive").event
        for i, (m, k, h) in enumerate(
            [(0, "a", "x"), (30, "a", "x"), (100, "a", "x"), (101, "b", "x"), (102, "a", "y")]
        )
    ]
    assert naive_incident_count(events) == 4


def test_attack_phases_recalled_and_far_quiet_phase_missed() -> None:
    near = score_scenario("lab", _scenario(quiet_phase_at=2905.0))
    assert near.phase_recall == 1.0
    assert near.raised <= 2 and near.raised < near.naive
    far = score_scenario("lab", _scenario(quiet_phase_at=2880.0 - 300.0))
    by_phase = {p.phase: p for p in far.phases}
    assert by_phase["service_scans"].recalled and by_phase["service_scans"].strict
    assert not by_phase["dnsteal"].recalled
    assert far.phase_recall == pytest.approx(2 / 3)


def test_split_is_fixed_stratified_and_keeps_singletons_in_training() -> None:
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 5 + ["solo"]
    train, test = split_indices(labels)
    assert split_indices(labels) == (train, test)
    assert not set(train) & set(test)
    assert len(test) == 17
    assert 85 in train  # the single "solo" ticket
    assert {labels[i] for i in test} == {"a", "b", "c"}


@pytest.mark.parametrize("command", [routing_command, alerts_command])
def test_missing_dataset_is_a_clear_error_or_skip(command: object, tmp_path: Path) -> None:
    failed = runner.invoke(_app(command), ["--data-dir", str(tmp_path)])
    assert failed.exit_code == EXIT_DATASET_MISSING
    assert "not found" in failed.output and "--data-dir" in failed.output
    skipped = runner.invoke(_app(command), ["--data-dir", str(tmp_path), "--skip-missing"])
    assert skipped.exit_code == 0 and skipped.output.startswith("skipped:")


def _dataset_or_skip(name: str) -> Path:
    try:
        return find_dataset(name)
    except DatasetMissing as exc:
        pytest.skip(exc.message)


def test_alerts_command_on_a_sample_of_ait() -> None:
    _dataset_or_skip("ait")
    result = runner.invoke(_app(alerts_command), ["--scenario", "russellmitchell", "--sample", "3000"])
    assert result.exit_code == 0, result.output
    assert "russellmitchell" in result.output and "3000" in result.output


def test_routing_command_on_a_sample_of_gl() -> None:
    _dataset_or_skip("gl-assignment")
    result = runner.invoke(_app(routing_command), ["--sample", "800"])
    assert result.exit_code == 0, result.output
    assert "mspclaw queue model" in result.output and "baseline" in result.output
