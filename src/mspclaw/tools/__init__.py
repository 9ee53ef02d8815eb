"""The tool catalog and the backends that carry tools out.

``CATALOG`` / ``get_tool`` name every tool a playbook or plan may use; ``ToolBackend`` is
what the executor calls; ``LocalEndpointBackend`` runs endpoint tools on this machine.
"""

from mspclaw_agent.tools import ToolOutcome

from mspclaw.tools.backends import (
    BackendRouter,
    BackendUnsupported,
    LocalEndpointBackend,
    ToolBackend,
    ToolContext,
)
from mspclaw.tools.catalog import CATALOG, get_tool
from mspclaw.tools.spec import (
    REDACTED,
    BackendKind,
    BackendRef,
    ToolArgumentsInvalid,
    ToolSpec,
    UndoDerivationError,
    UndoSpec,
    UnknownToolError,
    derive_undo,
)

__all__ = [
    "CATALOG",
    "REDACTED",
    "BackendKind",
    "BackendRef",
    "BackendRouter",
    "BackendUnsupported",
    "LocalEndpointBackend",
    "ToolArgumentsInvalid",
    "ToolBackend",
    "ToolContext",
    "ToolOutcome",
    "ToolSpec",
    "UndoDerivationError",
    "UndoSpec",
    "UnknownToolError",
    "derive_undo",
    "get_tool",
]
