"""Command-line surface of intent triage: ``mspclaw triage FILE.jsonl`` and ``mspclaw eval intent``.

The lead wires :func:`triage_command` and :data:`eval_app` into the root CLI; other triage
evaluations (routing, alerts) are added to ``eval_app`` as further commands.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer
from pydantic import ValidationError
from rich.console import Console

from mspclaw.errors import MSPclawError
from mspclaw.triage.datasets import DatasetMissing

if TYPE_CHECKING:
    from mspclaw.triage.classifier import IntentClassifier
    from mspclaw.triage.engine import TicketText

# scikit-learn and the model load lazily inside the commands: the root CLI imports this
# module for every invocation, and `mspclaw --help` should not pay seconds for it.

#: tickets classified per vectorised call; bounds memory on huge exports
BATCH_SIZE = 256
#: exit code when the evaluation dataset is absent (distinct from 1 = failure)
EXIT_DATASET_MISSING = 3
EXIT_BAD_LINES = 1


def _parse_line(raw: str) -> TicketText:
    from mspclaw.triage.engine import TicketText

    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object with 'subject' and 'body'")
    if not isinstance(data.get("subject", ""), str) or not isinstance(data.get("body", ""), str):
        raise ValueError("'subject' and 'body' must be strings")
    if not (data.get("subject") or data.get("body")):
        raise ValueError("the object has neither 'subject' nor 'body'")
    client = data.get("client")
    if client is not None and not isinstance(client, str):
        data["client"] = str(client)
    return TicketText.model_validate(data)


def _lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    for number, raw in enumerate(handle, start=1):
        if raw.strip():
            yield number, raw


def run_batch(
    source: TextIO,
    out: TextIO,
    err: TextIO,
    *,
    model: IntentClassifier | None = None,
    threshold: float | None = None,
) -> int:
    """Triage every JSON line of ``source``; returns how many lines were bad.

    Output keeps input order: one JSON object per non-blank input line, with ``line`` set.
    """
    from mspclaw.triage.classifier import default_model
    from mspclaw.triage.engine import triage_many

    classifier = model or default_model()
    bad = 0
    pending: list[tuple[int, TicketText]] = []

    def flush() -> None:
        results = triage_many([t for _, t in pending], model=classifier, threshold=threshold)
        for (number, _), result in zip(pending, results, strict=True):
            payload = {"line": number, **result.model_dump(mode="json")}
            out.write(json.dumps(payload, ensure_ascii=False) + "\n")
        pending.clear()

    for number, raw in _lines(source):
        try:
            ticket = _parse_line(raw)
        except (ValueError, ValidationError) as exc:
            flush()  # keep output in input order
            bad += 1
            message = str(exc).splitlines()[0]
            err.write(f"line {number}: {message}\n")
            error = {"line": number, "error": "invalid_line", "message": message}
            out.write(json.dumps(error) + "\n")
            continue
        pending.append((number, ticket))
        if len(pending) >= BATCH_SIZE:
            flush()
    flush()
    return bad


def triage_command(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON Lines file, one ticket per line: "
            '{"subject": "...", "body": "...", "client": "optional"}. Use - for stdin.',
            allow_dash=True,
        ),
    ],
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Confidence below which the intent is 'unsure' (default: the model's, 0.5).",
        ),
    ] = None,
    model_path: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="A saved intent model (.joblib) instead of the shipped default.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Triage an export of tickets offline and print one JSON result per line.

    Each output line has intent (or 'unsure'), confidence, candidates, urgency (0-100),
    priority, urgency factors, language and model_version. A line that is not valid
    JSON is reported on stderr with its line number and gets an error object; the rest of
    the file is still triaged (exit code 1 when any line was bad).
    """
    from mspclaw.triage.classifier import IntentModel, default_model

    try:
        model = IntentModel.load(model_path) if model_path is not None else default_model()
    except MSPclawError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    if str(file) == "-":
        bad = run_batch(sys.stdin, sys.stdout, sys.stderr, model=model, threshold=threshold)
    else:
        if not file.is_file():
            typer.echo(f"error: {file} is not a readable file", err=True)
            raise typer.Exit(2)
        with file.open(encoding="utf-8", errors="replace") as handle:
            bad = run_batch(handle, sys.stdout, sys.stderr, model=model, threshold=threshold)
    if bad:
        typer.echo(f"{bad} line(s) could not be triaged (see above)", err=True)
        raise typer.Exit(EXIT_BAD_LINES)


eval_app = typer.Typer(
    name="eval",
    help="Measure triage quality on labelled datasets and print the figures as tables.",
    no_args_is_help=True,
)


@eval_app.callback()
def eval_group() -> None:
    """Measure triage quality on labelled datasets and print the figures as tables."""


class IntentDataset(StrEnum):
    """Datasets ``mspclaw eval intent`` knows."""

    endava = "endava"
    seed = "seed"


