"""The agent's allow-list: every tool this agent will run, by name.

Nothing outside this mapping can be run; there is deliberately no generic command tool.
"""

from __future__ import annotations

from mspclaw_agent.tools.base import EndpointTool
from mspclaw_agent.tools.network import NETWORK_TOOLS
from mspclaw_agent.tools.printing import PRINTING_TOOLS
from mspclaw_agent.tools.security import SECURITY_TOOLS
from mspclaw_agent.tools.services import SERVICE_TOOLS
from mspclaw_agent.tools.software import SOFTWARE_TOOLS
from mspclaw_agent.tools.storage import STORAGE_TOOLS
from mspclaw_agent.tools.system import SYSTEM_TOOLS

_ALL: list[EndpointTool] = [
    *SYSTEM_TOOLS,
    *STORAGE_TOOLS,
    *SERVICE_TOOLS,
    *NETWORK_TOOLS,
    *PRINTING_TOOLS,
    *SOFTWARE_TOOLS,
    *SECURITY_TOOLS,
]

TOOLS: dict[str, EndpointTool] = {tool.name: tool for tool in _ALL}
assert len(TOOLS) == len(_ALL), "duplicate tool name in the allow-list"
