"""Run an allow-listed tool by name: validate, pick the OS implementation, bound time and size.

``run_tool`` raises only for caller mistakes (unknown tool, bad arguments); a tool that fails
or is unavailable on this device comes back as ``ToolOutcome(ok=False, error=...)``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from pydantic import ValidationError

from mspclaw_agent.tools.base import (
    EndpointTool,
    Host,
    InvalidToolArguments,
    ToolFailed,
    ToolOutcome,
    ToolUnavailable,
    UnknownTool,
)


def validate_args(tool: EndpointTool, args: dict[str, Any]) -> Any:
    """The tool's argument model built from ``args``, or InvalidToolArguments naming fields."""
    try:
        # on_device: validators that need the real machine (paths, roots) run in full here
        return tool.args_model.model_validate(args, context={"on_device": True})
    except ValidationError as exc:
        problems = [
            {
                "field": ".".join(str(p) for p in err["loc"]) or "(arguments)",
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        raise InvalidToolArguments(tool.name, problems) from exc


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str).encode())


def _shrink(value: Any) -> bool:
    """Halve the largest list or string inside ``value`` in place; False if nothing left."""
    best: tuple[int, Any, Any] | None = None  # (size, container, key)

    def visit(container: Any, key: Any, item: Any) -> None:
        nonlocal best
        if isinstance(item, (list, str)) and len(item) > 1:
            size = _size(item)
            if best is None or size > best[0]:
                best = (size, container, key)
        if isinstance(item, dict):
            for k, v in item.items():
                visit(item, k, v)
        elif isinstance(item, list):
            for i, v in enumerate(item):
                visit(item, i, v)

    visit(None, None, value)
    if best is None or best[1] is None:
        return False
    _, container, key = best
    item = container[key]
    container[key] = item[: max(1, len(item) // 2)]
    return True


def fit_output(output: dict[str, Any], limit: int) -> tuple[dict[str, Any], bool]:
    """Cut the longest lists/strings until the JSON form fits ``limit`` bytes."""
    if _size(output) <= limit:
        return output, False
    trimmed = json.loads(json.dumps(output, default=str))
    while _size(trimmed) > limit and _shrink(trimmed):
        pass
    if _size(trimmed) > limit:
        trimmed = {"note": "output too large to return"}
    return trimmed, True


async def execute_tool(
    tool: EndpointTool,
    args: dict[str, Any],
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - the published interface names it
    host: Host | None = None,
) -> ToolOutcome:
    """Validate and run one tool on ``host`` (this machine by default)."""
    parsed = validate_args(tool, args)
    host = host or Host()
    started = time.monotonic()
    limit = timeout if timeout is not None else tool.timeout_seconds

    def outcome(ok: bool, output: dict[str, Any], error: str | None) -> ToolOutcome:
        fitted, truncated = fit_output(output, tool.max_output_bytes)
        return ToolOutcome(
            tool=tool.name,
            ok=ok,
            output=fitted,
            error=error,
            truncated=truncated,
            duration_ms=int((time.monotonic() - started) * 1000),
        )

    impl = tool.implementations.get(host.platform)
    if impl is None:
        return outcome(
            False,
            {"available": False, "platform": host.platform},
            f"not available on this device: {tool.name} has no {host.platform} implementation",
        )
    try:
        output = await asyncio.wait_for(impl(parsed, host), limit)
    except TimeoutError:
        return outcome(False, {"timed_out": True}, f"{tool.name} timed out after {limit:g}s")
    except ToolUnavailable as exc:
        return outcome(False, {"available": False, "missing": exc.missing}, str(exc))
    except ToolFailed as exc:
        return outcome(False, exc.output, str(exc))
    except Exception as exc:
        # the contract: a tool failure is an outcome (a parser meeting unexpected output, a
        # vanished program...); type and message are kept in the error, nothing is lost
        return outcome(False, {}, f"{type(exc).__name__}: {exc}")
    return outcome(True, output, None)


async def run_tool(
    name: str,
    args: dict[str, Any],
    *,
    timeout: float | None = None,  # noqa: ASYNC109 - the published interface names it
    host: Host | None = None,
) -> ToolOutcome:
    """Run allow-listed tool ``name``; raises UnknownTool / InvalidToolArguments only."""
    from mspclaw_agent.tools.catalog import TOOLS

    tool = TOOLS.get(name)
    if tool is None:
        raise UnknownTool(name)
    return await execute_tool(tool, args, timeout=timeout, host=host)
