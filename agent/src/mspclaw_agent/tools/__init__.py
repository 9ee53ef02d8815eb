"""Endpoint tools: the typed, allow-listed actions the MSPclaw agent runs on a device.

Public surface: ``TOOLS`` (name -> EndpointTool), ``run_tool``, ``ToolOutcome`` and the
errors ``UnknownTool`` / ``InvalidToolArguments``. Tool failures never raise.
"""

from mspclaw_agent.tools.base import (
    ALL_PLATFORMS,
    CommandResult,
    EndpointTool,
    Host,
    InvalidToolArguments,
    Platform,
    RiskClass,
    ToolError,
    ToolOutcome,
    UnknownTool,
    current_platform,
)
from mspclaw_agent.tools.catalog import TOOLS
from mspclaw_agent.tools.runner import execute_tool, run_tool, validate_args

__all__ = [
    "ALL_PLATFORMS",
    "TOOLS",
    "CommandResult",
    "EndpointTool",
    "Host",
    "InvalidToolArguments",
    "Platform",
    "RiskClass",
    "ToolError",
    "ToolOutcome",
    "UnknownTool",
    "current_platform",
    "execute_tool",
    "run_tool",
    "validate_args",
]
