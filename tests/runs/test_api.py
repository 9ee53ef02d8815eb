"""The run API over real HTTP: playbooks, dry-run, start, question, approval round-trip,
cancel, audit trail, and other tenants' runs, approvals and questions answering 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mspclaw.database.core import Database
from mspclaw.runs import runtime
from mspclaw.tools import BackendRouter
from tests.conftest import TenantFixture
from tests.runs.helpers import OPEN_POLICY, RecordingBackend, run_worker


@pytest.fixture
async def endpoint(http: httpx.AsyncClient, db: Database) -> AsyncIterator[RecordingBackend]:
    """Installed after the app's lifespan (which installs the default runtime)."""
    backend = RecordingBackend("endpoint", outputs={"installed_software": {"count": 0, "items": []}})
    runtime.install(runtime.RunRuntime(db.sessions, BackendRouter(backend)))
    yield backend


async def _client_and_device(http: httpx.AsyncClient, t: TenantFixture, policy: dict[str, Any]) -> tuple[str, str]:
    client = (await http.post("/api/v1/clients", headers=t.headers, json={"name": "Acme", "policy": policy})).json()
    device = (
        await http.post(
            "/api/v1/devices", headers=t.headers, json={"client_id": client["id"], "hostname": "ws-1", "os": "linux"}
        )
    ).json()
    return client["id"], device["id"]


async def _start_install(http: httpx.AsyncClient, t: TenantFixture, db: Database) -> dict[str, Any]:
    client_id, device_id = await _client_and_device(http, t, OPEN_POLICY)
    response = await http.post(
        "/api/v1/runs",
        headers=t.headers,
        json={"playbook_id": "software-install", "client_id": client_id, "device_id": device_id},
    )
    assert response.status_code == 201, response.text
    await run_worker(db)
    run = (await http.get(f"/api/v1/runs/{response.json()['id']}", headers=t.headers)).json()
    assert run["status"] == "awaiting_input", run
    return run


