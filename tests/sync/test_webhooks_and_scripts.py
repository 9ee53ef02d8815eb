"""Webhook mode (signature, replay, unguessable path, raw storage, async processing) and
command mode (script runs tracked to a result) through the public API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from sqlalchemy import select, text

from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.ninjaone.simulator import NinjaOneSimulator
from mspclaw.connectors.simulator import ServedApp
from mspclaw.connectors.superops.simulator import SuperOpsSimulator
from mspclaw.database.session import tenant_session
from mspclaw.sync import scripts
from mspclaw.sync.models import WebhookDelivery
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.sync.conftest import run_jobs, sim_settings


@pytest.fixture
def connectwise() -> Iterator[tuple[ConnectWiseSimulator, str]]:
    sim = ConnectWiseSimulator("hooks", tickets=20, faults="limit=0")
    with ServedApp(sim.app()) as server:
        yield sim, server.url


async def _create(http: httpx.AsyncClient, tenant: TenantFixture, connector: str, settings: dict[str, Any]) -> Any:
    response = await http.post(
        "/api/v1/connections",
        json={"connector": connector, "name": connector, "config": settings},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_webhook_verified_stored_deduped_and_processed(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    connectwise: tuple[ConnectWiseSimulator, str],
) -> None:
    sim, url = connectwise
    connection = await _create(http, tenant_a, "connectwise", sim_settings(sim, url, "connectwise"))
    hook = connection["webhook_path"]
    tid = str(next(iter(sim.tickets)))
    async with httpx.AsyncClient(base_url=url) as admin:  # a fresh change (old ones are "stale")
        (await admin.patch(f"/_sim/tickets/{tid}", json={"subject": "Printer on fire"})).raise_for_status()
    headers, body = sim.webhook_sample(tid, "updated")

    accepted = await http.post(hook, content=body, headers=headers)
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"status": "accepted", "events": 1}
    replayed = await http.post(hook, content=body, headers=headers)
    assert replayed.status_code == 200 and replayed.json() == {"status": "duplicate"}

    forged = await http.post(hook, content=body.replace(b'"updated"', b'"deleted"'), headers=headers)
    assert forged.status_code == 401 and forged.json()["error"] == "webhook_forged"
    wrong_path = await http.post(hook.rsplit("/", 1)[0] + "/guessed-path", content=body, headers=headers)
    assert wrong_path.status_code == 404
    other_tenant_view = await http.get(f"/api/v1/connections/{connection['id']}", headers={"Authorization": "Bearer x"})
    assert other_tenant_view.status_code == 401

    async with tenant_session(rt.db.sessions, tenant_a.id) as session:
        stored = list(await session.scalars(select(WebhookDelivery)))
    assert len(stored) == 1 and stored[0].body == body and stored[0].processed_at is None

    await run_jobs(rt, queues=["sync"])
    async with tenant_session(rt.db.sessions, tenant_a.id) as session:
        delivery = await session.scalar(select(WebhookDelivery))
    assert delivery is not None and delivery.processed_at is not None and delivery.outcome == "refreshed"
    mirrored = (await http.get("/api/v1/tickets", headers=tenant_a.headers)).json()
    assert [t["external_id"] for t in mirrored] == [tid]
    assert mirrored[0]["subject"] == json.loads(json.loads(body)["Entity"])["summary"]
    created = [
        e["payload"]["external_id"]
        for e in (await http.get("/api/v1/events?kind=ticket.created", headers=tenant_a.headers)).json()
    ]
    assert created == [tid]


async def test_concurrent_deliveries_group_committed_each_once(
    rt: SyncRuntime, http: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    """A burst of deliveries (some sent twice at the same moment) is written in shared
    transactions: every distinct activity is stored with exactly one job, each copy of a
    twice-sent one is answered once as accepted and once as a duplicate."""
    sim = NinjaOneSimulator("burst", tickets=0)
    with ServedApp(sim.app()) as server:
        connection = await _create(http, tenant_a, "ninjaone", sim_settings(sim, server.url, "ninjaone"))
    hook = connection["webhook_path"]
    device = str(next(iter(sim.devices)))
    deliveries = [sim.webhook_sample(device, "triggered") for _ in range(40)]
    sent = deliveries + deliveries[:10]  # ten of them delivered twice, concurrently
    answers = await asyncio.gather(*(http.post(hook, content=body, headers=headers) for headers, body in sent))

    by_body: dict[bytes, list[int]] = {}
    for (_, body), answer in zip(sent, answers, strict=True):
        by_body.setdefault(body, []).append(answer.status_code)
    assert all(sorted(codes) == ([200, 202] if len(codes) == 2 else [202]) for codes in by_body.values()), by_body
    async with tenant_session(rt.db.sessions, tenant_a.id) as session:
        stored = list(await session.scalars(select(WebhookDelivery)))
        jobs = (
            await session.execute(
                text("SELECT args->>'delivery_id' FROM procrastinate_jobs WHERE task_name = 'mspclaw.sync.delivery'")
            )
        ).scalars()
        job_deliveries = sorted(jobs)
    assert sorted(d.body for d in stored) == sorted(body for _, body in deliveries)
    assert job_deliveries == sorted(str(d.id) for d in stored)  # one job per stored delivery, no more


async def test_webhook_endpoint_follows_connection_changes_at_once(
    rt: SyncRuntime, http: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    """The route caches connections, but a change through the API applies to the next delivery."""
    sim = NinjaOneSimulator("toggle", tickets=0)
    with ServedApp(sim.app()) as server:
        connection = await _create(http, tenant_a, "ninjaone", sim_settings(sim, server.url, "ninjaone"))
    hook, device = connection["webhook_path"], str(next(iter(sim.devices)))
    headers, body = sim.webhook_sample(device, "triggered")
    assert (await http.post(hook, content=body, headers=headers)).status_code == 202  # now cached

    url = f"/api/v1/connections/{connection['id']}"
    assert (await http.patch(url, json={"enabled": False}, headers=tenant_a.headers)).status_code == 200
    headers, body = sim.webhook_sample(device, "triggered")
    assert (await http.post(hook, content=body, headers=headers)).status_code == 404
    assert (await http.patch(url, json={"enabled": True}, headers=tenant_a.headers)).status_code == 200
    assert (await http.post(hook, content=body, headers=headers)).status_code == 202
    assert (await http.delete(url, headers=tenant_a.headers)).status_code == 204
    headers, body = sim.webhook_sample(device, "triggered")
    assert (await http.post(hook, content=body, headers=headers)).status_code == 404


async def test_webhook_access_log_keeps_errors_and_samples_successes(
    rt: SyncRuntime, http: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    """Accepted deliveries are counted in the metrics and sampled in the access log (one in
    QUIET_SAMPLE); rejected ones are always logged."""
    from mspclaw.api.observability import QUIET_SAMPLE

    sim = NinjaOneSimulator("logs", tickets=0)
    with ServedApp(sim.app()) as server:
        connection = await _create(http, tenant_a, "ninjaone", sim_settings(sim, server.url, "ninjaone"))
    hook, device = connection["webhook_path"], str(next(iter(sim.devices)))
    lines: list[dict[str, Any]] = []
    structlog.configure(processors=[lambda _l, _m, event: lines.append(dict(event)) or ""])
    try:
        for _ in range(QUIET_SAMPLE + 1):
            headers, body = sim.webhook_sample(device, "triggered")
            assert (await http.post(hook, content=body, headers=headers)).status_code == 202
        headers, body = sim.webhook_sample(device, "triggered")
        forged = await http.post(hook, content=body, headers={**headers, "X-MSPclaw-Webhook-Secret": "guess"})
        assert forged.status_code == 401
    finally:
        structlog.reset_defaults()
    access = [line for line in lines if line.get("event") == "http_request" and line["route"].startswith("/hooks/")]
    accepted = [line for line in access if line["status"] == 202]
    assert 1 <= len(accepted) <= 2 and all(line["sampled"] == QUIET_SAMPLE for line in accepted)
    assert [line["status"] for line in access if line["status"] != 202] == [401]
    metrics = (await http.get("/metrics")).text
    assert 'route="/hooks/{connection_id}/{secret_path}",status="202"' in metrics


async def test_polled_connector_has_no_webhook_endpoint(
    rt: SyncRuntime, http: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    sim = SuperOpsSimulator("hooks", tickets=3, faults="limit=0")
    with ServedApp(sim.app()) as server:
        connection = await _create(http, tenant_a, "superops", sim_settings(sim, server.url, "superops"))
        response = await http.post(connection["webhook_path"], content=b"{}")
    assert response.status_code == 404 and "polled" in response.json()["message"]


async def test_script_run_tracked_until_result(
    rt: SyncRuntime, http: httpx.AsyncClient, tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scripts, "POLL_EVERY", scripts.POLL_EVERY / 30)
    sim = SuperOpsSimulator("scripts", tickets=3, faults="limit=0")
    with ServedApp(sim.app()) as server:
        connection = await _create(http, tenant_a, "superops", sim_settings(sim, server.url, "superops"))
        script = next(s for s in sim.scripts.values() if s["_succeeds"])
        device = next(iter(sim.assets))
        started = await http.post(
            f"/api/v1/connections/{connection['id']}/scripts",
            json={"device_external_id": device, "script": script["scriptId"], "args": {"Drive": "C:"}},
            headers=tenant_a.headers,
        )
        assert started.status_code == 201, started.text
        run_id = started.json()["id"]
        assert started.json()["status"] in ("pending", "running")
        for _ in range(100):
            await run_jobs(rt, queues=["sync"])
            run = (await http.get(f"/api/v1/script-runs/{run_id}", headers=tenant_a.headers)).json()
            if run["finished_at"]:
                break
            await asyncio.sleep(0.2)
    assert run["status"] == "succeeded", run
    finished = (await http.get("/api/v1/events?kind=script.finished", headers=tenant_a.headers)).json()
    assert [e["subject_id"] for e in finished] == [run_id]
