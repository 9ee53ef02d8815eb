"""The wire protocol between the endpoint agent and the MSPclaw gateway.

Owns the versioned, typed messages (a pydantic union discriminated on ``type``), the
size limit, and :func:`parse_message`, which turns any bad input into a typed
:class:`ProtocolError` instead of an unhandled exception. The server imports this module.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

PROTOCOL_VERSION = 1
# One frame carries at most one tool result; tools cap their own output well below this.
MAX_MESSAGE_BYTES = 1024 * 1024
# The agent sends a heartbeat this often unless the server's hello_ack says otherwise.
DEFAULT_HEARTBEAT_SECONDS = 30.0


def utcnow() -> datetime:
    """Now, UTC and timezone-aware (all protocol timestamps are)."""
    return datetime.now(UTC)


class ProtocolError(Exception):
    """A message that cannot be accepted; ``code`` is what the peer receives in ``error``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Message(BaseModel):
    # Unknown fields are ignored so a newer peer can add optional fields without a
    # protocol version bump; frozen because messages are values, not state.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ToolOutcome(BaseModel):
    """What running one tool produced; mirrors ``mspclaw_agent.tools.ToolOutcome``."""

    model_config = ConfigDict(extra="ignore")

    tool: str
    ok: bool
    output: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    truncated: bool = False
    duration_ms: int = 0


class Hello(_Message):
    """First message from the agent after the socket opens."""

    type: Literal["hello"] = "hello"
    device_id: str
    agent_version: str
    protocol_version: int = PROTOCOL_VERSION
    os: str
    os_version: str = ""
    hostname: str
    tools: list[str] = Field(default_factory=list)


class HelloAck(_Message):
    """The server accepted the hello; tells the agent how often to heartbeat."""

    type: Literal["hello_ack"] = "hello_ack"
    device_id: str
    protocol_version: int = PROTOCOL_VERSION
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    server_time: datetime = Field(default_factory=utcnow)


class Heartbeat(_Message):
    """Keeps presence fresh; either side may send it."""

    type: Literal["heartbeat"] = "heartbeat"
    sent_at: datetime = Field(default_factory=utcnow)


class Dispatch(_Message):
    """Run one allow-listed tool; ``deadline`` is when the server stops waiting."""

    type: Literal["dispatch"] = "dispatch"
    command_id: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    timeout: float | None = None
    deadline: datetime | None = None


class Result(_Message):
    """The outcome of a dispatch; the agent resends it until the server acks it."""

    type: Literal["result"] = "result"
    command_id: str
    outcome: ToolOutcome


class Ack(_Message):
    """The server stored the result for ``command_id``; the agent may forget it."""

    type: Literal["ack"] = "ack"
    command_id: str


class Progress(_Message):
    """Intermediate news about a running command."""

    type: Literal["progress"] = "progress"
    command_id: str
    message: str = ""
    percent: float | None = Field(default=None, ge=0, le=100)


class ApprovalRequest(_Message):
    """Ask the person at the device for consent before something happens."""

    type: Literal["approval_request"] = "approval_request"
    request_id: str
    title: str
    message: str = ""
    timeout: float = 300.0


class ApprovalResponse(_Message):
    """The local user's decision; ``unavailable`` when nobody could be asked."""

    type: Literal["approval_response"] = "approval_response"
    request_id: str
    status: Literal["approved", "denied", "unavailable", "timeout"]


class Question(_Message):
    """A question for the person at the device (``key`` names the fact, e.g. department)."""

    type: Literal["question"] = "question"
    question_id: str
    prompt: str
    key: str | None = None
    choices: list[str] = Field(default_factory=list)
    timeout: float = 300.0


class Answer(_Message):
    """The local user's answer; ``answer`` is None unless ``status`` is answered."""

    type: Literal["answer"] = "answer"
    question_id: str
    status: Literal["answered", "unavailable", "timeout"]
    answer: str | None = None


class Error(_Message):
    """A message was rejected; the connection stays open."""

    type: Literal["error"] = "error"
    code: str
    message: str
    command_id: str | None = None


class Bye(_Message):
    """The sender is closing the connection; ``reason`` says why (e.g. replaced, revoked)."""

    type: Literal["bye"] = "bye"
    reason: str


Message = Annotated[
    Hello
    | HelloAck
    | Heartbeat
    | Dispatch
    | Result
    | Ack
    | Progress
    | ApprovalRequest
    | ApprovalResponse
    | Question
    | Answer
    | Error
    | Bye,
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)
MESSAGE_TYPES = frozenset(
    {
        "hello",
        "hello_ack",
        "heartbeat",
        "dispatch",
        "result",
        "ack",
        "progress",
        "approval_request",
        "approval_response",
        "question",
        "answer",
        "error",
        "bye",
    }
)


def parse_message(raw: str | bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Message:
    """Decode one frame into a typed message, or raise :class:`ProtocolError`.

    Codes: ``oversize``, ``malformed`` (not a JSON object), ``unknown_type``, ``invalid``
    (right type, wrong fields). Nothing else escapes.
    """
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise ProtocolError("oversize", f"message of {size} bytes exceeds {max_bytes}")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError("malformed", f"not valid JSON: {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise ProtocolError("malformed", "a message must be a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        raise ProtocolError("unknown_type", f"unknown message type {kind!r}"[:200])
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors()[:5])
        raise ProtocolError("invalid", f"invalid {kind} message: {fields}"[:500]) from None


def encode_message(message: BaseModel) -> str:
    """Serialise a message as the JSON text frame the peer expects."""
    return message.model_dump_json()
