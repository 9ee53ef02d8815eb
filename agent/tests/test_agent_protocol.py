"""The wire protocol: every message round-trips, and no input escapes as anything but a
typed ProtocolError."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mspclaw_agent.protocol import (
    MAX_MESSAGE_BYTES,
    Ack,
    Answer,
    ApprovalRequest,
    ApprovalResponse,
    Bye,
    Dispatch,
    Error,
    Heartbeat,
    Hello,
    HelloAck,
    Progress,
    ProtocolError,
    Question,
    Result,
    ToolOutcome,
    encode_message,
    parse_message,
)

EXAMPLES = [
    Hello(device_id="d1", agent_version="0.1.0", os="linux", hostname="pc", tools=["ping"]),
    HelloAck(device_id="d1", heartbeat_seconds=15),
    Heartbeat(),
    Dispatch(
        command_id="c1",
        tool="ping",
        args={"host": "1.1.1.1"},
        timeout=5,
        deadline=datetime(2030, 1, 1, tzinfo=UTC),
    ),
    Result(command_id="c1", outcome=ToolOutcome(tool="ping", ok=True, output={"loss": 0})),
    Ack(command_id="c1"),
    Progress(command_id="c1", message="half way", percent=50),
    ApprovalRequest(request_id="r1", title="Restart the print spooler?"),
    ApprovalResponse(request_id="r1", status="approved"),
    Question(question_id="q1", prompt="Department?", key="department", choices=["IT", "Sales"]),
    Answer(question_id="q1", status="answered", answer="Sales"),
    Error(code="oversize", message="too big"),
    Bye(reason="replaced"),
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.type)
def test_every_message_round_trips(message: object) -> None:
    assert parse_message(encode_message(message)) == message  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{", "malformed"),
        ("42", "malformed"),
        (json.dumps({"no": "type"}), "unknown_type"),
        (json.dumps({"type": "shell", "cmd": "rm -rf /"}), "unknown_type"),
        (json.dumps({"type": "dispatch", "tool": "ping"}), "invalid"),
        (json.dumps({"type": "progress", "command_id": "c", "percent": 250}), "invalid"),
        ("a" * (MAX_MESSAGE_BYTES + 1), "oversize"),
        (b"\x80\x81", "malformed"),
        ("[" * 50_000, "malformed"),
    ],
)
def test_bad_input_is_a_typed_protocol_error(raw: str | bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_message(raw)
    assert caught.value.code == code


def test_unknown_fields_from_a_newer_peer_are_ignored() -> None:
    message = parse_message(json.dumps({"type": "ack", "command_id": "c1", "future": 1}))
    assert message == Ack(command_id="c1")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(
    st.dictionaries(
        st.sampled_from(["type", "command_id", "tool", "args", "outcome", "device_id", "x"]),
        json_values | st.sampled_from(["dispatch", "result", "hello", "ack", "bye"]),
    )
)
def test_arbitrary_objects_parse_or_fail_typed(data: dict[str, object]) -> None:
    try:
        parse_message(json.dumps(data))
    except ProtocolError as exc:
        assert exc.code in {"unknown_type", "invalid", "malformed"}


@given(st.binary(max_size=200) | st.text(max_size=200))
def test_arbitrary_bytes_parse_or_fail_typed(raw: str | bytes) -> None:
    try:
        parse_message(raw)
    except ProtocolError as exc:
        assert exc.code in {"unknown_type", "invalid", "malformed"}
