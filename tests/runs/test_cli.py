"""``mspclaw run …`` through typer: dry-run, start, show, answer, deny, list, cancel.

Runs in a sync test so the commands own their event loop, as they do from a shell.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mspclaw.cli import app as main_app
from mspclaw.config import get_settings
from mspclaw.runs.commands import runs_app
from tests.conftest import TenantFixture


def _json(output: str) -> dict:  # type: ignore[type-arg]
    return json.loads(output[output.index("{") :])


@pytest.mark.usefixtures("cli_env")
def test_run_commands_round_trip(tenant_a: TenantFixture) -> None:
    cli = CliRunner()
    assert cli.invoke(main_app, ["client", "create", "Contoso"]).exit_code == 0

    dry = cli.invoke(runs_app, ["start", "low-disk-space", "--client", "Contoso", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    gate = {g["step"]: g["verdict"] for g in _json(dry.output)["gate"]}
    assert gate == {"before": "allow", "cleanup": "needs_approval", "after": "allow"}

    started = cli.invoke(runs_app, ["start", "software-install", "--client", "Contoso", "--work"])
    assert started.exit_code == 0, started.output
    run = _json(started.output)
    assert run["status"] == "awaiting_input"

    shown = _json(cli.invoke(runs_app, ["show", run["id"]]).output)
    [question] = shown["questions"]
    answered = cli.invoke(runs_app, ["answer", question["id"], "keepassxc", "--work"])
    assert answered.exit_code == 0, answered.output
    assert _json(answered.output)["status"] == "awaiting_approval"  # not installed here: install needs approval

    approval = _json(cli.invoke(runs_app, ["show", run["id"]]).output)["approvals"][0]
    assert (approval["tool"], approval["args"]) == ("install_package", {"package": "keepassxc"})
    stranger = cli.invoke(runs_app, ["approve", approval["id"], "--as", "nobody@nowhere.example"])
    assert stranger.exit_code == 1 and "not found" in stranger.output
    denied = cli.invoke(
        runs_app, ["deny", approval["id"], "--as", tenant_a.owner_email, "--reason", "not today", "--work"]
    )
    assert denied.exit_code == 0, denied.output
    assert _json(denied.output)["status"] == "failed"

    listed = cli.invoke(runs_app, ["list", "--json"])
    assert [r["id"] for r in json.loads(listed.output)] == [run["id"]]
    again = cli.invoke(runs_app, ["cancel", run["id"]])
    assert again.exit_code == 1 and "already ended" in again.output
    get_settings.cache_clear()
