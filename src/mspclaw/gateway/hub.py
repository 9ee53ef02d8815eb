"""The gateway hub: every device socket this process holds, and commands in flight to them.

Authenticates sockets through an injected :class:`DeviceAuthenticator`, keeps one live
connection per device, tracks presence, dispatches tools and resolves their results, queues
work for offline devices until a deadline, and routes across processes via a
:class:`~mspclaw.gateway.routing.DispatchRouter`. It knows nothing about the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from mspclaw_agent.protocol import (
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
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
    Message,
    Progress,
    ProtocolError,
    Question,
    Result,
    ToolOutcome,
    encode_message,
    parse_message,
    utcnow,
)
from pydantic import BaseModel
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from mspclaw.errors import MSPclawError, NotFound
from mspclaw.gateway.routing import (
    DispatchRouter,
    RoutedDisconnect,
    RoutedDispatch,
    RoutedMessage,
    RoutedOnline,
    RoutedResult,
)
from mspclaw.gateway.runtime import tune_gc_for_connections

log = logging.getLogger("mspclaw.gateway")

# Below this many sockets a full GC pass is short; re-freezing would cost more than it saves.
GC_TUNING_MIN_CONNECTIONS = 1000

# WebSocket close codes (4000-4999 are application-defined).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_IDENTITY_MISMATCH = 4403
CLOSE_REPLACED = 4409
CLOSE_REVOKED = 4410
CLOSE_TOO_MANY_ERRORS = 4429
CLOSE_UNSUPPORTED = 4426
CLOSE_SILENT = 4408
CLOSE_SHUTDOWN = 1001


class GatewayError(MSPclawError):
    """Something went wrong reaching a device through the gateway."""

    code = "gateway_error"
    status_code = 502


class DeviceOffline(GatewayError):
    """The device holds no live connection to this gateway."""

    code = "device_offline"
    status_code = 409


class DispatchTimeout(GatewayError):
    """The device did not answer before the command's deadline."""

    code = "dispatch_timeout"
    status_code = 504


class DeviceIdentity(BaseModel):
    """Who a device credential belongs to; everything a socket may do is scoped by it."""

    tenant_id: str
    device_id: str
    client_id: str | None = None


class DeviceAuthenticator(Protocol):
    """Maps a device credential to its identity, or None if unknown or revoked."""

    async def authenticate(self, credential: str) -> DeviceIdentity | None:
        """Look the credential up (constant-time compare, hashed at rest)."""
        ...


ResultSink = Callable[[DeviceIdentity, Result], Awaitable[None]]


class Presence(StrEnum):
    """What the MSP sees for a device."""

    ONLINE = "online"
    OVERDUE = "overdue"  # connected, but heartbeats stopped arriving
    OFFLINE = "offline"


class DevicePresence(BaseModel):
    """Presence of one device as this gateway process sees it."""

    device_id: str
    presence: Presence
    last_seen: datetime | None = None
    connected_since: datetime | None = None
    hostname: str | None = None
    agent_version: str | None = None
    tools: list[str] = []


@dataclass(eq=False)
class DeviceConnection:
    """One accepted, hello-validated socket."""

    identity: DeviceIdentity
    websocket: WebSocket
    hello: Hello
    connected_at: datetime = field(default_factory=utcnow)
    last_seen: datetime = field(default_factory=utcnow)
    closed: bool = False
    _send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def device_id(self) -> str:
        """The authenticated device id (never the one a message claims)."""
        return self.identity.device_id

    async def send(self, message: BaseModel) -> bool:
        """Send one message; False if the socket is gone (callers keep their own state)."""
        if self.closed:
            return False
        try:
            async with self._send_lock:
                await self.websocket.send_text(encode_message(message))
        except Exception:
            # Any transport failure means the peer is gone; the receive loop cleans up.
            self.closed = True
            return False
        return True

    async def close(self, reason: str, code: int) -> None:
        """Say bye with ``reason`` and close; idempotent."""
        if self.closed:
            return
        await self.send(Bye(reason=reason))
        self.closed = True
        with contextlib.suppress(Exception):
            await self.websocket.close(code=code, reason=reason[:100])


