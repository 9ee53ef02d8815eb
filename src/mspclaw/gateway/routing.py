"""Cross-process routing for the gateway: how a dispatch reaches the process holding a socket.

``DispatchRouter`` is the seam: every gateway process publishes routed messages and receives
everyone's. :class:`InProcessRouter` connects gateways living in one process (tests, the
single-process default); a PostgreSQL LISTEN/NOTIFY router implements the same protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from mspclaw_agent.protocol import ToolOutcome
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

log = logging.getLogger("mspclaw.gateway")


class _Routed(BaseModel):
    model_config = ConfigDict(frozen=True)

    origin: str  # node id of the publishing gateway (receivers ignore their own)
    device_id: str


class RoutedDispatch(_Routed):
    """Send this command to ``device_id`` if you hold its socket."""

    kind: Literal["dispatch"] = "dispatch"
    command_id: str
    tenant_id: str | None
    tool: str
    args: dict[str, Any]
    timeout: float | None
    deadline: datetime


class RoutedResult(_Routed):
    """A device answered ``command_id``; whoever awaits it resolves it."""

    kind: Literal["result"] = "result"
    command_id: str
    outcome: ToolOutcome


class RoutedOnline(_Routed):
    """``device_id`` connected to ``origin`` at ``connected_at``: re-send queued work, drop
    older sockets for it."""

    kind: Literal["online"] = "online"
    connected_at: datetime


class RoutedDisconnect(_Routed):
    """Close ``device_id``'s socket wherever it is (revocation)."""

    kind: Literal["disconnect"] = "disconnect"
    reason: str


RoutedMessage = Annotated[RoutedDispatch | RoutedResult | RoutedOnline | RoutedDisconnect, Field(discriminator="kind")]
ROUTED_ADAPTER: TypeAdapter[RoutedMessage] = TypeAdapter(RoutedMessage)

RoutedHandler = Callable[[RoutedMessage], Awaitable[None]]


class DispatchRouter(Protocol):
    """Delivers routed messages to every gateway process (including the sender)."""

    async def publish(self, device_id: str, message: RoutedMessage) -> None:
        """Send ``message`` about ``device_id`` to all subscribed gateways."""
        ...

    async def subscribe(self, handler: RoutedHandler) -> None:
        """Call ``handler`` for every message published from now on."""
        ...

    async def unsubscribe(self, handler: RoutedHandler) -> None:
        """Stop calling ``handler``."""
        ...


class InProcessRouter:
    """Fan-out between gateways in the same process; delivery is asynchronous, like NOTIFY."""

    def __init__(self) -> None:
        self._handlers: list[RoutedHandler] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def publish(self, device_id: str, message: RoutedMessage) -> None:
        """Schedule delivery to every subscriber; returns before they run."""
        for handler in list(self._handlers):
            task = asyncio.create_task(self._deliver(handler, message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def subscribe(self, handler: RoutedHandler) -> None:
        """Start delivering to ``handler``."""
        self._handlers.append(handler)

    async def unsubscribe(self, handler: RoutedHandler) -> None:
        """Stop delivering to ``handler``."""
        if handler in self._handlers:
            self._handlers.remove(handler)

    @staticmethod
    async def _deliver(handler: RoutedHandler, message: RoutedMessage) -> None:
        try:
            await handler(message)
        except Exception:
            # One failing gateway must not stop delivery to the others; it is logged.
            log.exception("routed message handler failed")
