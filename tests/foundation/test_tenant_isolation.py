"""Every API route, discovered from the app's OpenAPI schema, keeps tenants apart.

Tenant A's technician and API key can neither read, change, nor detect tenant B's objects:
any route addressed at one of B's ids answers 404 exactly as for an id that never existed,
lists never include B's rows, and creating something that points at B's objects fails with
404. A route with a request body must have an example body below, so a new route fails
this test until it is covered.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import TenantFixture

# Example bodies for routes that take one. ``{b:KIND}`` is replaced by one of B's ids.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/clients"): {"name": "Probe client"},
    ("PATCH", "/api/v1/clients/{object_id}"): {"domain": "probe.example"},
    ("POST", "/api/v1/sites"): {"client_id": "{b:client}", "name": "Probe site"},
    ("POST", "/api/v1/contacts"): {
        "client_id": "{b:client}",
        "name": "Probe",
        "email": "probe@probe.example",
    },
    ("PATCH", "/api/v1/contacts/{object_id}"): {"department": "Probing"},
    ("POST", "/api/v1/devices"): {"client_id": "{b:client}", "hostname": "probe-01"},
    ("PATCH", "/api/v1/devices/{object_id}"): {"role": "server"},
    ("POST", "/api/v1/technicians"): {
        "email": "probe@alpha-msp.example",
        "name": "Probe",
        "role": "viewer",
    },
    ("PATCH", "/api/v1/technicians/{object_id}"): {"name": "Renamed"},
    ("POST", "/api/v1/api-keys"): {"name": "probe"},
    ("PUT", "/api/v1/secrets"): {"name": "a-probe-secret", "value": "a-value"},
    ("POST", "/api/v1/me/totp/confirm"): {"code": "123456"},
    ("POST", "/api/v1/agents/tokens"): {"client_id": "{b:client}"},
    ("POST", "/api/v1/identity/verifications/otp"): {
        "client_id": "{b:client}",
        "contact_id": "{b:contact}",
        "user": "person@b.example",
        "method": "otp_email",
    },
    ("POST", "/api/v1/identity/verifications/{verification_id}/check"): {"code": "123456"},
    ("POST", "/api/v1/identity/verifications/attest"): {
        "client_id": "{b:client}",
        "user": "person@b.example",
        "reason": "probe: known voice",
    },
    ("POST", "/api/v1/identity/verifications/push"): {
        "client_id": "{b:client}",
        "contact_id": "{b:contact}",
        "device_id": "{b:device}",
        "user": "person@b.example",
    },
    ("POST", "/api/v1/tickets/{ticket_id}/instructions"): {"instruction": "unlock account", "dry_run": True},
    ("POST", "/api/v1/tickets/{ticket_id}/diagnose"): {"goal": "why is it slow", "start": False},
    ("POST", "/api/v1/agents/enroll"): {"token": "mspe_00000000_probeprobeprobe", "hostname": "probe", "os": "linux"},
    ("PATCH", "/api/v1/devices/{object_id}/memory"): {"department": "Probing"},
    ("POST", "/api/v1/asset-mapping/resolve"): {"client_id": "{b:client}"},
    ("PUT", "/api/v1/llm/provider"): {"provider": "openai", "model": "gpt-4o-mini", "api_key": "sk-probe"},
    ("POST", "/api/v1/instructions/plan"): {
        "instruction": "unlock account",
        "context": {"contact_email": "probe@alpha.example"},
    },
    ("POST", "/api/v1/playbooks/{object_id}/dry-run"): {"client_id": "{b:client}"},
    ("POST", "/api/v1/runs"): {"playbook_id": "low-disk-space", "client_id": "{b:client}"},
    ("POST", "/api/v1/approvals/{object_id}/approve"): {"reason": "probe"},
    ("POST", "/api/v1/approvals/{object_id}/deny"): {"reason": "probe"},
    ("POST", "/api/v1/questions/{object_id}/answer"): {"answer": "probe"},
    ("POST", "/api/v1/triage"): {"subject": "probe", "body": "printer jam", "client_id": "{b:client}"},
    ("POST", "/api/v1/triage/intents"): {"id": "probe_intent", "label": "Probe"},
    ("POST", "/api/v1/tickets/{object_id}/intent"): {"intent": "printer"},
    ("PUT", "/api/v1/triage/settings"): {"threshold": 0.6},
    # A vendor that does not answer: the connection test fails and nothing is saved.
    ("POST", "/api/v1/connections"): {
        "connector": "superops",
        "name": "probe",
        "config": {"api_url": "http://127.0.0.1:9/msp", "subdomain": "probe", "api_token": "probe-token-123"},
    },
    ("PATCH", "/api/v1/connections/{object_id}"): {"enabled": False},
    ("PUT", "/api/v1/connections/{object_id}/mappings"): {"status": {"Open": "open"}},
    ("POST", "/api/v1/connections/{object_id}/client-links"): {"vendor_external_id": "1", "client_id": "{b:client}"},
    ("POST", "/api/v1/connections/{object_id}/scripts"): {"device_external_id": "1", "script": "probe"},
    ("PUT", "/api/v1/connections/{object_id}/script-map"): {"tools": {}},
    ("POST", "/api/v1/loop/notify-targets"): {"name": "probe", "url": "json://127.0.0.1:9/probe"},
    ("PUT", "/api/v1/loop/connections/{connection_id}/settings"): {"public_reply": True},
    ("POST", "/api/v1/runs/{run_id}/feedback"): {"answer": "yes"},
}
# Routes whose body creates something that does not reference another object: they must
# succeed for A without touching B (checked afterwards through B's own view).
SELF_CONTAINED = {
    ("POST", "/api/v1/clients"),
    ("POST", "/api/v1/technicians"),
    ("POST", "/api/v1/api-keys"),
    ("PUT", "/api/v1/secrets"),
    ("POST", "/api/v1/me/totp"),
    ("POST", "/api/v1/me/totp/confirm"),
    ("PUT", "/api/v1/llm/provider"),
    ("POST", "/api/v1/instructions/plan"),
    ("POST", "/api/v1/agents/enroll"),
    ("DELETE", "/api/v1/llm/provider"),
    ("POST", "/api/v1/triage/intents"),
    ("POST", "/api/v1/triage/retrain"),
    ("POST", "/api/v1/triage/backfill"),
    ("PUT", "/api/v1/triage/settings"),
    ("POST", "/api/v1/connections"),
    ("POST", "/api/v1/loop/notify-targets"),
}


def _with_id(path: str, object_id: str) -> str:
    """``path`` with every id parameter set to ``object_id``."""
    return re.sub(r"\{(?!name\})[a-z_]+\}", object_id, path)


def _fill(value: Any, b_ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, b_ids) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{b:"):
        return b_ids[value[3:-1]]
    return value


async def _seed_b(http: httpx.AsyncClient, b: TenantFixture) -> dict[str, str]:
    h = b.headers
    client = (await http.post("/api/v1/clients", headers=h, json={"name": "B client"})).json()
    site = (await http.post("/api/v1/sites", headers=h, json={"client_id": client["id"], "name": "B site"})).json()
    contact = (
        await http.post(
            "/api/v1/contacts",
            headers=h,
            json={"client_id": client["id"], "name": "B person", "email": "person@b.example"},
        )
    ).json()
    device = (
        await http.post("/api/v1/devices", headers=h, json={"client_id": client["id"], "hostname": "b-laptop-1"})
    ).json()
    tech = (
        await http.post("/api/v1/technicians", headers=h, json={"email": "eng@b.example", "name": "B engineer"})
    ).json()
    key = (await http.post("/api/v1/api-keys", headers=h, json={"name": "B key"})).json()
    secret = (await http.put("/api/v1/secrets", headers=h, json={"name": "b-secret", "value": "b-value"})).json()
    return {
        "client": client["id"],
        "site": site["id"],
        "contact": contact["id"],
        "device": device["id"],
        "technician": tech["id"],
        "api_key": key["id"],
        "secret": secret["id"],
        "secret_name": "b-secret",
    }


async def _b_view(http: httpx.AsyncClient, b: TenantFixture, routes: list[tuple[str, str]]) -> dict[str, Any]:
    """Everything B can list, minus volatile fields, to compare before and after A's probing."""
    view = {}
    for method, path in routes:
        if method == "GET" and "{" not in path and not path.startswith("/api/v1/audit"):
            body = (await http.get(path, headers=b.headers)).json()
            view[path] = re.sub(r"'(last_used_at|updated_at|request_id)': '[^']*'", "", str(body))
    return view


