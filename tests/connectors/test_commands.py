"""``mspclaw simulate`` and ``mspclaw connectors list`` through their typer commands."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from mspclaw.connectors.commands import app
from mspclaw.connectors.simulator import free_port


def test_connectors_list_reports_absent_capabilities_with_reasons() -> None:
    result = CliRunner().invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["superops"]["capabilities"]["webhooks"] is False
    assert "no webhook" in rows["superops"]["absent"]["webhooks"]
    assert rows["ninjaone"]["kind"] == "rmm" and rows["connectwise"]["simulator"]


def test_simulate_rejects_unknown_faults() -> None:
    result = CliRunner().invoke(app, ["simulate", "superops", "--faults", "explode"])
    assert result.exit_code != 0 and "unknown fault" in result.output


def test_simulate_serves_a_sandbox_a_plain_client_can_use() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mspclaw.connectors.commands",
            "simulate",
            "connectwise",
            "--port",
            str(port),
            "--seed",
            "demo",
            "--tickets",
            "40",
            "--faults",
            "429x1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                state = httpx.get(f"{url}/_sim/state").json()
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        creds = state["credentials"]
        assert state["tickets"] == 40
        auth = (f"{creds['company_id']}+{creds['public_key']}", creds["private_key"])
        api = f"{url}/v4_6_release/apis/3.0/service/tickets"
        first = httpx.get(api, auth=auth, headers={"clientId": creds["client_id"]})
        assert first.status_code == 429 and first.headers["Retry-After"]  # --faults 429x1
        second = httpx.get(api, auth=auth, headers={"clientId": creds["client_id"]})
        assert second.status_code == 200 and len(second.json()) == 25  # CW default pageSize
    finally:
        proc.terminate()
        output = proc.communicate(timeout=10)[0]
    assert "connectwise simulator listening on" in output and creds["private_key"] in output
