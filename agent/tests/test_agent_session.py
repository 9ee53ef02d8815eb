"""A real ``mspclaw-agent run`` process against a scripted gateway: the agent's side of the
protocol (hello, garbage from the server, allow-list, replay, bye)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mspclaw_agent.state import StateStore, new_state
from websockets.asyncio.server import Server, ServerConnection, serve

AGENT_BIN = Path(sys.executable).with_name("mspclaw-agent")
CREDENTIAL = "device-credential-123"


class ScriptedGateway:
    """Accepts one agent at a time and lets the test drive the conversation."""

    def __init__(self) -> None:
        self.sessions: asyncio.Queue[ServerConnection] = asyncio.Queue()
        self.auth_headers: list[str | None] = []
        self.server: Server | None = None

    async def handler(self, ws: ServerConnection) -> None:
        self.auth_headers.append(ws.request.headers.get("Authorization") if ws.request else None)
        await self.sessions.put(ws)
        await ws.wait_closed()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def gateway() -> AsyncIterator[ScriptedGateway]:
    scripted = ScriptedGateway()
    async with serve(scripted.handler, "127.0.0.1", 0, compression=None) as server:
        scripted.server = server
        yield scripted


async def recv(ws: ServerConnection, kind: str) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 15))
        if message["type"] == kind:
            return dict(message)


async def start_agent(tmp_path: Path, port: int) -> asyncio.subprocess.Process:
    store = StateStore(tmp_path / "state")
    store.save_state(
        new_state(
            server_url=f"http://127.0.0.1:{port}",
            gateway_url="/",
            device_id="dev-1",
            device_credential=CREDENTIAL,
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return await asyncio.create_subprocess_exec(
        str(AGENT_BIN),
        "--state-dir",
        str(store.directory),
        "run",
        "--min-backoff",
        "0.1",
        "--max-backoff",
        "0.3",
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )


async def test_agent_side_of_the_protocol(gateway: ScriptedGateway, tmp_path: Path) -> None:
    agent = await start_agent(tmp_path, gateway.port)
    try:
        ws = await asyncio.wait_for(gateway.sessions.get(), 15)
        assert gateway.auth_headers == [f"Bearer {CREDENTIAL}"]
        hello = await recv(ws, "hello")
        assert hello["device_id"] == "dev-1"
        assert "system_info" in hello["tools"]
        assert "run_shell" not in hello["tools"]
        await ws.send(json.dumps({"type": "hello_ack", "device_id": "dev-1"}))

        # Garbage from the server is answered, not fatal.
        await ws.send("{{{ not json")
        assert (await recv(ws, "error"))["code"] == "malformed"
        await ws.send(json.dumps({"type": "format_disk"}))
        assert (await recv(ws, "error"))["code"] == "unknown_type"

        # A tool outside the allow-list is refused with a result, never run.
        await ws.send(json.dumps({"type": "dispatch", "command_id": "c0", "tool": "run_shell"}))
        refused = await recv(ws, "result")
        assert refused["command_id"] == "c0" and not refused["outcome"]["ok"]

        await ws.send(json.dumps({"type": "dispatch", "command_id": "c1", "tool": "system_info"}))
        first = await recv(ws, "result")
        assert first["outcome"]["ok"], first
        await ws.send(json.dumps({"type": "ack", "command_id": "c1"}))
        # Re-sent dispatch of a finished command: the stored result, byte for byte.
        await ws.send(json.dumps({"type": "dispatch", "command_id": "c1", "tool": "system_info"}))
        assert await recv(ws, "result") == first

        # Unacked results come back after a reconnect; acked ones do not.
        await ws.close()
        ws = await asyncio.wait_for(gateway.sessions.get(), 15)
        await recv(ws, "hello")
        await ws.send(json.dumps({"type": "hello_ack", "device_id": "dev-1"}))
        resent = await recv(ws, "result")
        assert resent["command_id"] == "c0"
        await ws.send(json.dumps({"type": "ack", "command_id": "c0"}))
        # The outbox flush precedes new work: had c1 been resent it would come before c2.
        await ws.send(json.dumps({"type": "dispatch", "command_id": "c2", "tool": "disk_usage"}))
        assert (await recv(ws, "result"))["command_id"] == "c2"

        await ws.send(json.dumps({"type": "bye", "reason": "revoked"}))
        assert await asyncio.wait_for(agent.wait(), 15) == 3
    finally:
        if agent.returncode is None:
            agent.kill()
            await agent.wait()
