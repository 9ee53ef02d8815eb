"""Printer queue tools: status and clearing, through CUPS (macOS/Linux) or the Windows spooler.

A printer name is a validated identifier; on Windows it is embedded in fixed script text
only as a quoted PowerShell literal.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mspclaw_agent.tools.base import (
    Host,
    NoArgs,
    Platform,
    cross_platform_tool,
    powershell_argv,
    ps_literal,
)
from mspclaw_agent.tools.fields import PrinterName


def queue_status_argv(platform: Platform) -> list[list[str]]:
    """argv lists for printer state and pending jobs."""
    if platform == "windows":
        return [
            powershell_argv(
                "Get-Printer | ForEach-Object { [pscustomobject]@{ Name=$_.Name; "
                "Status=$_.PrinterStatus.ToString(); "
                "Jobs=@(Get-PrintJob -PrinterName $_.Name).Count } } | ConvertTo-Json -Compress"
            )
        ]
    return [["lpstat", "-p"], ["lpstat", "-o"]]


def parse_cups(printers_out: str, jobs_out: str) -> list[dict[str, Any]]:
    """Printers and their job counts from ``lpstat -p`` and ``lpstat -o``."""
    printers: dict[str, dict[str, Any]] = {}
    for line in printers_out.splitlines():
        if line.startswith("printer "):
            parts = line.split()
            name = parts[1]
            state = "disabled" if "disabled" in line else ("printing" if "printing" in line else "idle")
            printers[name] = {"name": name, "status": state, "jobs": 0}
    for line in jobs_out.splitlines():
        job = line.split()[0] if line.strip() else ""
        name = job.rsplit("-", 1)[0]
        if name in printers:
            printers[name]["jobs"] += 1
    return list(printers.values())


def parse_windows_printers(stdout: str) -> list[dict[str, Any]]:
    data = json.loads(stdout or "[]")
    data = data if isinstance(data, list) else [data]
    return [{"name": p["Name"], "status": p["Status"], "jobs": p["Jobs"]} for p in data]


async def _queue_status(args: NoArgs, host: Host) -> dict[str, Any]:
    commands = queue_status_argv(host.platform)
    host.require(commands[0][0])
    if host.platform == "windows":
        result = await host.run_checked(commands[0], timeout=60)
        printers = parse_windows_printers(result.stdout)
    else:
        printers_out = await host.run(commands[0], timeout=30)
        jobs_out = await host.run(commands[1], timeout=30)
        printers = parse_cups(printers_out.stdout, jobs_out.stdout)
    return {
        "printers": printers,
        "total_jobs": sum(p["jobs"] for p in printers),
        "stuck_printers": [p["name"] for p in printers if p["status"] in ("disabled", "Error")],
    }


class ClearQueueArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    printer: PrinterName | None = Field(None, description="printer to clear (default: all)")


def clear_queue_argv(platform: Platform, printer: str | None) -> list[str]:
    """The argv that cancels all jobs of ``printer`` (or every printer)."""
    if platform == "windows":
        if printer is None:
            script = "Get-Printer | ForEach-Object { Get-PrintJob -PrinterName $_.Name } | Remove-PrintJob"
        else:
            script = f"Get-PrintJob -PrinterName {ps_literal(printer)} | Remove-PrintJob"
        return powershell_argv(script + "; 'cleared'")
    return ["cancel", "-a"] + ([printer] if printer else [])


async def _clear_queue(args: ClearQueueArgs, host: Host) -> dict[str, Any]:
    argv = clear_queue_argv(host.platform, args.printer)
    host.require(argv[0])
    await host.run_checked(argv, timeout=60)
    return {"printer": args.printer or "all", "cleared": True}


PRINTING_TOOLS = [
    cross_platform_tool(
        "printer_queue_status",
        "Printers, their state and number of queued jobs.",
        NoArgs,
        "read",
        _queue_status,
        timeout_seconds=60,
    ),
    cross_platform_tool(
        "clear_print_queue",
        "Cancel every queued job of one printer (or all printers).",
        ClearQueueArgs,
        "change",
        _clear_queue,
        timeout_seconds=60,
        verification_hint="printer_queue_status shows 0 jobs for the printer",
    ),
]
