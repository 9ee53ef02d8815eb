"""The agent's allow-list: every tool this agent will run, by name.

Nothing outside this mapping can be run; there is deliberately no generic command tool.
"""

from __future__ import annotations

from mspclaw_agent.tools.base import EndpointTool
from mspclaw_agent.tools.system import SYSTEM_TOOLS

_ALL: list[EndpointTool] = [*SYSTEM_TOOLS]

TOOLS: dict[str, EndpointTool] = {tool.name: tool for tool in _ALL}
