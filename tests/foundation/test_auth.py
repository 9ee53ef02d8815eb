"""Roles and permissions, API keys (scoped, hashed, expiring, revocable), console login."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import psycopg
import pyotp
from sqlalchemy import update

from mspclaw.auth.models import ApiKey
from mspclaw.auth.permissions import Role, role_can
from mspclaw.database.base import utcnow
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from tests.conftest import TenantFixture


def test_permission_table_orders_roles() -> None:
    assert role_can(Role.VIEWER, "clients.read") and not role_can(Role.VIEWER, "clients.write")
    assert role_can(Role.APPROVER, "runs.approve") and not role_can(Role.ENGINEER, "runs.approve")
    assert role_can(Role.ADMIN, "runs.approve") and not role_can(Role.ADMIN, "tenant.write")
    assert role_can(Role.OWNER, "tenant.write")


async def _key_for_new_tech(http: httpx.AsyncClient, owner: TenantFixture, role: str) -> str:
    """Create a technician with ``role`` and log them in to mint their own API key."""
    email = f"{role}@alpha.example"
    created = await http.post(
        "/api/v1/technicians",
        headers=owner.headers,
        json={"email": email, "name": role, "role": role, "password": "correct horse battery"},
    )
    assert created.status_code == 201, created.text
    csrf = await _login(http, email, "correct horse battery")
    key = await http.post("/api/v1/api-keys", json={"name": f"{role} key"}, headers={"X-CSRF-Token": csrf})
    if key.status_code == 403:
        http.cookies.clear()
        return ""
    assert key.status_code == 201, key.text
    http.cookies.clear()
    return key.json()["key"]  # type: ignore[no-any-return]


async def _login(http: httpx.AsyncClient, email: str, password: str, totp: str = "") -> str:
    """Sign in through the console form; returns the session's CSRF token."""
    page = await http.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = await http.post("/login", data={"email": email, "password": password, "csrf": csrf, "totp": totp})
    assert response.status_code == 303, response.text
    dashboard = await http.get("/")
    return re.search(r'name="csrf" value="([^"]+)"', dashboard.text).group(1)  # type: ignore[union-attr]


