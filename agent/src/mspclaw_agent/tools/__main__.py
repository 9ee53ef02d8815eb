"""Command line: ``python -m mspclaw_agent.tools run NAME --args JSON`` and ``list``.

Prints the ToolOutcome as JSON. Exit 0 when the tool ran (even if ok=false), 2 for an
unknown tool or invalid arguments (the JSON then has ``error`` and ``kind``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from mspclaw_agent.tools import TOOLS, InvalidToolArguments, UnknownTool, run_tool


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mspclaw_agent.tools")
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run one allow-listed tool and print its outcome")
    run_p.add_argument("name")
    run_p.add_argument("--args", default="{}", help="tool arguments as a JSON object")
    run_p.add_argument("--timeout", type=float, default=None)
    sub.add_parser("list", help="list the allow-listed tools")
    ns = parser.parse_args(argv)

    if ns.command == "list":
        for tool in TOOLS.values():
            platforms = ",".join(sorted(tool.platforms))
            print(f"{tool.name}\t{tool.version}\t{tool.risk}\t{platforms}")
        return 0
    try:
        args = json.loads(ns.args)
    except json.JSONDecodeError as exc:
        print(json.dumps({"kind": "invalid_arguments", "error": f"--args is not JSON: {exc}"}))
        return 2
    if not isinstance(args, dict):
        print(json.dumps({"kind": "invalid_arguments", "error": "--args must be a JSON object"}))
        return 2
    try:
        outcome = asyncio.run(run_tool(ns.name, args, timeout=ns.timeout))
    except UnknownTool as exc:
        print(json.dumps({"kind": "unknown_tool", "error": str(exc)}))
        return 2
    except InvalidToolArguments as exc:
        print(json.dumps({"kind": "invalid_arguments", "error": str(exc), "problems": exc.problems}))
        return 2
    print(outcome.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
