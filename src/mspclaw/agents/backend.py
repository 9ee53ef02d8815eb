"""The endpoint backend the executor uses in production: a tool call becomes a gateway dispatch.

The step's idempotency key is the command id, so a resumed run that re-sends a step gets the
agent's stored result back instead of a second execution (the agent keeps results by id).
"""

from __future__ import annotations

from typing import Any

from mspclaw_agent.tools import ToolOutcome

from mspclaw.gateway import DeviceOffline, DispatchTimeout, Gateway
from mspclaw.tools.backends import BackendUnsupported, ToolContext
from mspclaw.tools.spec import BackendKind, ToolSpec


class GatewayEndpointBackend:
    """Runs endpoint tools on enrolled devices through the agent gateway."""

    kind: BackendKind = "endpoint"

    def __init__(self, gateway: Gateway, *, default_timeout: float = 120.0) -> None:
        self.gateway = gateway
        self.default_timeout = default_timeout

    async def execute(self, tool: ToolSpec, args: dict[str, Any], context: ToolContext) -> ToolOutcome:
        if context.device_id is None:
            raise BackendUnsupported(f"{tool.name} runs on a device, and this call names none")
        try:
            outcome = await self.gateway.dispatch(
                context.device_id,
                tool.name,
                args,
                timeout=self.default_timeout,
                command_id=context.idempotency_key,
                tenant_id=str(context.tenant_id) if context.tenant_id else None,
            )
        except (DeviceOffline, DispatchTimeout) as exc:
            return ToolOutcome(tool=tool.name, ok=False, output={}, error=exc.message, truncated=False, duration_ms=0)
        # the wire type mirrors the tools' outcome field for field
        return ToolOutcome.model_validate(outcome.model_dump())
