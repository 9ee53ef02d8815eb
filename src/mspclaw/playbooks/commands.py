"""``mspclaw playbook`` commands: schema, lint, test (declared examples) and dry-run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from mspclaw.errors import MSPclawError
from mspclaw.playbooks.examples import run_examples
from mspclaw.playbooks.lint import lint_file, lint_loaded
from mspclaw.playbooks.loader import (
    PlaybookInvalid,
    builtin_paths,
    builtin_playbooks,
    load_file,
    load_reference,
)
from mspclaw.playbooks.models import TicketContext, playbook_json_schema
from mspclaw.playbooks.plan import resolve_plan

playbook_app = typer.Typer(
    help="Write, check and try playbooks (the YAML resolutions MSPclaw runs).",
    no_args_is_help=True,
)


@playbook_app.command("schema")
def schema_command() -> None:
    """Print the JSON Schema of the playbook YAML format (for editors and CI)."""
    typer.echo(json.dumps(playbook_json_schema(), indent=2))


@playbook_app.command("list")
def list_command() -> None:
    """List the built-in playbooks: id, version, mode, intents and title."""
    for loaded in builtin_playbooks().values():
        pb = loaded.playbook
        intents = ",".join(pb.triggers.intents) or "-"
        typer.echo(f"{pb.id}\t{pb.version}\t{pb.mode}\t{intents}\t{pb.title}")


@playbook_app.command("lint")
def lint_command(
    files: Annotated[list[Path] | None, typer.Argument(help="playbook YAML files (default: the built-ins)")] = None,
    strict: Annotated[bool, typer.Option(help="treat warnings as errors")] = False,
) -> None:
    """Check playbooks: schema, tools, templates, arguments. Exit 1 on any error."""
    paths = files or builtin_paths()
    failed = False
    for path in paths:
        problems = lint_file(path)
        for problem in problems:
            typer.echo(str(problem), err=problem.severity == "error")
        if any(p.severity == "error" or strict for p in problems):
            failed = True
        elif not problems:
            typer.echo(f"{path}: ok")
    raise typer.Exit(1 if failed else 0)


@playbook_app.command("test")
def test_command(
    files: Annotated[list[Path], typer.Argument(help="playbook YAML files with examples")],
) -> None:
    """Run each playbook's declared examples in dry-run and compare with the expected plan."""
    failed = False
    for path in files:
        try:
            loaded = load_file(path)
        except PlaybookInvalid as exc:
            for problem in exc.problems:
                typer.echo(str(problem), err=True)
            failed = True
            continue
        errors = [p for p in lint_loaded(loaded) if p.severity == "error"]
        for problem in errors:
            typer.echo(str(problem), err=True)
        failed = failed or bool(errors)
        results = run_examples(loaded)
        if not results:
            typer.echo(f"{path}: no examples declared", err=True)
            failed = True
        for result in results:
            mark = "PASS" if result.passed else "FAIL"
            typer.echo(f"{mark} {loaded.playbook.id} :: {result.name}")
            for failure in result.failures:
                typer.echo(f"    {failure}")
            failed = failed or not result.passed
    raise typer.Exit(1 if failed else 0)


@playbook_app.command("dry-run")
def dry_run_command(
    playbook: Annotated[str, typer.Argument(help="built-in playbook id or a YAML file")],
    ticket: Annotated[
        Path,
        typer.Option(help="JSON file: {ticket, contact, device, client} of the ticket"),
    ],
    inputs: Annotated[str, typer.Option(help="JSON object of input values that override the ticket's")] = "{}",
) -> None:
    """Show what the playbook would do for a ticket: steps, arguments, approvals, backends."""
    try:
        loaded = load_reference(playbook)
        context = TicketContext.model_validate_json(ticket.read_text(encoding="utf-8"))
        plan = resolve_plan(loaded, context, json.loads(inputs))
    except MSPclawError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    except (OSError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(plan.model_dump_json(indent=2))
