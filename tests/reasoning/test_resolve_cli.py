"""``mspclaw resolve`` through the real command in a child process against the test database:
the plan shown (masked arguments, approvals and why), the run it starts as a named technician,
the audit trail, and errors a tired technician can act on."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

import httpx
import pytest

from mspclaw.sync import polling
from tests.conftest import TEST_MASTER_KEY, TenantFixture
from tests.foundation.test_vault_and_audit import run_cli
from tests.loop.test_instructions import _ticket
from tests.reasoning.conftest import Env
from tests.sync.conftest import CONNECTOR_OPTIONS, add_connection, sim_settings

INSTRUCTION = "check disk space then clean up temp files"


async def new_ticket(env: Env, subject: str) -> str:
    """A synced ticket of a client whose policy runs only read tools unattended."""
    sim, url = env.psa
    return await _ticket(env.http, env.tenant, env.rt, sim, url, subject, {"unattended_risks": ["read"]})


async def resolve(env: Env, *args: str) -> tuple[int, str]:
    """``mspclaw resolve ARGS --tenant …`` in a child process."""
    return await run_cli(["resolve", *args, "--tenant", env.tenant.slug], env.db.url, env.data_dir)


async def runs(env: Env) -> int:
    return int((await env.http.get("/api/v1/runs", headers=env.tenant.headers)).json()["total"])


@pytest.fixture(autouse=True)
def _master_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MSPCLAW_MASTER_KEY", TEST_MASTER_KEY)  # the child reads the same vault as the API


async def run_cli_tty(args: list[str], database_url: str, data_dir: Path, answer: str) -> tuple[int, str]:
    """Run ``mspclaw`` on a pseudo-terminal, answering its confirmation prompt with ``answer``."""
    master, child_end = os.openpty()
    env = {**os.environ, "MSPCLAW_DATABASE_URL": database_url, "MSPCLAW_DATA_DIR": str(data_dir)}
    env.update({"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mspclaw.cli", *args, env=env, stdin=child_end, stdout=child_end, stderr=child_end
    )
    os.close(child_end)
    output = b""
    answered = False
    while True:
        try:
            chunk = await asyncio.to_thread(os.read, master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
        if not answered and b"Start this run?" in output:
            os.write(master, answer.encode() + b"\n")
            answered = True
    os.close(master)
    code = await proc.wait()
    return code, re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output.decode(errors="replace"))


async def _number(http: httpx.AsyncClient, tenant: TenantFixture, ticket_id: str) -> str:
    ticket = (await http.get(f"/api/v1/tickets/{ticket_id}", headers=tenant.headers)).json()
    return str(ticket.get("number") or ticket["external_id"])


async def test_resolve_shows_the_plan_then_starts_it_as_the_technician(env: Env) -> None:
    ticket_id = await new_ticket(env, "PC slow")
    number = await _number(env.http, env.tenant, ticket_id)
    technician = env.tenant.owner_email

    code, out = await resolve(env, number, INSTRUCTION, "--dry-run", "--as", technician)
    assert code == 0, out
    assert re.search(r"1\. disk_usage .*\n\s+runs unattended", out), out
    assert re.search(r"2\. cleanup_temp .*\n\s+needs approval: policy does not allow change tools unattended", out)
    assert "Nothing was started (dry run)" in out
    assert await runs(env) == 0

    # no terminal and no --yes: a script that forgot --yes is told, and nothing starts
    code, out = await resolve(env, number, INSTRUCTION, "--as", technician)
    assert code == 1 and "add --yes" in out, out
    assert await runs(env) == 0

    code, out = await resolve(env, ticket_id, INSTRUCTION, "--yes", "--as", technician)
    assert code == 0, out
    run_id = re.search(r"Run ([0-9a-f-]{36}): awaiting approval", out)
    assert run_id, out
    assert "disk_usage: succeeded" in out  # the read step ran (on this machine's local endpoint backend)
    assert "waiting for approval of cleanup_temp" in out and "mspclaw run approve" in out
    run = (await env.http.get(f"/api/v1/runs/{run_id.group(1)}", headers=env.tenant.headers)).json()
    assert run["status"] == "awaiting_approval" and run["requested_by_name"] == technician
    assert [s["tool"] for s in run["steps"]] == ["disk_usage"]
    events = (await env.http.get("/api/v1/audit/events?action=instruction", headers=env.tenant.headers)).json()
    assert [e["detail"]["dry_run"] for e in events["items"]] == [False, False, True]  # newest first; each audited
    assert {e["actor_name"] for e in events["items"]} == {technician}
    assert events["items"][0]["detail"]["run_id"] == run_id.group(1) and events["items"][1]["detail"]["run_id"] is None


async def test_resolve_asks_before_starting_at_a_terminal(env: Env) -> None:
    ticket_id = await new_ticket(env, "Disk full")
    args = ["resolve", ticket_id, "check disk space", "--tenant", env.tenant.slug, "--as", env.tenant.owner_email]
    code, out = await run_cli_tty(args, env.db.url, env.data_dir, "n")
    assert code == 0 and "1. disk_usage" in out and "Start this run?" in out and "Not started." in out, out
    assert await runs(env) == 0
    code, out = await run_cli_tty(args, env.db.url, env.data_dir, "y")
    assert code == 0 and re.search(r"Run [0-9a-f-]{36}: succeeded", out), out
    assert "disk_usage: succeeded" in out


async def test_resolve_json_output(env: Env) -> None:
    ticket_id = await new_ticket(env, "Spooler stuck")
    code, out = await resolve(env, ticket_id, "post internal note saying looked at it", "--dry-run", "--json")
    assert code == 0, out
    body = json.loads(out)
    assert body["plan"]["engine"] == "offline" and body["run"] is None
    assert body["plan"]["plan"]["steps"][0]["tool"] == "post_ticket_note"
    assert body["preview"]["gate"][0]["approval_reasons"] == ["policy does not allow change tools unattended"]

    # the human view masks what a tool declares sensitive (the message of a text to the user)
    code, out = await resolve(env, ticket_id, "text them saying your PIN is 4711", "--dry-run")
    assert code == 0 and '1. notify_user {"channel": "sms", "message": "***redacted***"}' in out, out


async def test_resolve_errors_a_technician_can_act_on(env: Env) -> None:
    ticket_id = await new_ticket(env, "Printer offline")
    number = await _number(env.http, env.tenant, ticket_id)

    code, out = await resolve(env, "998877", "unlock account")
    assert code == 1 and "no ticket '998877'" in out and "Traceback" not in out, out

    code, out = await resolve(env, number, "make me a coffee")
    assert code == 1 and "I don't understand 'make me a coffee'" in out and "Traceback" not in out, out
    assert "try e.g." in out
    refused = await env.http.get("/api/v1/audit/events?action=instruction.refused", headers=env.tenant.headers)
    assert [e["detail"]["instruction"] for e in refused.json()["items"]] == ["make me a coffee"]  # still on record

    # the same PSA ticket number through a second connection: refused, with the ids to choose from
    sim, url = env.psa
    second = await add_connection(env.rt, env.tenant.id, "connectwise", sim_settings(sim, url, "connectwise"), name="2")
    await polling.poll_connection(env.rt, second.id, **CONNECTOR_OPTIONS)
    code, out = await resolve(env, number, "check disk space")
    assert code == 1 and "matches 2 tickets" in out and ticket_id in out, out
    assert await runs(env) == 0
