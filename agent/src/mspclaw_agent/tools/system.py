"""Device facts read through psutil: system info, top processes, sessions, battery.

These are the same on every OS because psutil already abstracts the platform.
"""

from __future__ import annotations

import asyncio
import getpass
import platform
import time
from datetime import UTC, datetime
from typing import Any, Literal

import psutil
from pydantic import BaseModel, ConfigDict, Field

from mspclaw_agent.tools.base import Host, NoArgs, cross_platform_tool


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


async def _system_info(args: NoArgs, host: Host) -> dict[str, Any]:
    def collect() -> dict[str, Any]:
        vm = psutil.virtual_memory()
        boot = psutil.boot_time()
        return {
            "hostname": platform.node(),
            "platform": host.platform,
            "os": platform.system(),
            "os_release": platform.release(),
            "os_version": platform.version(),
            "architecture": platform.machine(),
            "cpu_count": psutil.cpu_count(logical=True),
            "cpu_percent": psutil.cpu_percent(interval=0.2),
            "load_average": list(psutil.getloadavg()),
            "memory_total_bytes": vm.total,
            "memory_available_bytes": vm.available,
            "memory_percent": vm.percent,
            "swap_percent": psutil.swap_memory().percent,
            "boot_time": _iso(boot),
            "uptime_seconds": int(time.time() - boot),
        }

    return await asyncio.to_thread(collect)


class TopProcessesArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(10, ge=1, le=50, description="how many processes to return")
    sort_by: Literal["cpu", "memory"] = "cpu"


async def _top_processes(args: TopProcessesArgs, host: Host) -> dict[str, Any]:
    procs = list(psutil.process_iter(["pid", "name", "username"]))
    for p in procs:
        try:
            p.cpu_percent(None)  # first call primes the counter
        except psutil.Error:
            continue
    await asyncio.sleep(0.5)  # sample window for CPU percentages

    def collect() -> list[dict[str, Any]]:
        rows = []
        for p in procs:
            try:
                with p.oneshot():
                    rows.append(
                        {
                            "pid": p.pid,
                            "name": p.info["name"],
                            "user": p.info["username"],
                            "cpu_percent": p.cpu_percent(None),
                            "memory_percent": round(p.memory_percent(), 2),
                            "rss_bytes": p.memory_info().rss,
                        }
                    )
            except psutil.Error:
                continue  # process exited or is protected: skip it, others still count
        key = "cpu_percent" if args.sort_by == "cpu" else "memory_percent"
        rows.sort(key=lambda r: (-r[key], r["pid"]))
        return rows[: args.limit]

    rows = await asyncio.to_thread(collect)
    return {"sort_by": args.sort_by, "process_count": len(procs), "processes": rows}


async def _user_sessions(args: NoArgs, host: Host) -> dict[str, Any]:
    try:
        current = getpass.getuser()
    except (KeyError, OSError):
        current = None
    sessions = [
        {"user": u.name, "terminal": u.terminal, "host": u.host, "started": _iso(u.started)} for u in psutil.users()
    ]
    return {"current_user": current, "sessions": sessions, "session_count": len(sessions)}


async def _battery(args: NoArgs, host: Host) -> dict[str, Any]:
    battery = psutil.sensors_battery() if hasattr(psutil, "sensors_battery") else None
    if battery is None:
        return {"battery_present": False, "power_plugged": None}
    secs = battery.secsleft
    return {
        "battery_present": True,
        "percent": battery.percent,
        "power_plugged": battery.power_plugged,
        "seconds_left": secs if isinstance(secs, int) and secs >= 0 else None,
    }


SYSTEM_TOOLS = [
    cross_platform_tool(
        "system_info",
        "OS, CPU, memory, load and uptime of the device.",
        NoArgs,
        "read",
        _system_info,
        timeout_seconds=15,
    ),
    cross_platform_tool(
        "top_processes",
        "The processes using the most CPU or memory right now.",
        TopProcessesArgs,
        "read",
        _top_processes,
        timeout_seconds=20,
    ),
    cross_platform_tool(
        "user_sessions",
        "Who is logged in to the device, and since when.",
        NoArgs,
        "read",
        _user_sessions,
        timeout_seconds=10,
    ),
    cross_platform_tool(
        "battery_status",
        "Battery charge and whether the device is on mains power.",
        NoArgs,
        "read",
        _battery,
        timeout_seconds=10,
    ),
]
