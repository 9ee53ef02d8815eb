"""``mspclaw connection …`` as a person uses it (the typer app run in a child process)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from mspclaw.connectors.simulator import ServedApp
from mspclaw.connectors.superops.simulator import SuperOpsSimulator
from mspclaw.database.core import Database
from tests.conftest import TEST_MASTER_KEY, TenantFixture
from tests.sync.conftest import sim_settings

LAUNCH = "from mspclaw.sync.commands import connection_app; connection_app(prog_name='mspclaw connection')"


async def connection_cli(args: list[str], db: Database, data_dir: Path) -> tuple[int, str]:
    env = {
        **os.environ,
        "MSPCLAW_DATABASE_URL": db.url,
        "MSPCLAW_DATA_DIR": str(data_dir),
        "MSPCLAW_MASTER_KEY": TEST_MASTER_KEY,
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LAUNCH, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_add_sync_and_map_from_the_command_line(db: Database, tenant_a: TenantFixture, tmp_path: Path) -> None:
    sim = SuperOpsSimulator("cli", tickets=40, faults="limit=0")
    with ServedApp(sim.app()) as server:
        settings = sim_settings(sim, server.url, "superops")
        base = ["add", "superops", "--name", "Main PSA", "--base-url", settings["api_url"]]
        base += ["--set", f"subdomain={settings['subdomain']}"]
        code, out = await connection_cli([*base, "--secret", "api_token=not-the-token"], db, tmp_path)
        assert code == 1 and "rejected the credentials" in out, out

        code, out = await connection_cli([*base, "--secret", f"api_token={settings['api_token']}"], db, tmp_path)
        assert code == 0 and "saved" in out, out
        assert settings["api_token"] not in out
        code, out = await connection_cli(["sync", "Main PSA"], db, tmp_path)
        assert code == 0 and json.loads(out)["tickets_changed"] == 40, out

        code, out = await connection_cli(["unmapped", "Main PSA", "--json"], db, tmp_path)
        unmapped = json.loads(out)
        assert [(u["field"], u["value"]) for u in unmapped] == [("status", "Scheduled")], out
        code, out = await connection_cli(["map", "Main PSA", "--status", "Scheduled=waiting"], db, tmp_path)
        assert code == 0 and json.loads(out)["status"]["Scheduled"] == "waiting", out
