"""The tool catalog: endpoint tools (imported from the agent, the single source of their
argument models) plus identity and notification tools, by name.
"""

from __future__ import annotations

from mspclaw_agent.tools import TOOLS as ENDPOINT_TOOLS
from mspclaw_agent.tools import EndpointTool

from mspclaw.tools.identity import IDENTITY_TOOLS
from mspclaw.tools.notification import NOTIFICATION_TOOLS
from mspclaw.tools.spec import BackendRef, ToolSpec, UndoSpec, UnknownToolError

#: endpoint tools whose effect has a natural inverse
_ENDPOINT_UNDO: dict[str, UndoSpec] = {
    "install_package": UndoSpec(tool="uninstall_package", args={"package": "args.package"}),
    "uninstall_package": UndoSpec(tool="install_package", args={"package": "args.package"}),
}


def endpoint_spec(tool: EndpointTool) -> ToolSpec:
    """The catalog entry for an agent tool; RMM script runners can carry the same argv."""
    platforms = tuple(sorted(tool.platforms))
    return ToolSpec(
        name=tool.name,
        version=tool.version,
        description=tool.description,
        args_model=tool.args_model,
        risk=tool.risk,
        permission=f"tools.run.{tool.risk}",
        backends=(
            BackendRef(kind="endpoint", platforms=platforms),
            BackendRef(kind="rmm_script", platforms=platforms),
        ),
        undo=_ENDPOINT_UNDO.get(tool.name),
        verification_hint=tool.verification_hint,
        timeout_seconds=tool.timeout_seconds,
    )


def _build() -> dict[str, ToolSpec]:
    specs = [endpoint_spec(t) for t in ENDPOINT_TOOLS.values()]
    specs += IDENTITY_TOOLS + NOTIFICATION_TOOLS
    catalog: dict[str, ToolSpec] = {}
    for spec in specs:
        if spec.name in catalog:
            raise RuntimeError(f"tool {spec.name} is declared twice")
        catalog[spec.name] = spec
    for spec in catalog.values():
        if spec.undo is not None and spec.undo.tool not in catalog:
            raise RuntimeError(f"undo tool {spec.undo.tool} of {spec.name} is not in the catalog")
    return catalog


CATALOG: dict[str, ToolSpec] = _build()


def get_tool(name: str) -> ToolSpec:
    """The catalog entry for ``name``, or UnknownToolError."""
    spec = CATALOG.get(name)
    if spec is None:
        raise UnknownToolError(f"tool {name!r} is not in the catalog", detail={"tool": name})
    return spec
