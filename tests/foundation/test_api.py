"""The API surface: health, problem responses, validation, CRUD, pagination, metrics."""

from __future__ import annotations

import httpx

from tests.conftest import TenantFixture


async def test_health_ready_and_metrics(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json()["status"] == "ok"
    assert (await http.get("/readyz")).json() == {"status": "ready"}
    await http.get("/healthz")
    metrics = await http.get("/metrics")
    assert metrics.status_code == 200
    assert "mspclaw_http_requests_total" in metrics.text


async def test_unauthenticated_request_gets_typed_problem_with_request_id(
    http: httpx.AsyncClient,
) -> None:
    response = await http.get("/api/v1/clients", headers={"X-Request-ID": "req-123"})
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "unauthenticated"
    assert "API key" in body["message"]
    assert body["request_id"] == "req-123" == response.headers["X-Request-ID"]


async def test_bad_api_key_is_rejected(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    forged = tenant_a.api_key[:-4] + "AAAA"
    response = await http.get("/api/v1/clients", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    response = await http.get("/api/v1/clients", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401


async def test_client_crud_with_policy_validation(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    h = tenant_a.headers
    created = await http.post(
        "/api/v1/clients",
        headers=h,
        json={
            "name": "Contoso",
            "domain": "contoso.com",
            "policy": {
                "auto_run": True,
                "vip_contacts": ["CEO@contoso.com"],
                "business_hours": {"timezone": "Europe/Berlin", "start": "07:00", "end": "19:00"},
            },
            "stack": {"identity_provider": "entra", "entra_tenant_id": "abc"},
        },
    )
    assert created.status_code == 201, created.text
    client = created.json()
    assert client["policy"]["vip_contacts"] == ["ceo@contoso.com"]
    assert client["policy"]["require_verification"] is True  # safe default

    bad = await http.post(
        "/api/v1/clients",
        headers=h,
        json={"name": "Fabrikam", "policy": {"business_hours": {"timezone": "Mars/Olympus"}}},
    )
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_input"
    assert "policy.business_hours.timezone" in bad.json()["message"]
    assert "Mars/Olympus" in bad.json()["message"]

    dup = await http.post("/api/v1/clients", headers=h, json={"name": "Contoso"})
    assert dup.status_code == 409
    assert dup.json()["error"] == "conflict"

    patched = await http.patch(f"/api/v1/clients/{client['id']}", headers=h, json={"domain": "contoso.net"})
    assert patched.status_code == 200 and patched.json()["domain"] == "contoso.net"
    assert (await http.get(f"/api/v1/clients/{client['id']}", headers=h)).json()["domain"] == "contoso.net"
    assert (await http.delete(f"/api/v1/clients/{client['id']}", headers=h)).status_code == 204
    assert (await http.get(f"/api/v1/clients/{client['id']}", headers=h)).status_code == 404


async def test_nothing_half_written_when_a_nested_reference_is_wrong(
    http: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    h = tenant_a.headers
    c1 = (await http.post("/api/v1/clients", headers=h, json={"name": "One"})).json()
    c2 = (await http.post("/api/v1/clients", headers=h, json={"name": "Two"})).json()
    site = (await http.post("/api/v1/sites", headers=h, json={"client_id": c1["id"], "name": "HQ"})).json()
    wrong = await http.post(
        "/api/v1/contacts",
        headers=h,
        json={
            "client_id": c2["id"],
            "site_id": site["id"],
            "name": "Jane",
            "email": "jane@two.example",
        },
    )
    assert wrong.status_code == 422
    assert "different client" in wrong.json()["message"]
    contacts = (await http.get("/api/v1/contacts", headers=h)).json()
    assert contacts["total"] == 0


async def test_pagination(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    h = tenant_a.headers
    for i in range(7):
        assert (await http.post("/api/v1/clients", headers=h, json={"name": f"Client {i:02d}"})).status_code == 201
    first = (await http.get("/api/v1/clients?limit=3", headers=h)).json()
    second = (await http.get("/api/v1/clients?limit=3&offset=3", headers=h)).json()
    assert first["total"] == 7 and len(first["items"]) == 3
    assert [c["name"] for c in first["items"] + second["items"]] == [f"Client {i:02d}" for i in range(6)]
    assert (await http.get("/api/v1/clients?limit=0", headers=h)).status_code == 422


async def test_malformed_json_and_bad_uuid_are_422_not_500(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    h = {**tenant_a.headers, "Content-Type": "application/json"}
    assert (await http.post("/api/v1/clients", headers=h, content=b"{not json")).status_code == 422
    assert (await http.get("/api/v1/clients/not-a-uuid", headers=h)).status_code == 422
    assert (await http.post("/api/v1/clients", headers=h, json={"name": "x", "surprise": 1})).status_code == 422