async def test_every_route_hides_other_tenants(
    http: httpx.AsyncClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    schema = (await http.get("/openapi.json")).json()
    routes = [(m.upper(), p) for p, ops in schema["paths"].items() for m in ops if p.startswith("/api/")]
    assert len(routes) >= 25, "route discovery found too few routes"
    b_ids = await _seed_b(http, tenant_b)
    before = await _b_view(http, tenant_b, routes)
    b_values = set(b_ids.values()) | {
        "B client",
        "B site",
        "B person",
        "b-laptop-1",
        "eng@b.example",
        "B key",
    }

    missing = [(m, p) for m, p in routes if "requestBody" in schema["paths"][p][m.lower()] and (m, p) not in BODIES]
    assert not missing, f"add an example body for these routes to BODIES: {missing}"

    checked = 0
    for method, path in routes:
        body = _fill(BODIES.get((method, path)), b_ids)
        if re.search(r"\{(?!name\})[a-z_]+\}", path):
            never_existed = await http.request(
                method,
                _with_id(path, str(uuid.uuid4())),
                headers=tenant_a.headers,
                json=body,
            )
            for kind in ("client", "site", "contact", "device", "technician", "api_key", "secret"):
                response = await http.request(
                    method,
                    _with_id(path, b_ids[kind]),
                    headers=tenant_a.headers,
                    json=body,
                )
                assert response.status_code == 404, (method, path, kind, response.text)
                assert response.status_code == never_existed.status_code
                assert response.json()["error"] == never_existed.json()["error"] == "not_found"
                checked += 1
        elif "{name}" in path:
            response = await http.request(method, path.replace("{name}", "b-secret"), headers=tenant_a.headers)
            assert response.status_code == 404, (method, path, response.text)
            checked += 1
        else:
            response = await http.request(method, path, headers=tenant_a.headers, json=body)
            if (method, path) in SELF_CONTAINED or method == "GET":
                assert response.status_code < 500, (method, path, response.text)
            else:
                assert response.status_code == 404, (method, path, response.text)
            sent = str(body)
            leaked = [v for v in b_values if v in response.text and v not in sent]  # echoing input is no leak
            assert not leaked, f"{method} {path} leaked tenant B data: {leaked}"
            checked += 1
    assert checked > len(routes)

    # B's world is exactly as it was: nothing read, changed, overwritten or deleted by A.
    assert await _b_view(http, tenant_b, routes) == before
    verify = (await http.get("/api/v1/audit/verify", headers=tenant_b.headers)).json()
    assert verify["ok"] is True
    b_events = (await http.get("/api/v1/audit/events?limit=500", headers=tenant_b.headers)).json()
    assert all(
        e["actor_name"] != "test" or e["actor_type"] != "api_key" or "Alpha" not in str(e) for e in b_events["items"]
    )


@pytest.mark.parametrize("kind", ["client", "device"])
async def test_direct_id_guessing_gives_404_not_403(
    http: httpx.AsyncClient, tenant_a: TenantFixture, tenant_b: TenantFixture, kind: str
) -> None:
    b_ids = await _seed_b(http, tenant_b)
    response = await http.get(f"/api/v1/{kind}s/{b_ids[kind]}", headers=tenant_a.headers)
    assert response.status_code == 404
    assert b_ids[kind] in response.json()["message"]  # echoes the id asked for, nothing more
