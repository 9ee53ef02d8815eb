"""The agent's state directory: private enrolment file, outbox until ack, replay store."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from mspclaw_agent.connection import Backoff, fit_result, websocket_url
from mspclaw_agent.protocol import MAX_MESSAGE_BYTES, Result, ToolOutcome, encode_message
from mspclaw_agent.state import AgentStateError, StateStore, new_state


def result(command_id: str, **output: object) -> Result:
    return Result(command_id=command_id, outcome=ToolOutcome(tool="system_info", ok=True, output=output))


def test_state_file_is_private_and_round_trips(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "agent")
    with pytest.raises(AgentStateError, match="not enrolled"):
        store.load_state()
    state = new_state(
        server_url="https://msp.example",
        gateway_url="/gateway/ws",
        device_id="d1",
        device_credential="secret-credential",
    )
    path = store.save_state(state)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.directory).st_mode) == 0o700
    assert store.load_state() == state
    (store.directory / "state.json").write_text("{broken")
    with pytest.raises(AgentStateError, match="cannot read"):
        store.load_state()


def test_outbox_keeps_results_until_acked_then_replays_them(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.ensure()
    store.put_result(result("c1", n=1))
    store.put_result(result("../../etc/passwd", n=2))  # ids never become paths
    assert [r.command_id for r in store.pending_results()] == ["c1", "../../etc/passwd"]
    assert not (tmp_path.parent / "etc").exists()

    assert store.ack("c1")
    assert not store.ack("c1")
    assert [r.command_id for r in store.pending_results()] == ["../../etc/passwd"]
    # Acked results still answer a re-sent dispatch.
    replay = store.stored_result("c1")
    assert replay is not None and replay.outcome.output == {"n": 1}
    assert store.stored_result("never-ran") is None


def test_torn_outbox_file_does_not_block_the_others(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.ensure()
    store.put_result(result("good"))
    (store.outbox_dir / "junk.json").write_text("{not json")
    assert [r.command_id for r in store.pending_results()] == ["good"]


def test_oversize_output_is_dropped_and_flagged() -> None:
    big = result("c1", blob="x" * (MAX_MESSAGE_BYTES + 1))
    fitted = fit_result(big)
    assert fitted.outcome.truncated
    assert len(encode_message(fitted)) < MAX_MESSAGE_BYTES
    small = result("c2", n=1)
    assert fit_result(small) == small


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    backoff = Backoff(initial=1, maximum=30)
    for attempt in range(12):
        ceiling = min(30, 2**attempt)
        delays = {backoff.delay(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jitter: agents do not reconnect in lockstep


@pytest.mark.parametrize(
    ("gateway", "server", "expected"),
    [
        ("/gateway/ws", "https://msp.example", "wss://msp.example/gateway/ws"),
        ("/gateway/ws", "http://127.0.0.1:8000/", "ws://127.0.0.1:8000/gateway/ws"),
        ("wss://gw.example/gateway/ws", "https://msp.example", "wss://gw.example/gateway/ws"),
        ("https://gw.example/gateway/ws", "https://msp.example", "wss://gw.example/gateway/ws"),
    ],
)
def test_gateway_url_resolution(gateway: str, server: str, expected: str) -> None:
    assert websocket_url(gateway, server) == expected
