"""The ``mspclaw`` command line: one typer app, each domain contributing its sub-commands."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="mspclaw",
    help="MSPclaw: triage, resolve and automate MSP tickets above your PSA and RMM.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

# --- domain command groups (each domain owns its commands module) ---------------------


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
