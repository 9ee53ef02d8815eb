"""The gateway socket against hostile or odd clients: bad credentials, wrong identity,
malformed and oversize frames, abrupt disconnects, and racing replacement connections."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from mspclaw_agent.protocol import MAX_MESSAGE_BYTES
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from mspclaw.gateway import Presence

from .conftest import GatewayServer, MemoryRegistry, wait_for


def ws_url(server: GatewayServer) -> str:
    return f"ws://127.0.0.1:{server.port}/gateway/ws"


async def open_device(
    server: GatewayServer, credential: str, device_id: str
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(
        ws_url(server),
        additional_headers={"Authorization": f"Bearer {credential}"},
        compression=None,
        max_size=None,
    )
    await ws.send(
        json.dumps(
            {
                "type": "hello",
                "device_id": device_id,
                "agent_version": "test",
                "os": "linux",
                "hostname": "raw-client",
                "tools": ["system_info"],
            }
        )
    )
    return ws, json.loads(await ws.recv())


async def next_message(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of ``kind`` (heartbeat chatter skipped)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message["type"] == kind:
            return dict(message)


async def test_unknown_credential_is_refused_before_upgrade(server: GatewayServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(ws_url(server), additional_headers={"Authorization": "Bearer nope"})
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus):
        await connect(ws_url(server))
    assert server.gateway.connection_count == 0


async def test_authenticator_failure_is_a_retryable_503_not_a_refusal(
    server: GatewayServer, registry: MemoryRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def database_down(credential: str) -> None:
        raise ConnectionError("database unavailable")

    monkeypatch.setattr(registry, "authenticate", database_down)
    with pytest.raises(InvalidStatus) as refused:
        await connect(ws_url(server), additional_headers={"Authorization": "Bearer x"})
    assert refused.value.response.status_code == 503
    assert server.gateway.connection_count == 0


async def test_hello_for_another_device_is_rejected(server: GatewayServer, registry: MemoryRegistry) -> None:
    credential = registry.add_device("device-1")
    registry.add_device("device-2")
    ws, reply = await open_device(server, credential, "device-2")
    assert reply == {
        "type": "error",
        "code": "identity_mismatch",
        "message": "hello names a different device than the credential",
        "command_id": None,
    }
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert server.gateway.presence("device-2").presence is Presence.OFFLINE
    assert server.gateway.connection_count == 0


async def test_malformed_and_oversize_frames_get_errors_and_the_socket_survives(
    server: GatewayServer, registry: MemoryRegistry
) -> None:
    credential = registry.add_device("device-1")
    ws, ack = await open_device(server, credential, "device-1")
    assert ack["type"] == "hello_ack"

    bad_frames: list[str | bytes] = [
        "not json at all",
        "[1, 2, 3]",
        json.dumps({"type": "teleport"}),
        json.dumps({"type": "result", "command_id": 7}),
        b"\xff\xfe binary junk",
        "x" * (MAX_MESSAGE_BYTES + 10),
        json.dumps({"type": "heartbeat", "sent_at": "not a date"}),
        "[" * 100_000,
    ]
    codes = []
    for frame in bad_frames:
        await ws.send(frame)
        codes.append((await next_message(ws, "error"))["code"])
    assert codes == [
        "malformed",
        "malformed",
        "unknown_type",
        "invalid",
        "malformed",
        "oversize",
        "invalid",
        "malformed",
    ]

    # Still registered, still serving: a dispatch reaches this socket and its result returns.
    assert server.gateway.presence("device-1").presence is Presence.ONLINE
    task = asyncio.create_task(server.gateway.dispatch("device-1", "system_info", {}, timeout=5))
    dispatch = await next_message(ws, "dispatch")
    await ws.send(
        json.dumps(
            {
                "type": "result",
                "command_id": dispatch["command_id"],
                "outcome": {"tool": "system_info", "ok": True, "output": {"hostname": "raw"}},
            }
        )
    )
    assert (await next_message(ws, "ack"))["command_id"] == dispatch["command_id"]
    outcome = await task
    assert outcome.output == {"hostname": "raw"}
    await ws.close()
    await wait_for(lambda: server.gateway.connection_count == 0)


async def test_a_device_cannot_answer_another_devices_command(server: GatewayServer, registry: MemoryRegistry) -> None:
    ws1, _ = await open_device(server, registry.add_device("device-1"), "device-1")
    ws2, _ = await open_device(server, registry.add_device("device-2"), "device-2")
    task = asyncio.create_task(server.gateway.dispatch("device-1", "system_info", {}, timeout=5))
    dispatch = await next_message(ws1, "dispatch")
    forged = {
        "type": "result",
        "command_id": dispatch["command_id"],
        "outcome": {"tool": "system_info", "ok": True, "output": {"forged": True}},
    }
    await ws2.send(json.dumps(forged))
    assert (await next_message(ws2, "error"))["code"] == "unknown_command"
    assert not task.done()
    forged["outcome"]["output"] = {"genuine": True}  # type: ignore[index]
    await ws1.send(json.dumps(forged))
    assert (await task).output == {"genuine": True}
    await ws1.close()
    await ws2.close()


async def test_abrupt_disconnect_leaves_no_registration(server: GatewayServer, registry: MemoryRegistry) -> None:
    credential = registry.add_device("device-1")
    ws, _ = await open_device(server, credential, "device-1")
    assert server.gateway.connection_count == 1
    ws.transport.abort()  # no close frame, like a pulled network cable
    await wait_for(lambda: server.gateway.connection_count == 0)
    presence = server.gateway.presence("device-1")
    assert presence.presence is Presence.OFFLINE
    assert presence.last_seen is not None


async def test_silent_device_goes_overdue(server: GatewayServer, registry: MemoryRegistry) -> None:
    credential = registry.add_device("device-1")
    ws, _ = await open_device(server, credential, "device-1")
    assert server.gateway.presence("device-1").presence is Presence.ONLINE
    # The test server expects a heartbeat every second; three missed make it overdue.
    await wait_for(lambda: server.gateway.presence("device-1").presence is Presence.OVERDUE, within=6)
    await ws.send(json.dumps({"type": "heartbeat"}))
    await wait_for(lambda: server.gateway.presence("device-1").presence is Presence.ONLINE)
    await ws.close()


async def test_racing_connections_for_one_device_leave_the_newest_alive(
    server: GatewayServer, registry: MemoryRegistry
) -> None:
    credential = registry.add_device("device-1")
    survivors = []
    for _ in range(5):
        # Two sockets for the same device handshake concurrently.
        (ws_a, ack_a), (ws_b, ack_b) = await asyncio.gather(
            open_device(server, credential, "device-1"),
            open_device(server, credential, "device-1"),
        )
        assert ack_a["type"] == ack_b["type"] == "hello_ack"
        await wait_for(lambda: ws_a.close_code is not None or ws_b.close_code is not None)
        await asyncio.sleep(0.2)  # a second close, if the race dropped both, would land by now
        closed = [ws for ws in (ws_a, ws_b) if ws.close_code is not None]
        alive = [ws for ws in (ws_a, ws_b) if ws.close_code is None]
        assert len(closed) == 1 and len(alive) == 1
        assert server.gateway.connection_count == 1
        # The surviving socket is the registered one: it receives the next dispatch.
        task = asyncio.create_task(server.gateway.dispatch("device-1", "system_info", timeout=5))
        dispatch = await next_message(alive[0], "dispatch")
        await alive[0].send(
            json.dumps(
                {
                    "type": "result",
                    "command_id": dispatch["command_id"],
                    "outcome": {"tool": "system_info", "ok": True},
                }
            )
        )
        assert (await task).ok
        survivors.append(alive[0])
        # The next round replaces this survivor too.
    for ws in survivors[:-1]:
        assert ws.close_code == 4409
    await survivors[-1].close()
    await wait_for(lambda: server.gateway.connection_count == 0)
