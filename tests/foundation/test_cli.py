"""The real ``mspclaw`` command: set-up commands, clear errors, and ``up`` on the embedded database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx
import psycopg

from mspclaw.database.core import Database
from mspclaw.database.embedded import free_port
from tests.foundation.test_vault_and_audit import run_cli


async def test_tenant_client_tech_and_apikey_commands(db: Database, tmp_path: Path) -> None:
    code, out = await run_cli(
        ["tenant", "create", "Northwind IT", "--owner-email", "boss@northwind.local"],
        db.url,
        tmp_path,
    )
    assert code == 0 and "one-time password" in out, out
    code, out = await run_cli(["client", "create", "Fabrikam", "--domain", "fabrikam.com"], db.url, tmp_path)
    assert code == 0, out
    code, out = await run_cli(["client", "list", "--json"], db.url, tmp_path)
    assert [c["name"] for c in json.loads(out)] == ["Fabrikam"]

    code, out = await run_cli(
        ["tech", "add", "eng@northwind.local", "--name", "Eng", "--role", "engineer"],
        db.url,
        tmp_path,
    )
    assert code == 0, out
    code, out = await run_cli(["tech", "set-role", "eng@northwind.local", "approver"], db.url, tmp_path)
    assert code == 0, out
    code, out = await run_cli(["tech", "list", "--json"], db.url, tmp_path)
    assert {t["email"]: t["role"] for t in json.loads(out)} == {
        "boss@northwind.local": "owner",
        "eng@northwind.local": "approver",
    }
    code, out = await run_cli(["tech", "set-role", "boss@northwind.local", "viewer"], db.url, tmp_path)
    assert code == 1 and "last owner" in out

    code, out = await run_cli(["apikey", "create", "relay", "--as", "boss@northwind.local"], db.url, tmp_path)
    assert code == 0, out
    key = out.strip().splitlines()[-1]
    assert key.startswith("mspc_")
    code, out = await run_cli(["apikey", "list", "--json"], db.url, tmp_path)
    [listed] = json.loads(out)
    assert key not in out
    code, out = await run_cli(["apikey", "revoke", listed["id"]], db.url, tmp_path)
    assert code == 0 and "revoked" in out
    code, out = await run_cli(["tech", "remove", "eng@northwind.local"], db.url, tmp_path)
    assert code == 0, out
    code, out = await run_cli(["audit", "list", "--json"], db.url, tmp_path)
    actions = [e["action"] for e in json.loads(out)]
    assert actions[:3] == ["technician.remove", "apikey.revoke", "apikey.create"]
    code, out = await run_cli(["audit", "verify"], db.url, tmp_path)
    assert code == 0 and "chain intact" in out


async def test_bad_input_is_explained_and_writes_nothing(db: Database, tmp_path: Path) -> None:
    await run_cli(["tenant", "create", "Acme", "--owner-email", "o@acme.example"], db.url, tmp_path)
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"auto_run": "sometimes", "vip_contacts": ["not-an-email"]}))
    code, out = await run_cli(["client", "create", "Bad", "--policy", str(policy)], db.url, tmp_path)
    assert code == 1
    assert "auto_run" in out and "not-an-email" in out
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    code, out = await run_cli(["client", "create", "Bad", "--policy", str(broken)], db.url, tmp_path)
    assert code == 1 and "not valid JSON" in out
    code, out = await run_cli(["tech", "add", "bad-email", "--name", "X"], db.url, tmp_path)
    assert code == 1 and "e-mail" in out
    code, out = await run_cli(["tenant", "create", "Acme", "--owner-email", "o2@acme.example"], db.url, tmp_path)
    assert code == 1 and "already exists" in out
    code, out = await run_cli(["client", "list", "--json", "--tenant", "nope"], db.url, tmp_path)
    assert code == 1 and "no tenant 'nope'" in out
    async with await psycopg.AsyncConnection.connect(db.libpq_url) as conn:
        assert await (await conn.execute("SELECT count(*) FROM clients")).fetchone() == (0,)
        assert await (await conn.execute("SELECT count(*) FROM tenants")).fetchone() == (1,)


async def test_vault_rotate_command(db: Database, tmp_path: Path) -> None:
    code, out = await run_cli(["vault", "rotate"], db.url, tmp_path)
    assert code == 0 and "vault rotated" in out, out
    assert (tmp_path / "master.keys").stat().st_mode & 0o777 == 0o600


async def _wait_http(url: str, seconds: float, proc: asyncio.subprocess.Process | None = None) -> httpx.Response:
    """GET url once it answers; fails at once, with the server's output, if the server process died."""
    deadline = asyncio.get_running_loop().time() + seconds
    async with httpx.AsyncClient() as client:
        while True:
            try:
                return await client.get(url)
            except httpx.TransportError:
                if proc is not None and proc.returncode is not None:
                    out = await proc.stdout.read() if proc.stdout else b""
                    raise AssertionError(f"mspclaw up exited with {proc.returncode}:\n{out.decode()[-4000:]}") from None
                if asyncio.get_running_loop().time() > deadline:
                    if proc is not None:
                        raise AssertionError(f"mspclaw up did not answer within {seconds:.0f} s:\n{await _stop(proc)}")
                    raise
                await asyncio.sleep(0.2)


async def _up(data_dir: Path, port: int) -> tuple[asyncio.subprocess.Process, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSPCLAW_")}
    env |= {"MSPCLAW_DATA_DIR": str(data_dir), "MSPCLAW_PORT": str(port), "COLUMNS": "200"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mspclaw.cli",
        "up",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    # a first start runs initdb and every migration: minutes on a loaded 2-core machine
    health = await _wait_http(f"http://127.0.0.1:{port}/healthz", 300, proc)
    assert health.json()["status"] == "ok"
    login = await _wait_http(f"http://127.0.0.1:{port}/login", 5, proc)
    assert login.status_code == 200 and "Sign in" in login.text
    return proc, ""


async def _stop(proc: asyncio.subprocess.Process) -> str:
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return out.decode()


async def test_up_on_embedded_database_keeps_data_across_restarts(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    proc, _ = await _up(data_dir, port)
    first = await _stop(proc)
    assert "password:" in first and "admin@mspclaw.local" in first
    password = first.split("password:")[1].split()[0]
    assert proc.returncode == 0

    proc, _ = await _up(data_dir, port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            page = await client.get("/login")
            csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
            signed_in = await client.post(
                "/login", data={"email": "admin@mspclaw.local", "password": password, "csrf": csrf}
            )
            assert signed_in.status_code == 303  # the first run's admin still exists
            assert "My MSP" in (await client.get("/")).text
    finally:
        second = await _stop(proc)
    assert "password:" not in second  # no second admin was created
    assert not (data_dir / "postgres" / "postmaster.pid").exists()  # the embedded server stopped cleanly
