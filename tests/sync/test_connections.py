"""Connections over the API: tested before saving, secrets only in the vault, mappings,
client links and the unmapped report."""

from __future__ import annotations

from typing import Any

import httpx

from mspclaw.connectors.superops.simulator import SuperOpsSimulator
from tests.conftest import TenantFixture
from tests.sync.conftest import serve, sim_settings


async def test_connection_saved_only_after_vendor_accepts_it(
    http: httpx.AsyncClient, tenant_a: TenantFixture, served: list[Any]
) -> None:
    sim = SuperOpsSimulator("demo", tickets=5)
    server = serve(served, sim.app())
    settings = sim_settings(sim, server.url, "superops")
    bad = {**settings, "api_token": "wrong-token-123456"}
    refused = await http.post(
        "/api/v1/connections",
        json={"connector": "superops", "name": "SO", "config": bad},
        headers=tenant_a.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["error"] == "connection_test_failed"
    assert "credentials" in refused.json()["message"]
    assert (await http.get("/api/v1/connections", headers=tenant_a.headers)).json() == []

    incomplete = await http.post(
        "/api/v1/connections",
        json={"connector": "superops", "name": "SO", "config": {"api_url": settings["api_url"]}},
        headers=tenant_a.headers,
    )
    assert incomplete.status_code == 422
    assert "api_token" in incomplete.json()["message"]

    created = await http.post(
        "/api/v1/connections",
        json={"connector": "superops", "name": "SO", "config": settings},
        headers=tenant_a.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert settings["api_token"] not in created.text
    assert "api_token" not in body["config"] and body["secret_fields"] == ["api_token"]
    assert body["webhook_path"].startswith(f"/hooks/{body['id']}/")
    listed = await http.get("/api/v1/connections", headers=tenant_a.headers)
    assert settings["api_token"] not in listed.text
    assert listed.json()[0]["webhook_path"] is None
    assert body["mappings"]["status"]["Waiting on Customer"] == "waiting"
