"""``mspclaw tools`` commands through typer's runner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mspclaw.tools.commands import tools_app

runner = CliRunner()


def test_list_and_filter() -> None:
    result = runner.invoke(tools_app, ["list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert "disable_account\tdestructive\tidentity.write\tidentity\tenable_account" in lines
    identity = runner.invoke(tools_app, ["list", "--kind", "identity"]).stdout.splitlines()
    assert identity and all("\tidentity\t" in line for line in identity)


def test_show_prints_the_schema() -> None:
    result = runner.invoke(tools_app, ["show", "restart_service"])
    assert result.exit_code == 0
    spec = json.loads(result.stdout)
    assert spec["risk"] == "change" and "print_spooler" in json.dumps(spec["args_schema"])
    missing = runner.invoke(tools_app, ["show", "run_shell"])
    assert missing.exit_code == 1 and "not in the catalog" in missing.output