@eval_app.command("intent")
def eval_intent_command(
    dataset: Annotated[
        IntentDataset,
        typer.Option(
            help="endava: public Endava helpdesk tickets (headline figure); "
            "seed: cross-validation on the project's own seed corpus."
        ),
    ] = IntentDataset.endava,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder holding the dataset (or its parent); default: MSPCLAW_DATASETS_DIR "
            "or shared/datasets beside the checkout."
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option(min=20, help="Evaluate on a fixed stratified sample of N tickets (fast, CI)."),
    ] = None,
    skip_missing: Annotated[
        bool, typer.Option(help="Exit 0 with a 'skipped' message when the dataset is absent.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    llm_model: Annotated[
        str | None,
        typer.Option(help="Also measure this LLM (and it combined with the offline model) on the endava test split."),
    ] = None,
    llm_base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint of --llm-model, e.g. http://localhost:11434/v1.")
    ] = None,
    llm_provider: Annotated[str, typer.Option(help="openai_compatible, ollama or openai.")] = "openai_compatible",
    llm_api_key_env: Annotated[
        str | None, typer.Option(help="Name of the environment variable holding the LLM's API key.")
    ] = None,
    llm_sample: Annotated[int, typer.Option(min=10, help="Test tickets the LLM classifies (stratified).")] = 200,
) -> None:
    """Train and test the intent classifier architecture; print accuracy, macro-F1, latency, size.

    The endava split is stratified 80/20 with seed 42; the baseline column is a plain TF-IDF +
    LinearSVC run on the same split. Exit code 3 when the dataset is missing.
    """
    import os

    from mspclaw.triage.eval_intent import LLMSpec, eval_endava, eval_seed, render_report

    llm = None
    if llm_model is not None:
        if dataset is not IntentDataset.endava:
            typer.echo("error: --llm-model is measured on the endava dataset only", err=True)
            raise typer.Exit(2)
        api_key = os.environ.get(llm_api_key_env) if llm_api_key_env else None
        if llm_api_key_env and not api_key:
            typer.echo(f"error: the environment variable {llm_api_key_env} is not set", err=True)
            raise typer.Exit(2)
        llm = LLMSpec(base_url=llm_base_url, model=llm_model, provider=llm_provider, api_key=api_key, sample=llm_sample)
    try:
        if dataset is IntentDataset.endava:
            report = eval_endava(data_dir, sample, llm=llm)
        else:
            report = eval_seed(sample=sample)
    except DatasetMissing as exc:
        if skip_missing:
            typer.echo(f"skipped: {exc.message}")
            return
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(EXIT_DATASET_MISSING) from exc
    except MSPclawError as exc:  # e.g. an LLM provider that needs base_url or a key
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        render_report(report, Console())


embeddings_app = typer.Typer(
    name="embeddings",
    help="Ticket embeddings for similar tickets and duplicates: status, and re-embedding after a backend switch.",
    no_args_is_help=True,
)

TENANT_OPTION = typer.Option("--tenant", "-t", envvar="MSPCLAW_TENANT", help="Tenant slug or id.")


@embeddings_app.command("status")
def embeddings_status_command(
    tenant: Annotated[str | None, TENANT_OPTION] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The configured backend and how many of the tenant's tickets it has embedded."""
    from mspclaw.cli import console, open_database, print_rows, run, tenant_scope
    from mspclaw.triage import similarity

    async def main() -> None:
        async with open_database() as db, tenant_scope(db, tenant) as (session, _tenant):
            status = await similarity.embedding_status(session, tenant_id=_tenant.id)
        if as_json:
            console.print_json(json.dumps(status))
            return
        others = ", ".join(f"{k}: {v}" for k, v in status["other_backends"].items()) or "none"
        print_rows([{**status, "other_backends": others}], list(status), False, "Ticket embeddings")

    run(main)


@embeddings_app.command("reembed")
def embeddings_reembed_command(tenant: Annotated[str | None, TENANT_OPTION] = None) -> None:
    """Embed every live ticket that has no vector of the configured backend (after switching
    MSPCLAW_EMBEDDING_BACKEND or _MODEL). Commits batch by batch; run it again to carry on."""
    import time

    from mspclaw.cli import console, open_database, resolve_tenant, run
    from mspclaw.database.session import tenant_session
    from mspclaw.triage import similarity

    async def main() -> None:
        async with open_database() as db:
            async with tenant_session(db.sessions, None) as probe:
                chosen = await resolve_tenant(probe, tenant)
            started, done, after = time.perf_counter(), 0, None
            name = similarity.backend().name  # loads the model (or fails clearly) before any work
            while True:
                async with tenant_session(db.sessions, chosen.id) as session, session.begin():
                    ids = await similarity.reembed_batch(session, tenant_id=chosen.id, after=after)
                if not ids:
                    break
                done, after = done + len(ids), ids[-1]
                console.print(f"{done} ticket(s) embedded with {name}")
            elapsed = time.perf_counter() - started
            console.print(f"done: {done} ticket(s) of {chosen.slug} embedded with {name} in {elapsed:.1f} s")

    run(main)