@dataclass(eq=False)
class PendingCommand:
    """A dispatch waiting for its result (possibly for the device to come online)."""

    command_id: str
    device_id: str
    tenant_id: str | None
    tool: str
    args: dict[str, Any]
    timeout: float | None
    deadline: datetime
    future: asyncio.Future[ToolOutcome]
    timer: asyncio.TimerHandle | None = None

    def to_dispatch(self) -> Dispatch:
        """The wire message for this command."""
        return Dispatch(
            command_id=self.command_id,
            tool=self.tool,
            args=self.args,
            timeout=self.timeout,
            deadline=self.deadline,
        )


def bearer_credential(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class Gateway:
    """Holds device sockets for one process and moves commands and results through them."""

    def __init__(
        self,
        authenticator: DeviceAuthenticator,
        *,
        router: DispatchRouter | None = None,
        node_id: str | None = None,
        result_sink: ResultSink | None = None,
        heartbeat_seconds: float = 30.0,
        hello_timeout: float = 10.0,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_protocol_errors: int = 50,
        gc_refreeze_seconds: float | None = None,
    ) -> None:
        self.authenticator = authenticator
        self.router = router
        self.node_id = node_id or uuid.uuid4().hex
        self.result_sink = result_sink
        self.heartbeat_seconds = heartbeat_seconds
        self.hello_timeout = hello_timeout
        self.max_message_bytes = max_message_bytes
        self.max_protocol_errors = max_protocol_errors
        # None leaves the garbage collector alone (tests, small installs). With thousands of
        # sockets, set it (e.g. 900): see mspclaw.gateway.runtime for why.
        self.gc_refreeze_seconds = gc_refreeze_seconds
        self._gc_tuned_at = 0.0
        # Overdue after three missed heartbeats; closed as dead after six.
        self.overdue_after = timedelta(seconds=3 * heartbeat_seconds)
        self.dead_after = timedelta(seconds=6 * heartbeat_seconds)
        self._connections: dict[str, DeviceConnection] = {}
        self._last_seen: dict[str, datetime] = {}
        self._pending: dict[str, PendingCommand] = {}
        self._by_device: dict[str, dict[str, PendingCommand]] = {}
        self._questions: dict[str, asyncio.Future[Any]] = {}
        self._recent_results: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._closing = False
        self.protocol_errors = 0

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Subscribe to the router and start the dead-socket sweeper."""
        self._closing = False
        if self.gc_refreeze_seconds is not None:
            tune_gc_for_connections()
            self._gc_tuned_at = asyncio.get_running_loop().time()
        if self.router is not None:
            await self.router.subscribe(self._on_routed)
        if self._sweeper is None:
            self._sweeper = asyncio.create_task(self._sweep_forever())

    async def close(self) -> None:
        """Say bye to every device and stop; pending commands fail with DeviceOffline."""
        self._closing = True
        if self.router is not None:
            await self.router.unsubscribe(self._on_routed)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        await asyncio.gather(*(c.close("shutdown", CLOSE_SHUTDOWN) for c in list(self._connections.values())))
        for command in list(self._pending.values()):
            self._finish(command, error=DeviceOffline("gateway shut down before the result"))

    # -- queries ---------------------------------------------------------------------
    @property
    def connection_count(self) -> int:
        """Live device sockets held by this process."""
        return len(self._connections)

    def connected_devices(self) -> list[str]:
        """Device ids with a live socket here."""
        return list(self._connections)

    def presence(self, device_id: str) -> DevicePresence:
        """Online / overdue / offline with last-seen, as far as this process knows."""
        conn = self._connections.get(device_id)
        if conn is None:
            return DevicePresence(
                device_id=device_id,
                presence=Presence.OFFLINE,
                last_seen=self._last_seen.get(device_id),
            )
        silent = utcnow() - conn.last_seen
        return DevicePresence(
            device_id=device_id,
            presence=Presence.OVERDUE if silent > self.overdue_after else Presence.ONLINE,
            last_seen=conn.last_seen,
            connected_since=conn.connected_at,
            hostname=conn.hello.hostname,
            agent_version=conn.hello.agent_version,
            tools=conn.hello.tools,
        )

    def pending_for(self, device_id: str) -> list[str]:
        """Command ids queued or in flight for a device."""
        return list(self._by_device.get(device_id, {}))

    # -- dispatch --------------------------------------------------------------------
    async def submit(
        self,
        device_id: str,
        tool: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float | None = 60.0,  # noqa: ASYNC109 - sent to the agent, not awaited here
        deadline: datetime | None = None,
        command_id: str | None = None,
        tenant_id: str | None = None,
    ) -> PendingCommand:
        """Queue a command and send it if the device is reachable; does not wait.

        ``timeout`` bounds the tool run on the device; ``deadline`` (default: now + timeout
        + 30 s) bounds everything, including waiting for an offline device to reconnect.
        """
        command_id = command_id or uuid.uuid4().hex
        existing = self._pending.get(command_id)
        if existing is not None:
            return existing
        if deadline is None:
            deadline = utcnow() + timedelta(seconds=(timeout or 60.0) + 30.0)
        loop = asyncio.get_running_loop()
        command = PendingCommand(
            command_id=command_id,
            device_id=device_id,
            tenant_id=tenant_id,
            tool=tool,
            args=dict(args or {}),
            timeout=timeout,
            deadline=deadline,
            future=loop.create_future(),
        )
        delay = max(0.0, (deadline - utcnow()).total_seconds())
        command.timer = loop.call_later(delay, self._expire, command_id)
        self._pending[command_id] = command
        self._by_device.setdefault(device_id, {})[command_id] = command
        conn = self._connections.get(device_id)
        if conn is not None:
            await self._send_command(conn, command.to_dispatch(), tenant_id, command)
        elif self.router is not None:
            await self.router.publish(device_id, self._routed_dispatch(command))
        return command

    async def dispatch(
        self,
        device_id: str,
        tool: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float | None = 60.0,  # noqa: ASYNC109 - sent to the agent
        deadline: datetime | None = None,
        command_id: str | None = None,
        tenant_id: str | None = None,
    ) -> ToolOutcome:
        """Run ``tool`` on the device and return its outcome.

        Raises :class:`DispatchTimeout` at the deadline and :class:`NotFound` when the device
        belongs to another tenant. Waits on a future: no request is held open meanwhile.
        """
        command = await self.submit(
            device_id,
            tool,
            args,
            timeout=timeout,
            deadline=deadline,
            command_id=command_id,
            tenant_id=tenant_id,
        )
        return await asyncio.shield(command.future)

    async def ask(self, device_id: str, question: Question) -> Answer:
        """Ask the person at a (locally connected) device; waits up to question.timeout."""
        reply = await self._converse(device_id, question.question_id, question, question.timeout)
        if not isinstance(reply, Answer):
            raise GatewayError("device answered a question with the wrong message")
        return reply

    async def request_approval(self, device_id: str, request: ApprovalRequest) -> ApprovalResponse:
        """Ask the person at a (locally connected) device for consent."""
        reply = await self._converse(device_id, request.request_id, request, request.timeout)
        if not isinstance(reply, ApprovalResponse):
            raise GatewayError("device answered an approval with the wrong message")
        return reply

    async def disconnect(self, device_id: str, reason: str = "revoked") -> bool:
        """Close a device's socket now (here and, through the router, anywhere else)."""
        conn = self._connections.pop(device_id, None)
        if conn is not None:
            self._last_seen[device_id] = conn.last_seen
            await conn.close(reason, CLOSE_REVOKED if reason == "revoked" else CLOSE_SHUTDOWN)
        if self.router is not None:
            await self.router.publish(
                device_id, RoutedDisconnect(origin=self.node_id, device_id=device_id, reason=reason)
            )
        return conn is not None

    # -- socket handling -------------------------------------------------------------
    async def handle_socket(self, websocket: WebSocket) -> None:
        """The WebSocket endpoint: authenticate, hello, serve until the socket ends."""
        if self._closing:
            # Shutting down: a retryable refusal, so the agent reconnects elsewhere or later.
            await websocket.send_denial_response(PlainTextResponse("gateway shutting down", status_code=503))
            return
        credential = bearer_credential(websocket.headers.get("authorization"))
        try:
            identity = await self.authenticator.authenticate(credential) if credential else None
        except Exception:
            # Not the device's fault (e.g. database down): answer 503 so the agent retries
            # instead of concluding it was revoked.
            log.exception("device authentication failed")
            await websocket.send_denial_response(PlainTextResponse("authentication unavailable", status_code=503))
            return
        if identity is None:
            # Closing before accept answers the HTTP upgrade with 403.
            await websocket.close(code=CLOSE_UNAUTHENTICATED)
            return
        await websocket.accept()
        hello = await self._await_hello(websocket, identity)
        if hello is None:
            return
        conn = DeviceConnection(identity=identity, websocket=websocket, hello=hello)
        self._register(conn)
        try:
            await conn.send(HelloAck(device_id=identity.device_id, heartbeat_seconds=self.heartbeat_seconds))
            await self._on_connected(conn)
            await self._receive_loop(conn)
        finally:
            self._unregister(conn)

    async def _receive_frame(self, websocket: WebSocket) -> str | bytes | None:
        """The next frame, or None once the peer is gone."""
        try:
            event = await websocket.receive()
        except Exception:
            return None
        if event["type"] == "websocket.disconnect":
            return None
        text = event.get("text")
        return text if text is not None else event.get("bytes") or b""

    async def _read_message(self, websocket: WebSocket, errors: list[int]) -> Message | None:
        """Next valid message; bad frames get an ``error`` reply and are skipped."""
        while True:
            raw = await self._receive_frame(websocket)
            if raw is None:
                return None
            try:
                return parse_message(raw, max_bytes=self.max_message_bytes)
            except ProtocolError as exc:
                self.protocol_errors += 1
                errors[0] += 1
                with contextlib.suppress(Exception):
                    await websocket.send_text(encode_message(Error(code=exc.code, message=exc.message)))
                if errors[0] >= self.max_protocol_errors:
                    with contextlib.suppress(Exception):
                        await websocket.close(code=CLOSE_TOO_MANY_ERRORS)
                    return None

    async def _await_hello(self, websocket: WebSocket, identity: DeviceIdentity) -> Hello | None:
        errors = [0]

        async def first_hello() -> Hello | None:
            while True:
                message = await self._read_message(websocket, errors)
                if message is None or isinstance(message, Hello):
                    return message
                await websocket.send_text(encode_message(Error(code="hello_required", message="send hello first")))

        try:
            hello = await asyncio.wait_for(first_hello(), self.hello_timeout)
        except (TimeoutError, Exception):
            hello = None
        problem: tuple[str, str, int] | None = None
        if hello is None:
            problem = ("hello_required", "no hello received", CLOSE_SILENT)
        elif hello.device_id != identity.device_id:
            problem = (
                "identity_mismatch",
                "hello names a different device than the credential",
                CLOSE_IDENTITY_MISMATCH,
            )
        elif hello.protocol_version > PROTOCOL_VERSION:
            problem = (
                "unsupported_protocol",
                f"gateway speaks protocol {PROTOCOL_VERSION}",
                CLOSE_UNSUPPORTED,
            )
        if problem is None:
            return hello
        code, text, close_code = problem
        with contextlib.suppress(Exception):
            await websocket.send_text(encode_message(Error(code=code, message=text)))
            await websocket.close(code=close_code)
        return None

    def _register(self, conn: DeviceConnection) -> None:
        # No await between reading and replacing the slot: a concurrent second socket
        # cannot interleave here, so the newest registration always wins.
        old = self._connections.get(conn.device_id)
        self._connections[conn.device_id] = conn
        self._last_seen[conn.device_id] = conn.last_seen
        if old is not None:
            self._spawn(old.close("replaced", CLOSE_REPLACED))

    def _unregister(self, conn: DeviceConnection) -> None:
        conn.closed = True
        self._last_seen[conn.device_id] = conn.last_seen
        # Only remove our own registration: a replacement may already hold the slot.
        if self._connections.get(conn.device_id) is conn:
            del self._connections[conn.device_id]

    async def _on_connected(self, conn: DeviceConnection) -> None:
        """Send work that waited for this device; tell other processes it is here."""
        for command in list(self._by_device.get(conn.device_id, {}).values()):
            await self._send_command(conn, command.to_dispatch(), command.tenant_id, command)
        if self.router is not None:
            await self.router.publish(
                conn.device_id,
                RoutedOnline(origin=self.node_id, device_id=conn.device_id, connected_at=conn.connected_at),
            )

    async def _receive_loop(self, conn: DeviceConnection) -> None:
        errors = [0]
        while not conn.closed:
            message = await self._read_message(conn.websocket, errors)
            if message is None:
                return
            conn.last_seen = utcnow()
            if isinstance(message, Result):
                await self._on_result(conn, message)
            elif isinstance(message, Answer):
                self._resolve_conversation(message.question_id, message)
            elif isinstance(message, ApprovalResponse):
                self._resolve_conversation(message.request_id, message)
            elif isinstance(message, Bye):
                return
            elif isinstance(message, Progress):
                log.debug("progress %s: %s", message.command_id, message.message)
            elif isinstance(message, Error):
                log.info("device %s reported %s", conn.device_id, message.code)
            elif not isinstance(message, Heartbeat):
                await conn.send(Error(code="unexpected", message=f"gateway does not accept {message.type}"))

    # -- results ---------------------------------------------------------------------
    async def _on_result(self, conn: DeviceConnection, result: Result) -> None:
        command = self._pending.get(result.command_id)
        if command is not None and command.device_id != conn.device_id:
            # A device may only answer its own commands.
            await conn.send(Error(code="unknown_command", message="no such command for this device"))
            return
        first = result.command_id not in self._recent_results
        if first and self.result_sink is not None:
            try:
                await self.result_sink(conn.identity, result)
            except Exception:
                # Not stored: no ack, so the agent keeps it in its outbox and resends.
                log.exception("result sink failed for command %s", result.command_id)
                await conn.send(
                    Error(
                        code="result_not_stored",
                        message="result not stored; it will be resent",
                        command_id=result.command_id,
                    )
                )
                return
        self._remember(result.command_id)
        if command is not None:
            self._finish(command, outcome=result.outcome)
        elif first and self.router is not None:
            await self.router.publish(
                conn.device_id,
                RoutedResult(
                    origin=self.node_id,
                    device_id=conn.device_id,
                    command_id=result.command_id,
                    outcome=result.outcome,
                ),
            )
        await conn.send(Ack(command_id=result.command_id))

    def _remember(self, command_id: str) -> None:
        self._recent_results[command_id] = None
        self._recent_results.move_to_end(command_id)
        while len(self._recent_results) > 50_000:
            self._recent_results.popitem(last=False)

    def _finish(
        self,
        command: PendingCommand,
        *,
        outcome: ToolOutcome | None = None,
        error: Exception | None = None,
    ) -> None:
        self._pending.pop(command.command_id, None)
        per_device = self._by_device.get(command.device_id)
        if per_device is not None:
            per_device.pop(command.command_id, None)
            if not per_device:
                del self._by_device[command.device_id]
        if command.timer is not None:
            command.timer.cancel()
        if command.future.done():
            return
        if error is not None:
            command.future.set_exception(error)
            # Mark it retrieved: a submit()-only caller may never await it, and asyncio
            # would log it as lost. Awaiters still get the exception.
            command.future.exception()
        elif outcome is not None:
            command.future.set_result(outcome)

    def _expire(self, command_id: str) -> None:
        command = self._pending.get(command_id)
        if command is not None:
            self._finish(
                command,
                error=DispatchTimeout(
                    f"device {command.device_id} did not answer {command.tool} in time",
                    detail={"command_id": command_id},
                ),
            )

    async def _send_command(
        self,
        conn: DeviceConnection,
        dispatch: Dispatch,
        tenant_id: str | None,
        command: PendingCommand | None,
    ) -> None:
        if tenant_id is not None and conn.identity.tenant_id != tenant_id:
            # A device only ever receives its own tenant's commands.
            if command is not None:
                self._finish(command, error=NotFound("device not found"))
            return
        await conn.send(dispatch)

    # -- conversations with the end user ------------------------------------------
    async def _converse(self, device_id: str, key: str, message: BaseModel, wait: float) -> BaseModel:
        conn = self._connections.get(device_id)
        if conn is None:
            raise DeviceOffline(f"device {device_id} is not connected here")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._questions[key] = future
        try:
            if not await conn.send(message):
                raise DeviceOffline(f"device {device_id} went away")
            # The device enforces the user's timeout; allow it time to report it.
            return await asyncio.wait_for(future, wait + 10.0)
        except TimeoutError:
            raise DispatchTimeout(f"device {device_id} did not answer") from None
        finally:
            self._questions.pop(key, None)

    def _resolve_conversation(self, key: str, reply: BaseModel) -> None:
        future = self._questions.get(key)
        if future is not None and not future.done():
            future.set_result(reply)

    # -- routing ---------------------------------------------------------------------
    def _routed_dispatch(self, command: PendingCommand) -> RoutedDispatch:
        return RoutedDispatch(
            origin=self.node_id,
            device_id=command.device_id,
            command_id=command.command_id,
            tenant_id=command.tenant_id,
            tool=command.tool,
            args=command.args,
            timeout=command.timeout,
            deadline=command.deadline,
        )

    async def _on_routed(self, message: RoutedMessage) -> None:
        if message.origin == self.node_id:
            return
        if isinstance(message, RoutedDispatch):
            conn = self._connections.get(message.device_id)
            if conn is not None:
                dispatch = Dispatch(
                    command_id=message.command_id,
                    tool=message.tool,
                    args=message.args,
                    timeout=message.timeout,
                    deadline=message.deadline,
                )
                await self._send_command(conn, dispatch, message.tenant_id, None)
        elif isinstance(message, RoutedResult):
            command = self._pending.get(message.command_id)
            if command is not None and command.device_id == message.device_id:
                self._finish(command, outcome=message.outcome)
        elif isinstance(message, RoutedOnline):
            await self._on_routed_online(message)
        elif isinstance(message, RoutedDisconnect):
            conn = self._connections.pop(message.device_id, None)
            if conn is not None:
                code = CLOSE_REVOKED if message.reason == "revoked" else CLOSE_SHUTDOWN
                await conn.close(message.reason, code)

    async def _on_routed_online(self, message: RoutedOnline) -> None:
        conn = self._connections.get(message.device_id)
        newer_elsewhere = conn is not None and (
            (conn.connected_at, self.node_id) < (message.connected_at, message.origin)
        )
        if conn is not None and newer_elsewhere:
            self._connections.pop(message.device_id, None)
            await conn.close("replaced", CLOSE_REPLACED)
        if self.router is None:
            return
        for command in list(self._by_device.get(message.device_id, {}).values()):
            await self.router.publish(message.device_id, self._routed_dispatch(command))

    # -- housekeeping ----------------------------------------------------------------
    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            cutoff = utcnow() - self.dead_after
            for conn in list(self._connections.values()):
                if conn.last_seen < cutoff:
                    self._connections.pop(conn.device_id, None)
                    self._spawn(conn.close("heartbeat_timeout", CLOSE_SILENT))
            self._maybe_refreeze()

    def _maybe_refreeze(self) -> None:
        """Re-freeze the heap now and then so long-lived sockets stay out of GC passes."""
        if self.gc_refreeze_seconds is None or self.connection_count < GC_TUNING_MIN_CONNECTIONS:
            return
        now = asyncio.get_running_loop().time()
        if now - self._gc_tuned_at >= self.gc_refreeze_seconds:
            tune_gc_for_connections()
            self._gc_tuned_at = now
