"""``mspclaw eval intent``: reproducible figures on reduced samples, clear skip when absent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mspclaw.triage.commands import EXIT_DATASET_MISSING, eval_app
from mspclaw.triage.datasets import DatasetMissing, find_dataset
from mspclaw.triage.eval_intent import slug_label, stratified_sample

runner = CliRunner()


def _endava_available() -> bool:
    try:
        find_dataset("endava")
    except DatasetMissing:
        return False
    return True


def test_seed_cross_validation_reports_scores_on_a_sample() -> None:
    result = runner.invoke(eval_app, ["intent", "--dataset", "seed", "--sample", "400", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["dataset"] == "seed" and "templates held out" in report["protocol"]
    assert report["n_test"] == 400
    assert set(report["model"]["per_class_f1"]) >= {"password_reset", "printer", "other"}
    assert 0.5 < report["model"]["macro_f1"] <= 1.0
    assert report["latency_ms_p99"] >= report["latency_ms_p50"] > 0
    assert report["model_size_bytes"] > 0
    assert report["holdout_size"] >= 3 * 17  # hand-written, never trained on
    assert report["holdout"]["accuracy"] >= 0.8
    calibration = report["calibration"]
    assert 0.0 <= calibration["expected_calibration_error"] < 0.2
    assert 0.0 < calibration["coverage"] <= 1.0
    # What it does answer, it answers at least as well as overall.
    assert calibration["accuracy_when_answered"] >= report["model"]["accuracy"] - 0.01


@pytest.mark.skipif(not _endava_available(), reason="endava dataset not on this machine")
def test_endava_sample_prints_a_table_with_the_baseline_beside_it() -> None:
    result = runner.invoke(eval_app, ["intent", "--dataset", "endava", "--sample", "600"])
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.stdout and "TF-IDF + LinearSVC" in result.stdout
    assert "hr_support" in result.stdout and ">= 0.90" in result.stdout
    assert "calibration error" in result.stdout


@pytest.mark.skipif(not _endava_available(), reason="endava dataset not on this machine")
def test_endava_sample_is_reproducible() -> None:
    args = ["intent", "--dataset", "endava", "--sample", "600", "--json"]
    first = json.loads(runner.invoke(eval_app, args).stdout)
    second = json.loads(runner.invoke(eval_app, args).stdout)
    assert first["model"] == second["model"] and first["baseline"] == second["baseline"]
    assert first["n_train"] == 480 and first["n_test"] == 120


def test_missing_dataset_exits_with_its_own_code(tmp_path: Path) -> None:
    args = ["intent", "--dataset", "endava", "--data-dir", str(tmp_path)]
    result = runner.invoke(eval_app, args)
    assert result.exit_code == EXIT_DATASET_MISSING
    assert "not found" in result.output and str(tmp_path) in result.output
    skipped = runner.invoke(eval_app, [*args, "--skip-missing"])
    assert skipped.exit_code == 0
    assert skipped.stdout.startswith("skipped:")


def test_sampling_is_stratified_and_labels_are_slugged() -> None:
    texts = [f"t{i}" for i in range(100)]
    labels = ["a"] * 80 + ["b"] * 20
    _, sampled = stratified_sample(texts, labels, 10)
    assert sorted(sampled) == ["a"] * 8 + ["b"] * 2
    assert slug_label("HR Support") == "hr_support"
    assert slug_label("Administrative rights") == "administrative_rights"


@pytest.mark.skipif(not _endava_available(), reason="endava dataset not on this machine")
def test_endava_llm_comparison_against_a_local_openai_compatible_server() -> None:
    """The LLM sees the dataset's labels and the quoted ticket; its answers are scored alone and
    combined with the offline model on the same stratified test tickets."""
    from tests.reasoning.test_planner import openai_stub_app

    from mspclaw.connectors.simulator import ServedApp

    def answer(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        prompt = json.dumps(body["messages"])
        assert "- hardware: Hardware" in prompt and "<untrusted_ticket>" in prompt
        return [("final", {"intent": "hardware", "confidence": 0.6, "rationale": "always hardware"})]

    app, requests = openai_stub_app(answer)
    with ServedApp(app) as served:
        llm = ["--llm-model", "stub", "--llm-base-url", f"{served.url}/v1", "--llm-sample", "40"]
        result = runner.invoke(eval_app, ["intent", "--dataset", "endava", "--sample", "600", "--json", *llm])
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.stdout)["llm_comparison"]
    assert comparison["n"] == 40 and len(requests) == 40 and comparison["llm_failures"] == 0
    assert (comparison["input_tokens"], comparison["output_tokens"]) == (40 * 120, 40 * 30)
    # "always hardware" is right exactly on the hardware tickets of the sample
    hardware_share = comparison["llm"]["per_class_f1"]["hardware"]
    assert 0 < comparison["llm"]["accuracy"] < 0.5 and hardware_share > 0
    assert comparison["llm"]["macro_f1"] < comparison["offline"]["macro_f1"]
    assert 0.0 <= comparison["combined_unsure_rate"] <= 1.0


def test_llm_comparison_is_for_endava_only() -> None:
    result = runner.invoke(
        eval_app, ["intent", "--dataset", "seed", "--llm-model", "x", "--llm-base-url", "http://127.0.0.1:9/v1"]
    )
    assert result.exit_code == 2 and "endava" in result.output
