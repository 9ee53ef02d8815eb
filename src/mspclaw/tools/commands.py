"""``mspclaw tools`` commands: list the catalog and show one tool's argument schema."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from mspclaw.errors import MSPclawError
from mspclaw.tools.catalog import CATALOG, get_tool

tools_app = typer.Typer(help="The tool catalog playbooks and plans can use.", no_args_is_help=True)


@tools_app.command("list")
def list_command(
    kind: Annotated[
        str | None, typer.Option(help="only tools with this backend: endpoint, identity, notification")
    ] = None,
) -> None:
    """List tools: name, risk, permission, backends, undo tool."""
    for spec in CATALOG.values():
        kinds = [b.kind for b in spec.backends]
        if kind is not None and kind not in kinds:
            continue
        undo = spec.undo.tool if spec.undo else "-"
        typer.echo(f"{spec.name}\t{spec.risk}\t{spec.permission}\t{','.join(kinds)}\t{undo}")


@tools_app.command("show")
def show_command(name: Annotated[str, typer.Argument(help="tool name")]) -> None:
    """Print one tool as JSON, including its argument JSON Schema."""
    try:
        spec = get_tool(name)
    except MSPclawError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(spec.describe(), indent=2))
