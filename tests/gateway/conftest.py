"""A real server for gateway tests: uvicorn on 127.0.0.1 mounting the gateway, with an
in-memory device registry standing in for the database, plus real agent processes."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, HTTPException
from mspclaw_agent.protocol import Result
from pydantic import BaseModel

from mspclaw.gateway import (
    DeviceIdentity,
    DispatchRouter,
    Gateway,
    Presence,
    gateway_router,
)

AGENT_BIN = Path(sys.executable).with_name("mspclaw-agent")


class MemoryRegistry:
    """Enrolment tokens and device credentials kept in memory (the DB's job in production)."""

    def __init__(self, tenant_id: str = "tenant-a") -> None:
        self.tenant_id = tenant_id
        self.tokens: dict[str, str] = {}  # token -> client id
        self.credentials: dict[str, DeviceIdentity] = {}
        self.facts: dict[str, dict[str, Any]] = {}

    def create_token(self, client_id: str = "client-1") -> str:
        token = secrets.token_urlsafe(16)
        self.tokens[token] = client_id
        return token

    def add_device(self, device_id: str | None = None, tenant_id: str | None = None) -> str:
        """Register a device directly; returns its credential."""
        credential = secrets.token_urlsafe(24)
        self.credentials[credential] = DeviceIdentity(
            tenant_id=tenant_id or self.tenant_id,
            device_id=device_id or uuid.uuid4().hex,
            client_id="client-1",
        )
        return credential

    def revoke(self, device_id: str) -> None:
        for credential, identity in list(self.credentials.items()):
            if identity.device_id == device_id:
                del self.credentials[credential]

    async def authenticate(self, credential: str) -> DeviceIdentity | None:
        return self.credentials.get(credential)


class EnrolRequest(BaseModel):
    token: str
    hostname: str
    os: str
    os_version: str
    serial: str
    logged_in_user: str
    agent_version: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class GatewayServer:
    """One gateway process's worth of server, running in the test's event loop."""

    registry: MemoryRegistry
    port: int
    router: DispatchRouter | None = None
    sink_fails: bool = False
    stored: list[tuple[str, Result]] = field(default_factory=list)
    sink_failures: int = 0
    gateway: Gateway = field(init=False)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _sink(self, identity: DeviceIdentity, result: Result) -> None:
        if self.sink_fails:
            self.sink_failures += 1
            raise RuntimeError("database unavailable")
        self.stored.append((identity.device_id, result))

    def build_app(self) -> FastAPI:
        app = FastAPI()
        app.include_router(gateway_router(self.gateway))

        @app.post("/api/v1/agents/enroll")
        async def enroll(body: EnrolRequest) -> dict[str, str]:
            client_id = self.registry.tokens.get(body.token)
            if client_id is None:
                raise HTTPException(status_code=401, detail="unknown enrolment token")
            device_id = uuid.uuid4().hex
            credential = secrets.token_urlsafe(24)
            self.registry.credentials[credential] = DeviceIdentity(
                tenant_id=self.registry.tenant_id, device_id=device_id, client_id=client_id
            )
            self.registry.facts[device_id] = body.model_dump()
            return {
                "device_id": device_id,
                "device_credential": credential,
                "gateway_url": "/gateway/ws",
            }

        return app

    async def start(self) -> None:
        self.gateway = Gateway(
            self.registry,
            router=self.router,
            result_sink=self._sink,
            heartbeat_seconds=1.0,
            hello_timeout=2.0,
        )
        await self.gateway.start()
        config = uvicorn.Config(
            self.build_app(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws_per_message_deflate=False,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        await self.gateway.close()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 10)
        self._server = None


async def wait_for(
    predicate: Callable[[], bool] | Callable[[], Awaitable[bool]],
    within: float = 10.0,
    step: float = 0.05,
) -> None:
    """Poll until ``predicate`` holds (fails the test after ``within`` seconds)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        value = predicate()
        if not isinstance(value, bool):
            value = await value
        if value:
            return
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)


def agent_env() -> dict[str, str]:
    """The agent's environment: no display and no tty, like a headless service."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class AgentProcess:
    """A real ``mspclaw-agent`` process with its own state directory."""

    state_dir: Path
    proc: asyncio.subprocess.Process | None = None

    async def cli(self, *args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            str(AGENT_BIN),
            "--state-dir",
            str(self.state_dir),
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=agent_env(),
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        return proc.returncode or 0, out.decode(), err.decode()

    async def enroll(self, server: GatewayServer) -> str:
        code, _out, err = await self.cli(
            # "--token=" form: a URL-safe token may start with "-".
            "enroll",
            "--server",
            server.url,
            f"--token={server.registry.create_token()}",
        )
        assert code == 0, err
        return str(json.loads((self.state_dir / "state.json").read_text())["device_id"])

    @property
    def device_id(self) -> str:
        return str(json.loads((self.state_dir / "state.json").read_text())["device_id"])

    async def start(self, *, max_backoff: float = 0.5) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            str(AGENT_BIN),
            "--state-dir",
            str(self.state_dir),
            "run",
            "--min-backoff",
            "0.1",
            "--max-backoff",
            str(max_backoff),
            "--heartbeat",
            "0.5",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=agent_env(),
        )

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await asyncio.wait_for(self.proc.wait(), 10)

    async def status(self) -> dict[str, Any]:
        code, out, err = await self.cli("status")
        assert code == 0, err
        return dict(json.loads(out))


def is_online(server: GatewayServer, device_id: str) -> bool:
    return server.gateway.presence(device_id).presence is Presence.ONLINE


@pytest.fixture
async def registry() -> MemoryRegistry:
    return MemoryRegistry()


@pytest.fixture
async def server(registry: MemoryRegistry) -> AsyncIterator[GatewayServer]:
    srv = GatewayServer(registry=registry, port=free_port())
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def agents(tmp_path: Path) -> AsyncIterator[Callable[[str], AgentProcess]]:
    made: list[AgentProcess] = []

    def make(name: str = "agent") -> AgentProcess:
        agent = AgentProcess(state_dir=tmp_path / name)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        await agent.stop()


def copy_state(source: AgentProcess, target: AgentProcess) -> None:
    """Clone an enrolment (what a second process claiming the same device would have)."""
    target.state_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source.state_dir / "state.json", target.state_dir / "state.json")
