"""Give the run executor its backends for this process: endpoint tools through the agent gateway
(or this machine when ``MSPCLAW_ENDPOINT_BACKEND=local``), the identity backend, the
``rmm_script`` backend (tools as vendor scripts on RMM-managed devices) and the ``notification``
backend (``notify_user`` by e-mail/SMS); the loop's "did this fix it?" question goes through the
same gateway.

``mspclaw up`` passes its gateway (it holds the sockets); a standalone ``mspclaw worker`` builds a
dispatch-only gateway whose commands reach the API process holding the socket via LISTEN/NOTIFY.
"""

from __future__ import annotations

from mspclaw.agents.backend import GatewayEndpointBackend
from mspclaw.config import Settings
from mspclaw.database.core import Database
from mspclaw.gateway import Gateway
from mspclaw.identity import wiring as identity_wiring
from mspclaw.identity.notify import Notifier
from mspclaw.loop import agent_feedback
from mspclaw.loop.delivery import UserMessageBackend
from mspclaw.rmm import wiring as rmm_wiring
from mspclaw.runs import runtime as runs_runtime


def install_executor_backends(
    database: Database, settings: Settings, gateway: Gateway, notifier: Notifier | None = None
) -> runs_runtime.RunRuntime:
    """Install this process's run runtime with every configured backend."""
    runtime = runs_runtime.install_default(database, settings)
    notifier = notifier if notifier is not None else identity_wiring.notifier_from_environment()
    identity_wiring.register(runtime.router, database, settings, notifier)
    rmm_wiring.register(runtime.router, database, settings)
    runtime.router.register(UserMessageBackend(notifier))
    if settings.endpoint_backend == "gateway":
        runtime.router.register(GatewayEndpointBackend(gateway))
        agent_feedback.install(gateway.ask)
    return runtime