async def test_viewer_reads_but_cannot_write(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    created = await http.post(
        "/api/v1/technicians",
        headers=tenant_a.headers,
        json={
            "email": "viewer@alpha.example",
            "name": "V",
            "role": "viewer",
            "password": "correct horse battery",
        },
    )
    assert created.status_code == 201
    key = await http.post(
        "/api/v1/api-keys",
        headers=tenant_a.headers,
        json={"name": "narrow", "scopes": ["clients.read"]},
    )
    narrow = {"Authorization": f"Bearer {key.json()['key']}"}
    assert (await http.get("/api/v1/clients", headers=narrow)).status_code == 200
    denied = await http.post("/api/v1/clients", headers=narrow, json={"name": "Nope"})
    assert denied.status_code == 403
    assert denied.json()["error"] == "permission_denied"
    assert "clients.write" in denied.json()["message"]
    assert (await http.get("/api/v1/clients", headers=tenant_a.headers)).json()["total"] == 0


async def test_api_key_cannot_be_wider_than_its_creator(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    narrow = await http.post(
        "/api/v1/api-keys",
        headers=tenant_a.headers,
        json={"name": "n", "scopes": ["apikeys.write", "clients.read"]},
    )
    h = {"Authorization": f"Bearer {narrow.json()['key']}"}
    wider = await http.post("/api/v1/api-keys", headers=h, json={"name": "w", "scopes": ["clients.write"]})
    assert wider.status_code == 403
    unknown = await http.post("/api/v1/api-keys", headers=tenant_a.headers, json={"name": "u", "scopes": ["god.mode"]})
    assert unknown.status_code == 422 and "god.mode" in unknown.json()["message"]


async def test_api_key_is_hashed_shown_once_revocable_and_expires(
    http: httpx.AsyncClient, tenant_a: TenantFixture, db: Database
) -> None:
    created = (await http.post("/api/v1/api-keys", headers=tenant_a.headers, json={"name": "ci"})).json()
    key = created["key"]
    h = {"Authorization": f"Bearer {key}"}
    listing = await http.get("/api/v1/api-keys", headers=tenant_a.headers)
    assert key not in listing.text and "key" not in listing.json()["items"][0]
    async with await psycopg.AsyncConnection.connect(db.libpq_url) as conn:
        dump = str(await (await conn.execute("SELECT * FROM api_keys")).fetchall())
    assert key.split("_", 2)[2] not in dump
    assert (await http.get("/api/v1/clients", headers=h)).status_code == 200
    used = next(
        k
        for k in (await http.get("/api/v1/api-keys", headers=tenant_a.headers)).json()["items"]
        if k["id"] == created["id"]
    )
    assert used["last_used_at"] is not None

    assert (await http.delete(f"/api/v1/api-keys/{created['id']}", headers=tenant_a.headers)).status_code == 200
    assert (await http.get("/api/v1/clients", headers=h)).status_code == 401

    other = (await http.post("/api/v1/api-keys", headers=tenant_a.headers, json={"name": "old"})).json()
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        await session.execute(update(ApiKey).where(ApiKey.name == "old").values(expires_at=utcnow() - timedelta(1)))
    expired = await http.get("/api/v1/clients", headers={"Authorization": f"Bearer {other['key']}"})
    assert expired.status_code == 401 and "expired" in expired.json()["message"]


async def test_console_login_dashboard_and_logout(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    await http.post("/api/v1/clients", headers=tenant_a.headers, json={"name": "Dashboard Client"})
    assert (await http.get("/")).headers["location"] == "/login"
    csrf = await _login(http, tenant_a.owner_email, tenant_a.owner_password)
    page = await http.get("/")
    assert "Dashboard Client" in page.text and tenant_a.owner_email in page.text
    session_cookie = http.cookies.get("mspclaw_session")
    assert session_cookie
    # cookie-authenticated API writes need the CSRF header
    assert (await http.post("/api/v1/clients", json={"name": "Via cookie"})).status_code == 403
    ok = await http.post("/api/v1/clients", json={"name": "Via cookie"}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 201
    assert (await http.post("/logout", data={"csrf": csrf})).status_code == 303
    http.cookies.set("mspclaw_session", session_cookie)
    assert (await http.get("/api/v1/clients")).status_code == 401  # the session is revoked server-side


async def test_login_without_csrf_token_is_refused(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    response = await http.post(
        "/login",
        data={"email": tenant_a.owner_email, "password": tenant_a.owner_password, "csrf": "forged"},
    )
    assert response.status_code == 400
    assert "mspclaw_session" not in response.cookies


async def test_lockout_after_repeated_failures(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    for _ in range(3):  # the test settings lock after 3 failures
        page = await http.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        bad = await http.post("/login", data={"email": tenant_a.owner_email, "password": "wrong", "csrf": csrf})
        assert bad.status_code in (401, 429)
    page = await http.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    locked = await http.post(
        "/login",
        data={"email": tenant_a.owner_email, "password": tenant_a.owner_password, "csrf": csrf},
    )
    assert locked.status_code == 429
    assert "locked" in locked.text


async def test_totp_second_factor(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    setup = (await http.post("/api/v1/me/totp", headers=tenant_a.headers)).json()
    totp = pyotp.TOTP(setup["secret"])
    assert "otpauth://" in setup["provisioning_uri"]
    wrong = await http.post(
        "/api/v1/me/totp/confirm",
        headers=tenant_a.headers,
        json={"code": "000000" if totp.now() != "000000" else "111111"},
    )
    assert wrong.status_code == 422
    ok = await http.post("/api/v1/me/totp/confirm", headers=tenant_a.headers, json={"code": totp.now()})
    assert ok.status_code == 200 and ok.json()["totp_enabled"] is True

    page = await http.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    needs_code = await http.post(
        "/login",
        data={"email": tenant_a.owner_email, "password": tenant_a.owner_password, "csrf": csrf},
    )
    assert needs_code.status_code == 401 and "authenticator" in needs_code.text
    await _login(http, tenant_a.owner_email, tenant_a.owner_password, totp=totp.now())
    assert (await http.get("/")).status_code == 200


async def test_last_owner_cannot_be_demoted_and_engineer_cannot_grant_owner(
    http: httpx.AsyncClient, tenant_a: TenantFixture
) -> None:
    me = (await http.get("/api/v1/me", headers=tenant_a.headers)).json()
    demote = await http.patch(f"/api/v1/technicians/{me['id']}", headers=tenant_a.headers, json={"role": "admin"})
    assert demote.status_code == 409 and "last owner" in demote.json()["message"]
    admin_key = await _key_for_new_tech(http, tenant_a, "admin")
    grant = await http.post(
        "/api/v1/technicians",
        headers={"Authorization": f"Bearer {admin_key}"},
        json={"email": "x@alpha.example", "name": "X", "role": "owner"},
    )
    assert grant.status_code == 403
    engineer_key = await _key_for_new_tech(http, tenant_a, "engineer")
    assert engineer_key == ""  # engineers may not mint API keys


async def test_key_narrows_when_its_technician_is_demoted(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    tech = await http.post(
        "/api/v1/technicians",
        headers=tenant_a.headers,
        json={"email": "adm@alpha.example", "name": "Adm", "role": "admin", "password": "correct horse battery"},
    )
    csrf = await _login(http, "adm@alpha.example", "correct horse battery")
    key = (await http.post("/api/v1/api-keys", json={"name": "adm"}, headers={"X-CSRF-Token": csrf})).json()["key"]
    http.cookies.clear()
    h = {"Authorization": f"Bearer {key}"}
    assert (await http.post("/api/v1/clients", headers=h, json={"name": "Before"})).status_code == 201
    await http.patch(f"/api/v1/technicians/{tech.json()['id']}", headers=tenant_a.headers, json={"role": "viewer"})
    assert (await http.post("/api/v1/clients", headers=h, json={"name": "After"})).status_code == 403
    assert (await http.get("/api/v1/clients", headers=h)).status_code == 200
    await http.patch(f"/api/v1/technicians/{tech.json()['id']}", headers=tenant_a.headers, json={"active": False})
    assert (await http.get("/api/v1/clients", headers=h)).status_code == 401
