"""Success statistics over stored runs, approvals and feedback: per playbook and per client,
through ``GET /api/v1/stats`` (permission-checked, tenant-scoped, ``since``) and the real
``mspclaw stats`` command in a subprocess (table and ``--json``)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from subprocess import PIPE
from typing import Any

import httpx

from mspclaw.database.base import utcnow
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.loop.models import RunFeedback
from mspclaw.runs.models import Approval, Run
from mspclaw.tenancy.models import Client
from tests.conftest import TenantFixture

NOW = utcnow().replace(microsecond=0)


def _run(client: Client, playbook: str, status: str, by: str, created: datetime, minutes: float | None) -> Run:
    return Run(
        client_id=client.id,
        playbook_id=playbook,
        playbook_version="1.0.0",
        content_hash="sha256:test",
        playbook={"title": playbook.replace("-", " ").title()},
        status=status,
        requested_by_type=by,
        created_at=created,
        finished_at=created + timedelta(minutes=minutes) if minutes is not None else None,
    )


async def _seed(db: Database, tenant: TenantFixture) -> dict[str, Run]:
    """Five runs over two playbooks and two clients, with approvals and feedback."""
    async with tenant_session(db.sessions, tenant.id) as session, session.begin():
        contoso, fabrikam = Client(name="Contoso"), Client(name="Fabrikam")
        session.add_all([contoso, fabrikam])
        await session.flush()
        t0 = NOW - timedelta(days=2)
        runs = {
            "ok_auto": _run(contoso, "printer-queue", "succeeded", "automation", t0, 10),
            "failed": _run(contoso, "printer-queue", "failed", "automation", t0, 3),
            "ok_approved": _run(contoso, "printer-queue", "succeeded", "technician", t0, 30),
            "disk": _run(fabrikam, "low-disk-space", "succeeded", "automation", t0, 20),
            "old_open": _run(
                fabrikam, "low-disk-space", "awaiting_approval", "automation", NOW - timedelta(days=40), None
            ),
        }
        session.add_all(runs.values())
        await session.flush()
        session.add(
            Approval(
                run_id=runs["ok_approved"].id,
                phase="step",
                step_id="restart_spooler",
                tool="restart_print_spooler",
                args_hash="x",
                risk="change",
                status="approved",
                requested_at=t0,
                expires_at=t0 + timedelta(minutes=5),
            )
        )
        for run, answer, source in (
            (runs["ok_auto"], "yes", "link"),
            (runs["ok_approved"], "no", "agent"),
            (runs["ok_approved"], "partial", "technician"),
        ):
            session.add(RunFeedback(run_id=run.id, playbook_id=run.playbook_id, answer=answer, source=source))
    return runs


def _row(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return next(r for r in rows if r["key"] == key or r["name"] == key)


async def test_stats_per_playbook_and_client(
    db: Database, http: httpx.AsyncClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    await _seed(db, tenant_a)
    await _seed(db, tenant_b)  # another tenant's runs never count

    since = (NOW - timedelta(days=7)).isoformat()
    report = (await http.get("/api/v1/stats", headers=tenant_a.headers, params={"since": since})).json()
    printer = _row(report["playbooks"], "printer-queue")
    assert {k: printer[k] for k in ("runs", "succeeded", "failed", "open", "auto", "manual", "approved")} == {
        "runs": 3,
        "succeeded": 2,
        "failed": 1,
        "open": 0,
        "auto": 2,
        "manual": 1,
        "approved": 1,
    }
    assert printer["success_rate"] == 0.6667
    assert (printer["feedback_yes"], printer["feedback_no"], printer["feedback_partial"]) == (1, 1, 1)
    assert printer["median_minutes_to_resolution"] == 20.0  # of 10 and 30 minutes
    assert printer["name"] == "Printer Queue"
    assert _row(report["clients"], "Contoso")["runs"] == 3
    fabrikam = _row(report["clients"], "Fabrikam")
    assert (fabrikam["runs"], fabrikam["success_rate"], fabrikam["median_minutes_to_resolution"]) == (1, 1.0, 20.0)
    assert report["total"]["runs"] == 4 and report["total"]["succeeded"] == 3

    everything = (await http.get("/api/v1/stats", headers=tenant_a.headers)).json()
    assert everything["total"]["runs"] == 5 and everything["total"]["open"] == 1
    assert _row(everything["playbooks"], "low-disk-space")["success_rate"] == 1.0  # open runs are not failures

    bad = await http.get("/api/v1/stats", headers=tenant_a.headers, params={"since": "last tuesday"})
    assert bad.status_code == 422 and bad.json()["error"]
    narrow = (
        await http.post(
            "/api/v1/api-keys", headers=tenant_a.headers, json={"name": "tickets", "scopes": ["tickets.read"]}
        )
    ).json()["key"]
    denied = await http.get("/api/v1/stats", headers={"Authorization": f"Bearer {narrow}"})
    assert denied.status_code == 403 and denied.json()["error"] == "permission_denied"
    assert (await http.get("/api/v1/stats")).status_code == 401


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mspclaw.cli", "stats", *args, env=env, stdout=PIPE, stderr=PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return int(proc.returncode or 0), out.decode(), err.decode()


async def test_stats_command(db: Database, database_url: str, tmp_path: Path, tenant_a: TenantFixture) -> None:
    await _seed(db, tenant_a)
    env = {**os.environ, "MSPCLAW_DATABASE_URL": database_url, "MSPCLAW_DATA_DIR": str(tmp_path), "COLUMNS": "250"}

    code, out, err = await _cli(env, "--tenant", tenant_a.slug, "--json", "--since", "7d")
    assert code == 0, err
    report = json.loads(out)
    assert _row(report["playbooks"], "printer-queue")["success_rate"] == 0.6667
    assert report["total"]["runs"] == 4
    assert str(uuid.UUID(report["clients"][0]["key"]))  # clients are keyed by id

    code, out, err = await _cli(env, "--tenant", tenant_a.slug)
    assert code == 0, err
    assert "Playbooks (all time)" in out and "Clients (all time)" in out
    assert "Printer Queue" in out and "Fabrikam" in out and "0.6667" in out

    code, out, err = await _cli(env, "--tenant", tenant_a.slug, "--since", "soon")
    assert code != 0 and "neither a duration" in out + err
