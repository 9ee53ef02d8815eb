"""Vault encryption and rotation, secrets kept out of logs, and the tamper-evident audit chain."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from mspclaw import logging as mlogging
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.vault import service as vault
from mspclaw.vault.keys import load_keyring
from tests.conftest import TenantFixture

SECRET = "s3cr3t-PSA-token-do-not-leak-4242"


async def test_secret_encrypted_at_rest_and_never_returned(
    http: httpx.AsyncClient, tenant_a: TenantFixture, db: Database
) -> None:
    put = await http.put(
        "/api/v1/secrets",
        headers=tenant_a.headers,
        json={"name": "superops.token", "value": SECRET},
    )
    assert put.status_code == 200 and SECRET not in put.text
    listing = await http.get("/api/v1/secrets", headers=tenant_a.headers)
    assert [s["name"] for s in listing.json()] == ["superops.token"] and SECRET not in listing.text
    events = await http.get("/api/v1/audit/events", headers=tenant_a.headers)
    assert "secret.put" in events.text and SECRET not in events.text
    async with await psycopg.AsyncConnection.connect(db.libpq_url) as conn:
        raw = await (await conn.execute("SELECT ciphertext FROM secrets")).fetchone()
        dump = await (await conn.execute("SELECT string_agg(t::text, '') FROM audit_events t")).fetchone()
    assert SECRET.encode() not in bytes(raw[0]) and SECRET not in str(dump)


async def test_rotation_reencrypts_everything_and_retires_the_old_key(
    tmp_path: Path, db: Database, tenant_a: TenantFixture
) -> None:
    ring = load_keyring(None, tmp_path)  # a file keyring, as the embedded default uses
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        for i in range(5):
            await vault.put(session, ring, name=f"s{i}", value=f"value-{i}")
    old_id = ring.primary_id
    result = await vault.rotate(db.sessions, ring, generate=True)
    assert result == {"rotated": 5, "retired_keys": 1}
    reloaded = load_keyring(None, tmp_path)
    assert reloaded.primary_id != old_id and [k for k, _ in reloaded.keys] == [reloaded.primary_id]
    async with tenant_session(db.sessions, tenant_a.id) as session:
        assert [await vault.get_value(session, reloaded, name=f"s{i}") for i in range(5)] == [
            f"value-{i}" for i in range(5)
        ]
        assert {s.key_id for s in await vault.list_names(session)} == {reloaded.primary_id}


async def test_tampered_ciphertext_is_detected(db: Database, tenant_a: TenantFixture, tmp_path: Path) -> None:
    ring = load_keyring(None, tmp_path)
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        await vault.put(session, ring, name="x", value="y")
    async with await psycopg.AsyncConnection.connect(db.libpq_url, autocommit=True) as conn:
        await conn.execute("UPDATE secrets SET ciphertext = set_byte(ciphertext, 0, get_byte(ciphertext, 0) # 1)")
    async with tenant_session(db.sessions, tenant_a.id) as session:
        with pytest.raises(vault.VaultError, match="cannot be decrypted"):
            await vault.get_value(session, ring, name="x")


async def test_secrets_never_reach_the_logs(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    stream = io.StringIO()
    mlogging.configure("DEBUG", "json")
    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(stream))
    handler = logging.StreamHandler(stream)
    logging.getLogger().addHandler(handler)
    try:
        await http.put("/api/v1/secrets", headers=tenant_a.headers, json={"name": "n", "value": SECRET})
        await http.post(
            "/login",
            data={"email": tenant_a.owner_email, "password": tenant_a.owner_password, "csrf": "x"},
        )
        await http.get("/api/v1/clients", headers=tenant_a.headers)
        structlog.get_logger("test").info("careless", password=SECRET, note=f"Bearer {tenant_a.api_key}")
    finally:
        logging.getLogger().removeHandler(handler)
        structlog.reset_defaults()
    text = stream.getvalue()
    assert "http_request" in text  # the requests were logged...
    for secret in (
        SECRET,
        tenant_a.api_key,
        tenant_a.api_key.split("_", 2)[2],
        tenant_a.owner_password,
    ):
        assert secret not in text  # ...without any secret


async def test_every_state_change_is_audited_and_chained(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    h = tenant_a.headers
    start = (await http.get("/api/v1/audit/events", headers=h)).json()["total"]
    client = (await http.post("/api/v1/clients", headers=h, json={"name": "Audited"})).json()
    await http.patch(f"/api/v1/clients/{client['id']}", headers=h, json={"domain": "audited.example"})
    await http.get(f"/api/v1/clients/{client['id']}", headers=h)  # reads are not state changes
    await http.delete(f"/api/v1/clients/{client['id']}", headers=h)
    events = (await http.get("/api/v1/audit/events?limit=3", headers=h)).json()
    assert events["total"] == start + 3
    update, create = events["items"][1], events["items"][2]
    assert [e["action"] for e in events["items"]] == [
        "client.delete",
        "client.update",
        "client.create",
    ]
    assert update["before"]["domain"] is None and update["after"]["domain"] == "audited.example"
    assert update["actor_type"] == "api_key" and update["request_id"]
    assert update["prev_hash"] == create["hash"]
    assert (await http.get("/api/v1/audit/verify", headers=h)).json() == {
        "ok": True,
        "events_checked": start + 3,
        "first_broken_seq": None,
        "first_broken_id": None,
        "reason": None,
    }


async def test_audit_rows_cannot_be_updated_or_deleted(db: Database, tenant_a: TenantFixture) -> None:
    async with await psycopg.AsyncConnection.connect(db.libpq_url, autocommit=True) as conn:
        for statement in (
            "UPDATE audit_events SET action = 'x'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                await conn.execute(statement)


async def test_audit_verify_names_the_first_altered_event(
    db: Database, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    code, output = await run_cli(["audit", "verify", "--tenant", tenant_a.slug], db.url, tmp_path)
    assert code == 0 and "chain intact" in output, output
    async with await psycopg.AsyncConnection.connect(db.libpq_url, autocommit=True) as conn:
        # an attacker with superuser rights bypasses the trigger and rewrites history
        await conn.execute("SET session_replication_role = replica")
        await conn.execute('UPDATE audit_events SET after = \'{"email": "evil@x.example"}\' WHERE seq = 2')
    code, output = await run_cli(["audit", "verify", "--tenant", tenant_a.slug], db.url, tmp_path)
    assert code == 1, output
    assert "TAMPERING DETECTED" in output and "seq 2" in output
    assert "content altered" in output


async def run_cli(args: list[str], database_url: str, data_dir: Path) -> tuple[int, str]:
    """Run the real ``mspclaw`` command in a child process against the test database."""
    env = {
        **os.environ,
        "MSPCLAW_DATABASE_URL": database_url,
        "MSPCLAW_DATA_DIR": str(data_dir),
        "COLUMNS": "200",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mspclaw.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()
