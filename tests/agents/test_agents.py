"""Agents against the real app and database: enrolment tokens, real agent processes over a real
socket, revocation, device memory, asset mapping, and routing between two gateway processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn

from mspclaw.agents.backend import GatewayEndpointBackend
from mspclaw.config import Settings
from mspclaw.database.core import Database
from mspclaw.database.embedded import free_port
from mspclaw.tools import get_tool
from mspclaw.tools.backends import ToolContext
from tests.conftest import TenantFixture

AGENT = str(Path(sys.executable).with_name("mspclaw-agent"))


@contextlib.asynccontextmanager
async def serve(settings: Settings, db: Database) -> AsyncIterator[tuple[str, object]]:
    """The whole app on uvicorn at 127.0.0.1:<free port>, in this event loop."""
    from mspclaw.app import create_app

    app = create_app(settings, database=db)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        await task


async def _agent(*args: str, state: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        AGENT, "--state-dir", str(state), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


def _device_id(state: Path) -> str:
    """The device id the agent stored at enrolment."""
    return str(json.loads((state / "state.json").read_text())["device_id"])


async def _start_agent(state: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        AGENT,
        "--state-dir",
        str(state),
        "run",
        "--min-backoff",
        "0.2",
        "--max-backoff",
        "1",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )


async def _wait_presence(client: httpx.AsyncClient, device_id: str, headers: dict[str, str], want: str) -> dict:
    for _ in range(200):
        body = (await client.get(f"/api/v1/devices/{device_id}/presence", headers=headers)).json()
        if body["presence"] == want:
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(f"device never became {want}: {body}")


async def _client_and_token(client: httpx.AsyncClient, t: TenantFixture, max_uses: int = 1) -> tuple[str, str]:
    c = (await client.post("/api/v1/clients", headers=t.headers, json={"name": "Contoso"})).json()
    await client.post(
        "/api/v1/contacts",
        headers=t.headers,
        json={"client_id": c["id"], "name": "Root User", "email": "root@contoso.example"},
    )
    token = (
        await client.post("/api/v1/agents/tokens", headers=t.headers, json={"client_id": c["id"], "max_uses": max_uses})
    ).json()
    return c["id"], token["token"]


async def test_enrolment_token_rules(http: httpx.AsyncClient, tenant_a: TenantFixture, db: Database) -> None:
    client_id, token = await _client_and_token(http, tenant_a)
    listing = await http.get("/api/v1/agents/tokens", headers=tenant_a.headers)
    assert token not in listing.text and listing.json()["total"] == 1
    facts = {"hostname": "lt-0442", "os": "windows", "os_version": "11", "serial": "SN1", "logged_in_user": "root"}
    enrolled = await http.post("/api/v1/agents/enroll", json={"token": token, **facts})
    assert enrolled.status_code == 201, enrolled.text
    body = enrolled.json()
    assert body["device_credential"].startswith("mspd_") and body["gateway_url"].endswith("/gateway/ws")
    device = (await http.get(f"/api/v1/devices/{body['device_id']}", headers=tenant_a.headers)).json()
    assert (device["client_id"], device["hostname"], device["os"], device["serial"]) == (
        client_id,
        "lt-0442",
        "windows",
        "SN1",
    )
    assert device["contact_id"] is not None  # linked to root@contoso.example by the logged-in user

    used_up = await http.post("/api/v1/agents/enroll", json={"token": token, **facts})
    assert used_up.status_code == 401 and used_up.json()["error"] == "enrollment_refused"
    assert (await http.post("/api/v1/agents/enroll", json={"token": "mspe_00000000_nope", **facts})).status_code == 401

    second = (await http.post("/api/v1/agents/tokens", headers=tenant_a.headers, json={"client_id": client_id})).json()
    await http.delete(f"/api/v1/agents/tokens/{second['id']}", headers=tenant_a.headers)
    assert (await http.post("/api/v1/agents/enroll", json={"token": second["token"], **facts})).status_code == 401
    async with await psycopg.AsyncConnection.connect(db.libpq_url) as conn:
        dump = str(await (await conn.execute("SELECT * FROM agent_device_credentials")).fetchall())
    assert body["device_credential"].split("_", 2)[2] not in dump  # stored hashed


async def test_real_agent_enrols_runs_tools_and_is_revoked(
    settings: Settings, db: Database, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    async with serve(settings, db) as (url, app), httpx.AsyncClient(base_url=url) as client:
        _, token = await _client_and_token(client, tenant_a)
        state = tmp_path / "agent"
        code, out = await _agent("enroll", "--server", url, "--token", token, state=state)
        assert code == 0, out
        device_id = _device_id(state)
        proc = await _start_agent(state)
        try:
            await _wait_presence(client, device_id, tenant_a.headers, "online")
            backend = GatewayEndpointBackend(app.state.gateway)  # type: ignore[attr-defined]
            context = ToolContext(tenant_id=tenant_a.id, device_id=device_id, idempotency_key="run1:step1")
            outcome = await backend.execute(get_tool("system_info"), {}, context)
            assert outcome.ok, outcome.error
            assert outcome.output["hostname"]
            # the same idempotency key returns the stored result, it does not run again
            again = await backend.execute(get_tool("system_info"), {}, context)
            assert again.output == outcome.output

            revoked = await client.post(f"/api/v1/devices/{device_id}/revoke-agent", headers=tenant_a.headers)
            assert revoked.status_code == 200 and revoked.json()["agent_revoked"] is True
            await _wait_presence(client, device_id, tenant_a.headers, "offline")
            await asyncio.sleep(1.5)  # the agent retries with its revoked credential...
            assert (await client.get(f"/api/v1/devices/{device_id}/presence", headers=tenant_a.headers)).json()[
                "presence"
            ] == "offline"  # ...and is refused
            events = (await client.get("/api/v1/audit/events", headers=tenant_a.headers)).json()["items"]
            assert {"agent.enroll", "agent.revoke"} <= {e["action"] for e in events}
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            await proc.wait()


async def test_dispatch_reaches_a_device_held_by_another_gateway_process(
    settings: Settings, db: Database, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    # Process 1: a real `mspclaw up` holding the device's socket. Process 2: this test's app.
    port = free_port()
    env = {
        **os.environ,
        "MSPCLAW_DATABASE_URL": db.url,
        "MSPCLAW_DATA_DIR": str(tmp_path / "p1"),
        "MSPCLAW_PORT": str(port),
        "MSPCLAW_MASTER_KEY": settings.master_key or "",
    }
    p1 = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mspclaw.cli",
        "up",
        "--no-worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    agent = None
    try:
        url1 = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url1) as c1:
            for _ in range(600):
                with contextlib.suppress(httpx.TransportError):
                    if (await c1.get("/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
            _, token = await _client_and_token(c1, tenant_a)
            state = tmp_path / "agent"
            code, out = await _agent("enroll", "--server", url1, "--token", token, state=state)
            assert code == 0, out
            agent = await _start_agent(state)
            device_id = _device_id(state)
            await _wait_presence(c1, device_id, tenant_a.headers, "online")
        async with serve(settings, db) as (_url2, app2):
            assert not app2.state.gateway.connected_devices()  # type: ignore[attr-defined]
            backend = GatewayEndpointBackend(app2.state.gateway)  # type: ignore[attr-defined]
            context = ToolContext(tenant_id=tenant_a.id, device_id=device_id, idempotency_key="cross-process-1")
            outcome = await backend.execute(get_tool("system_info"), {}, context)
            assert outcome.ok, outcome.error
    finally:
        if agent is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(agent.pid, signal.SIGTERM)
            await agent.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p1.pid, signal.SIGINT)
        await p1.wait()


async def test_device_memory_and_asset_mapping(http: httpx.AsyncClient, tenant_a: TenantFixture) -> None:
    h = tenant_a.headers
    c = (await http.post("/api/v1/clients", headers=h, json={"name": "Fabrikam"})).json()
    jane = (
        await http.post(
            "/api/v1/contacts", headers=h, json={"client_id": c["id"], "name": "Jane", "email": "jane@fabrikam.example"}
        )
    ).json()
    lt = (
        await http.post(
            "/api/v1/devices", headers=h, json={"client_id": c["id"], "hostname": "LT-0442", "contact_id": jane["id"]}
        )
    ).json()
    srv = (
        await http.post(
            "/api/v1/devices", headers=h, json={"client_id": c["id"], "hostname": "SRV-01", "role": "server"}
        )
    ).json()
    by_contact = (
        await http.post(
            "/api/v1/asset-mapping/resolve",
            headers=h,
            json={"client_id": c["id"], "contact_email": "JANE@fabrikam.example"},
        )
    ).json()
    assert by_contact["device"]["device_id"] == lt["id"] and by_contact["reason"] == "the contact's device"
    by_host = (
        await http.post("/api/v1/asset-mapping/resolve", headers=h, json={"client_id": c["id"], "hostname": "srv-01"})
    ).json()
    assert by_host["device"]["device_id"] == srv["id"]
    unknown = (await http.post("/api/v1/asset-mapping/resolve", headers=h, json={"client_id": c["id"]})).json()
    assert unknown["device"] is None and unknown["ask_technician"] is True and len(unknown["candidates"]) == 2

    assert (await http.get(f"/api/v1/devices/{lt['id']}/memory", headers=h)).json()["department"] is None
    await http.patch(f"/api/v1/devices/{lt['id']}/memory", headers=h, json={"user_name": "Jane", "department": "Sales"})
    await http.patch(f"/api/v1/devices/{lt['id']}/memory", headers=h, json={"location": "2nd floor"})
    memory = (await http.get(f"/api/v1/devices/{lt['id']}/memory", headers=h)).json()
    assert memory == {"user_name": "Jane", "department": "Sales", "location": "2nd floor", "preferred_contact": None}


async def test_agent_token_cli(db: Database, tmp_path: Path) -> None:
    from tests.foundation.test_vault_and_audit import run_cli

    await run_cli(["tenant", "create", "Acme", "--owner-email", "o@acme.example"], db.url, tmp_path)
    await run_cli(["client", "create", "Contoso"], db.url, tmp_path)
    code, out = await run_cli(["agent", "token", "create", "--client", "Contoso", "--max-uses", "5"], db.url, tmp_path)
    assert code == 0, out
    assert out.strip().splitlines()[-1].startswith("mspe_")
    code, out = await run_cli(["agent", "token", "create", "--client", "Nope"], db.url, tmp_path)
    assert code == 1 and "no client 'Nope'" in out


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def test_a_run_executes_on_a_real_agent_through_the_gateway(
    settings: Settings, db: Database, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    from tests.runs.helpers import run_worker

    gateway_settings = settings.model_copy(update={"endpoint_backend": "gateway"})
    async with serve(gateway_settings, db) as (url, _app), httpx.AsyncClient(base_url=url) as client:
        h = tenant_a.headers
        client_id, token = await _client_and_token(client, tenant_a)
        state = tmp_path / "agent"
        code, out = await _agent("enroll", "--server", url, "--token", token, state=state)
        assert code == 0, out
        device_id = _device_id(state)
        proc = await _start_agent(state)
        try:
            await _wait_presence(client, device_id, h, "online")
            started = await client.post(
                "/api/v1/runs",
                headers=h,
                json={"playbook_id": "slow-computer", "client_id": client_id, "device_id": device_id},
            )
            assert started.status_code in (200, 201, 202), started.text
            run_id = started.json()["id"]
            detail: dict = {}
            for _ in range(60):
                await run_worker(db)
                detail = (await client.get(f"/api/v1/runs/{run_id}", headers=h)).json()
                if detail["status"] in ("succeeded", "failed", "rolled_back", "cancelled"):
                    break
                await asyncio.sleep(0.2)
            assert detail["status"] == "succeeded", detail
            info = next(s for s in detail["steps"] if s["tool"] == "system_info")
            assert info["status"] == "succeeded" and info["backend"] == "endpoint"
            assert info["output"]["hostname"]  # measured on the device by the agent process
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            await proc.wait()
