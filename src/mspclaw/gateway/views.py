"""HTTP surface of the gateway: the device WebSocket route, mounted by the API app.

The lead's app creates one :class:`~mspclaw.gateway.hub.Gateway` and includes
``gateway_router(gateway)``; the route itself is thin and delegates to ``handle_socket``.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from mspclaw.gateway.hub import Gateway

GATEWAY_PATH = "/gateway/ws"


def gateway_router(gateway: Gateway, *, path: str = GATEWAY_PATH) -> APIRouter:
    """An APIRouter with the device WebSocket endpoint at ``path``."""
    router = APIRouter()

    @router.websocket(path)
    async def device_socket(websocket: WebSocket) -> None:
        await gateway.handle_socket(websocket)

    return router
