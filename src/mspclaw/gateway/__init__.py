"""The agent gateway: device WebSocket connections, presence and tool dispatch.

Database-independent: authentication, result storage and cross-process routing are
injected (``DeviceAuthenticator``, ``ResultSink``, ``DispatchRouter``).
"""

from mspclaw.gateway.hub import (
    DeviceAuthenticator,
    DeviceConnection,
    DeviceIdentity,
    DeviceOffline,
    DevicePresence,
    DispatchTimeout,
    Gateway,
    GatewayError,
    PendingCommand,
    Presence,
    ResultSink,
)
from mspclaw.gateway.routing import DispatchRouter, InProcessRouter, RoutedMessage
from mspclaw.gateway.runtime import tune_gc_for_connections
from mspclaw.gateway.views import GATEWAY_PATH, gateway_router

__all__ = [
    "GATEWAY_PATH",
    "DeviceAuthenticator",
    "DeviceConnection",
    "DeviceIdentity",
    "DeviceOffline",
    "DevicePresence",
    "DispatchRouter",
    "DispatchTimeout",
    "Gateway",
    "GatewayError",
    "InProcessRouter",
    "PendingCommand",
    "Presence",
    "ResultSink",
    "RoutedMessage",
    "gateway_router",
    "tune_gc_for_connections",
]