async def test_playbooks_and_dry_run(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    listed = (await http.get("/api/v1/playbooks", headers=tenant_a.headers)).json()
    assert len(listed) == 15 and "low-disk-space" in {p["id"] for p in listed}
    one = await http.get("/api/v1/playbooks/low-disk-space", headers=tenant_a.headers)
    assert one.json()["steps"][1]["tool"] == "cleanup_temp"
    client_id, device_id = await _client_and_device(http, tenant_a, {})
    dry = await http.post(
        "/api/v1/playbooks/low-disk-space/dry-run",
        headers=tenant_a.headers,
        json={"client_id": client_id, "device_id": device_id},
    )
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert [s["id"] for s in body["plan"]["steps"] if s["status"] == "run"] == ["before", "cleanup", "after"]
    verdicts = {g["step"]: g["verdict"] for g in body["gate"]}
    assert verdicts == {"before": "allow", "cleanup": "needs_approval", "after": "allow"}
    assert (await http.get("/api/v1/runs", headers=tenant_a.headers)).json()["total"] == 0  # no side effects


async def test_client_settings_feed_playbook_inputs(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    """Inputs declared `source: client` come from the client record's stack.settings."""
    bare = (await http.post("/api/v1/clients", headers=tenant_a.headers, json={"name": "Bare"})).json()
    missing = await http.post(
        "/api/v1/playbooks/vpn-connectivity/dry-run", headers=tenant_a.headers, json={"client_id": bare["id"]}
    )
    assert missing.status_code == 422 and "vpn_gateway" in missing.text, missing.text

    settings = {"vpn_gateway": "vpn.contoso.example", "vpn_port": 10443, "cleanup_paths": ["/tmp/acme-cache"]}
    created = await http.post(
        "/api/v1/clients", headers=tenant_a.headers, json={"name": "Contoso", "stack": {"settings": settings}}
    )
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]

    def args(body: dict[str, Any], step: str) -> dict[str, Any]:
        return next(s["args"] for s in body["plan"]["steps"] if s["id"] == step)

    dry = await http.post(
        "/api/v1/playbooks/vpn-connectivity/dry-run", headers=tenant_a.headers, json={"client_id": client_id}
    )
    assert dry.status_code == 200, dry.text
    assert args(dry.json(), "resolve_gateway") == {"name": "vpn.contoso.example"}
    assert args(dry.json(), "reach_gateway") == {"host": "vpn.contoso.example", "port": 10443}
    disk = await http.post(
        "/api/v1/playbooks/low-disk-space/dry-run", headers=tenant_a.headers, json={"client_id": client_id}
    )
    assert args(disk.json(), "cleanup") == {"older_than_hours": 72, "paths": ["/tmp/acme-cache"]}
    # a value given in the request's context wins over the stored one, for that dry-run only
    override = await http.post(
        "/api/v1/playbooks/vpn-connectivity/dry-run",
        headers=tenant_a.headers,
        json={"client_id": client_id, "context": {"client": {"vpn_gateway": "vpn2.contoso.example"}}},
    )
    assert args(override.json(), "resolve_gateway") == {"name": "vpn2.contoso.example"}

    for bad in ({"VPN Gateway": "x"}, {"id": "x"}, {"vpn_gateway": {"nested": 1}}):
        refused = await http.patch(
            f"/api/v1/clients/{client_id}", headers=tenant_a.headers, json={"stack": {"settings": bad}}
        )
        assert refused.status_code == 422 and refused.json()["error"] == "invalid_input", refused.text
        assert "stack.settings" in refused.json()["message"]


async def test_question_and_approval_round_trip_over_http(
    http: httpx.AsyncClient, db: Database, tenant_a: TenantFixture, endpoint: RecordingBackend
) -> None:
    run = await _start_install(http, tenant_a, db)
    [question] = run["questions"]
    answered = await http.post(
        f"/api/v1/questions/{question['id']}/answer", headers=tenant_a.headers, json={"answer": "vlc"}
    )
    assert answered.status_code == 200, answered.text
    again = await http.post(
        f"/api/v1/questions/{question['id']}/answer", headers=tenant_a.headers, json={"answer": "htop"}
    )
    assert again.status_code == 409
    await run_worker(db)
    pending = (await http.get("/api/v1/approvals", headers=tenant_a.headers)).json()
    assert [(a["step_id"], a["tool"], a["args"]) for a in pending] == [
        ("install", "install_package", {"package": "vlc"})
    ]
    decided = await http.post(
        f"/api/v1/approvals/{pending[0]['id']}/approve", headers=tenant_a.headers, json={"reason": "user asked"}
    )
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    await run_worker(db)
    done = (await http.get(f"/api/v1/runs/{run['id']}", headers=tenant_a.headers)).json()
    assert done["status"] == "succeeded", done
    assert [(s["step_id"], s["status"]) for s in done["steps"]] == [
        ("check", "succeeded"),
        ("install", "succeeded"),
        ("verify", "succeeded"),
    ]
    assert done["steps"][1]["approver"] and done["steps"][1]["idempotency_key"].endswith(":step:install")
    assert [c.tool for c in endpoint.calls] == ["installed_software", "install_package", "installed_software"]
    events = (await http.get("/api/v1/audit/events?limit=200", headers=tenant_a.headers)).json()["items"]
    actions = {e["action"] for e in events}
    assert {
        "run.started",
        "run.question_asked",
        "run.question_answered",
        "run.approval_requested",
        "run.approval_approved",
        "run.step_executed",
        "run.finished",
    } <= actions


async def test_cancel_over_http(
    http: httpx.AsyncClient, db: Database, tenant_a: TenantFixture, endpoint: RecordingBackend
) -> None:
    run = await _start_install(http, tenant_a, db)
    cancelled = await http.post(f"/api/v1/runs/{run['id']}/cancel", headers=tenant_a.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert (await http.post(f"/api/v1/runs/{run['id']}/cancel", headers=tenant_a.headers)).status_code == 409
    late = await http.post(
        f"/api/v1/questions/{run['questions'][0]['id']}/answer", headers=tenant_a.headers, json={"answer": "vlc"}
    )
    assert late.status_code == 409
    await run_worker(db)
    assert endpoint.calls == []


async def test_other_tenants_runs_approvals_and_questions_are_404(
    http: httpx.AsyncClient, db: Database, tenant_a: TenantFixture, tenant_b: TenantFixture, endpoint: RecordingBackend
) -> None:
    b_run = await _start_install(http, tenant_b, db)
    b_question = b_run["questions"][0]["id"]
    probes = [
        ("GET", f"/api/v1/runs/{b_run['id']}", None),
        ("POST", f"/api/v1/runs/{b_run['id']}/cancel", None),
        ("POST", f"/api/v1/questions/{b_question}/answer", {"answer": "vlc"}),
        ("POST", f"/api/v1/approvals/{b_question}/approve", {}),
    ]
    for method, path, body in probes:
        response = await http.request(method, path, headers=tenant_a.headers, json=body)
        assert response.status_code == 404 and response.json()["error"] == "not_found", (path, response.text)
    assert (await http.get("/api/v1/runs", headers=tenant_a.headers)).json()["total"] == 0
    client_b = b_run["client_id"]
    started = await http.post(
        "/api/v1/runs", headers=tenant_a.headers, json={"playbook_id": "software-install", "client_id": client_b}
    )
    assert started.status_code == 404
    still = (await http.get(f"/api/v1/runs/{b_run['id']}", headers=tenant_b.headers)).json()
    assert still["status"] == "awaiting_input" and still["questions"][0]["status"] == "pending"
