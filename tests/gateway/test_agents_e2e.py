"""Real agent processes against a real gateway socket: enrol, run tools, revocation,
replacement, queued work, and exactly-once result delivery across a server restart."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
from collections.abc import Callable
from datetime import timedelta

import pytest
from mspclaw_agent.protocol import ApprovalRequest, Question, utcnow

from mspclaw.errors import NotFound
from mspclaw.gateway import DispatchTimeout, InProcessRouter, Presence

from .conftest import (
    AgentProcess,
    GatewayServer,
    MemoryRegistry,
    copy_state,
    free_port,
    is_online,
    wait_for,
)

AgentFactory = Callable[[str], AgentProcess]


async def outbox_empty(agent: AgentProcess) -> bool:
    return (await agent.status())["undelivered_results"] == 0


async def online_agent(server: GatewayServer, agents: AgentFactory, name: str = "a") -> str:
    agent = agents(name)
    device_id = await agent.enroll(server)
    await agent.start()
    await wait_for(lambda: is_online(server, device_id))
    return device_id


async def test_enrolled_agent_runs_real_tools(
    server: GatewayServer, agents: AgentFactory, registry: MemoryRegistry
) -> None:
    agent = agents("a")
    device_id = await agent.enroll(server)

    # The server learnt the device's facts; the state file holding the credential is private.
    assert registry.facts[device_id]["hostname"] == socket.gethostname()
    assert registry.facts[device_id]["os"] == "linux"
    mode = stat.S_IMODE(os.stat(agent.state_dir / "state.json").st_mode)
    assert mode == 0o600
    status = await agent.status()
    assert status["device_id"] == device_id
    credential = next(iter(registry.credentials))
    assert credential not in str(status)

    await agent.start()
    await wait_for(lambda: is_online(server, device_id))
    presence = server.gateway.presence(device_id)
    assert "system_info" in presence.tools

    info = await server.gateway.dispatch(device_id, "system_info", {}, timeout=20)
    assert info.ok, info.error
    assert info.output["hostname"] == socket.gethostname()

    disk = await server.gateway.dispatch(device_id, "disk_usage", {}, timeout=20)
    assert disk.ok, disk.error

    refused = await server.gateway.dispatch(device_id, "run_shell", {"cmd": "id"}, timeout=10)
    assert not refused.ok
    assert refused.error is not None and "allow-list" in refused.error

    invalid = await server.gateway.dispatch(device_id, "top_processes", {"limit": 10_000})
    assert not invalid.ok and invalid.error is not None

    # Every result reached the store exactly once.
    stored_ids = [r.command_id for _, r in server.stored]
    assert len(stored_ids) == len(set(stored_ids)) == 4
    await wait_for(lambda: outbox_empty(agent))


async def test_redispatch_replays_result_instead_of_rerunning(server: GatewayServer, agents: AgentFactory) -> None:
    device_id = await online_agent(server, agents)
    first = await server.gateway.dispatch(device_id, "system_info", {}, command_id="cmd-42")
    again = await server.gateway.dispatch(device_id, "system_info", {}, command_id="cmd-42")
    # A re-run would have a new duration and a new uptime; a replay is identical.
    assert first == again
    assert [r.command_id for _, r in server.stored] == ["cmd-42"]


async def test_revocation_disconnects_at_once(
    server: GatewayServer, agents: AgentFactory, registry: MemoryRegistry
) -> None:
    agent = agents("a")
    device_id = await agent.enroll(server)
    await agent.start()
    await wait_for(lambda: is_online(server, device_id))

    registry.revoke(device_id)
    assert await server.gateway.disconnect(device_id, "revoked")
    assert server.gateway.presence(device_id).presence is Presence.OFFLINE
    assert agent.proc is not None
    assert await asyncio.wait_for(agent.proc.wait(), 10) == 3  # EXIT_REVOKED
    assert server.gateway.connection_count == 0
    assert not await server.gateway.disconnect(device_id, "revoked")


async def test_agent_revoked_while_offline_stops_after_repeated_refusals(
    server: GatewayServer, agents: AgentFactory, registry: MemoryRegistry
) -> None:
    agent = agents("a")
    device_id = await agent.enroll(server)
    registry.revoke(device_id)
    await agent.start()
    assert agent.proc is not None
    assert await asyncio.wait_for(agent.proc.wait(), 15) == 3
    assert agent.proc.stderr is not None
    assert "HTTP 403" in (await agent.proc.stderr.read()).decode()
    assert server.gateway.presence(device_id).presence is Presence.OFFLINE


async def test_second_agent_for_same_device_replaces_first(server: GatewayServer, agents: AgentFactory) -> None:
    first = agents("first")
    device_id = await first.enroll(server)
    await first.start(max_backoff=60)  # once replaced it waits the maximum before retrying
    await wait_for(lambda: is_online(server, device_id))
    since = server.gateway.presence(device_id).connected_since
    assert since is not None

    second = agents("second")
    copy_state(first, second)
    await second.start()

    def replaced() -> bool:
        newer = server.gateway.presence(device_id).connected_since
        return newer is not None and newer > since

    await wait_for(replaced)
    assert server.gateway.connection_count == 1
    outcome = await server.gateway.dispatch(device_id, "system_info", {}, timeout=20)
    assert outcome.ok
    # The first process is alive and quiet (backing off), not fighting for the slot.
    await asyncio.sleep(1.0)
    assert first.proc is not None and first.proc.returncode is None
    assert server.gateway.connection_count == 1
    assert replaced()


async def test_queued_work_runs_when_device_reconnects(server: GatewayServer, agents: AgentFactory) -> None:
    agent = agents("a")
    device_id = await agent.enroll(server)
    command = await server.gateway.submit(device_id, "system_info", {}, deadline=utcnow() + timedelta(seconds=30))
    assert server.gateway.pending_for(device_id) == [command.command_id]
    await agent.start()
    outcome = await asyncio.wait_for(command.future, 20)
    assert outcome.ok
    assert server.gateway.pending_for(device_id) == []


async def test_queued_work_expires_at_its_deadline(server: GatewayServer) -> None:
    with pytest.raises(DispatchTimeout):
        await server.gateway.dispatch("never-connected", "system_info", {}, deadline=utcnow() + timedelta(seconds=0.3))
    assert server.gateway.pending_for("never-connected") == []


async def test_command_for_another_tenant_never_reaches_the_device(server: GatewayServer, agents: AgentFactory) -> None:
    device_id = await online_agent(server, agents)
    with pytest.raises(NotFound):
        await server.gateway.dispatch(device_id, "system_info", {}, tenant_id="tenant-b")
    ok = await server.gateway.dispatch(device_id, "system_info", {}, tenant_id="tenant-a")
    assert ok.ok
    assert len(server.stored) == 1


async def test_questions_and_consent_without_a_user_are_answered_unavailable(
    server: GatewayServer, agents: AgentFactory
) -> None:
    device_id = await online_agent(server, agents)
    answer = await server.gateway.ask(
        device_id, Question(question_id="q1", prompt="Which department are you in?", timeout=5)
    )
    assert answer.status == "unavailable"
    assert answer.answer is None
    consent = await server.gateway.request_approval(
        device_id, ApprovalRequest(request_id="r1", title="Restart the print spooler?", timeout=5)
    )
    assert consent.status == "unavailable"


async def test_result_produced_while_disconnected_is_delivered_once_after_restart(
    registry: MemoryRegistry, agents: AgentFactory
) -> None:
    port = free_port()
    first = GatewayServer(registry=registry, port=port)
    await first.start()
    agent = agents("a")
    device_id = await agent.enroll(first)
    await agent.start()
    await wait_for(lambda: is_online(first, device_id))

    # top_processes samples CPU for 0.5 s: the server is gone before the result exists.
    command = await first.gateway.submit(device_id, "top_processes", {"limit": 3})
    await first.stop()
    await asyncio.sleep(1.5)
    assert (await agent.status())["undelivered_results"] == 1

    second = GatewayServer(registry=registry, port=port)
    await second.start()
    try:
        await wait_for(lambda: len(second.stored) == 1)
        assert second.stored[0][1].command_id == command.command_id
        assert second.stored[0][1].outcome.ok
        await wait_for(lambda: outbox_empty(agent))
        # Another reconnect must not deliver it again.
        await second.gateway.disconnect(device_id, "maintenance")
        await wait_for(lambda: is_online(second, device_id))
        await asyncio.sleep(0.5)
        assert [r.command_id for _, r in second.stored] == [command.command_id]
    finally:
        await second.stop()


async def test_unstored_result_stays_in_outbox_until_a_server_stores_it(
    registry: MemoryRegistry, agents: AgentFactory
) -> None:
    port = free_port()
    first = GatewayServer(registry=registry, port=port, sink_fails=True)
    await first.start()
    agent = agents("a")
    device_id = await agent.enroll(first)
    await agent.start()
    await wait_for(lambda: is_online(first, device_id))

    command = await first.gateway.submit(device_id, "system_info", {})
    await wait_for(lambda: first.sink_failures >= 1)
    assert not command.future.done()
    assert (await agent.status())["undelivered_results"] == 1
    await first.stop()
    # The outbox is on disk: a restarted agent process still delivers it.
    await agent.stop()
    await agent.start()

    second = GatewayServer(registry=registry, port=port)
    await second.start()
    try:
        await wait_for(lambda: len(second.stored) == 1)
        assert second.stored[0][1].command_id == command.command_id
        await wait_for(lambda: outbox_empty(agent))
        assert len(second.stored) == 1
    finally:
        await second.stop()


async def test_dispatch_is_routed_to_the_gateway_holding_the_socket(
    registry: MemoryRegistry, agents: AgentFactory
) -> None:
    router = InProcessRouter()
    a = GatewayServer(registry=registry, port=free_port(), router=router)
    b = GatewayServer(registry=registry, port=free_port(), router=router)
    await a.start()
    await b.start()
    try:
        device_id = await online_agent(b, agents)
        assert a.gateway.presence(device_id).presence is Presence.OFFLINE
        outcome = await a.gateway.dispatch(device_id, "system_info", {}, timeout=20)
        assert outcome.ok
        # Stored once, by the process that received it from the device.
        assert len(b.stored) == 1 and a.stored == []

        # Revocation issued on A closes the socket held by B.
        registry.revoke(device_id)
        await a.gateway.disconnect(device_id, "revoked")
        await wait_for(lambda: b.gateway.connection_count == 0)
    finally:
        await a.stop()
        await b.stop()
