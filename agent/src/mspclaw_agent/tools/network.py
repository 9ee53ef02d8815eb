"""Network diagnostics: ping, TCP reachability, DNS resolution, routes, interfaces, Wi-Fi.

Targets are validated host names or IP addresses and are passed after ``--`` where the
program supports it, so a value can never become an option.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict, Field

from mspclaw_agent.tools.base import (
    Host,
    NoArgs,
    Platform,
    ToolFailed,
    cross_platform_tool,
    powershell_argv,
)
from mspclaw_agent.tools.fields import HostName


class PingArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: HostName
    count: int = Field(4, ge=1, le=10)


def ping_argv(platform: Platform, host: str, count: int) -> list[str]:
    """The ping argv for ``platform``."""
    if platform == "windows":
        return ["ping", "-n", str(count), "-w", "2000", host]
    if platform == "macos":
        return ["ping", "-c", str(count), "-t", str(count * 2 + 2), host]
    return ["ping", "-c", str(count), "-W", "2", "--", host]


_LOSS = re.compile(r"(\d+(?:\.\d+)?)% (?:packet )?loss")
_RTT = re.compile(r"= [\d.]+/([\d.]+)/")
_WIN_AVG = re.compile(r"Average = (\d+)ms")


def parse_ping(stdout: str) -> dict[str, Any]:
    """Packet loss and average round trip from any of the three pings' summaries."""
    loss = _LOSS.search(stdout)
    rtt = _RTT.search(stdout) or _WIN_AVG.search(stdout)
    return {
        "packet_loss_percent": float(loss.group(1)) if loss else None,
        "avg_rtt_ms": float(rtt.group(1)) if rtt else None,
    }


async def _ping(args: PingArgs, host: Host) -> dict[str, Any]:
    argv = ping_argv(host.platform, args.host, args.count)
    host.require("ping")
    result = await host.run(argv, timeout=args.count * 3 + 5)
    parsed = parse_ping(result.stdout)
    return {"host": args.host, "reachable": result.ok, **parsed}


class TcpConnectArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: HostName
    port: int = Field(ge=1, le=65535)
    timeout_seconds: float = Field(3.0, gt=0, le=30)


async def _tcp_connect(args: TcpConnectArgs, host: Host) -> dict[str, Any]:
    started = time.monotonic()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(args.host, args.port), args.timeout_seconds)
    except (OSError, TimeoutError) as exc:
        return {
            "host": args.host,
            "port": args.port,
            "reachable": False,
            "error": f"{type(exc).__name__}: {exc}",
        }
    writer.close()
    await writer.wait_closed()
    return {
        "host": args.host,
        "port": args.port,
        "reachable": True,
        "connect_ms": round((time.monotonic() - started) * 1000, 1),
    }


class DnsResolveArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: HostName


async def _dns_resolve(args: DnsResolveArgs, host: Host) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    try:
        infos = await loop.getaddrinfo(args.name, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return {"name": args.name, "resolved": False, "addresses": [], "error": str(exc)}
    addresses = sorted({str(info[4][0]) for info in infos})
    return {
        "name": args.name,
        "resolved": bool(addresses),
        "addresses": addresses,
        "lookup_ms": round((time.monotonic() - started) * 1000, 1),
    }


def route_argv(platform: Platform) -> list[str]:
    """The argv that lists the routing table on ``platform``."""
    if platform == "windows":
        return powershell_argv(
            "Get-NetRoute -AddressFamily IPv4 | Select-Object DestinationPrefix,NextHop,"
            "InterfaceAlias,RouteMetric | ConvertTo-Json -Compress"
        )
    if platform == "macos":
        return ["netstat", "-rn", "-f", "inet"]
    return ["ip", "-j", "route", "show"]


def _linux_proc_routes() -> list[dict[str, Any]]:
    routes = []
    lines = Path("/proc/net/route").read_text().splitlines()[1:]
    for line in lines:
        fields = line.split()
        dest, gateway = (socket.inet_ntoa(bytes.fromhex(fields[i])[::-1]) for i in (1, 2))
        routes.append({"destination": dest, "gateway": gateway, "interface": fields[0]})
    return routes


def parse_routes(platform: Platform, stdout: str) -> list[dict[str, Any]]:
    """Routes as {destination, gateway, interface} from each platform's listing."""
    if platform == "linux":
        return [
            {"destination": r.get("dst"), "gateway": r.get("gateway"), "interface": r.get("dev")}
            for r in json.loads(stdout or "[]")
        ]
    if platform == "windows":
        data = json.loads(stdout or "[]")
        data = data if isinstance(data, list) else [data]
        return [
            {
                "destination": r.get("DestinationPrefix"),
                "gateway": r.get("NextHop"),
                "interface": r.get("InterfaceAlias"),
            }
            for r in data
        ]
    routes = []
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[0] not in ("Routing", "Internet:", "Destination"):
            routes.append({"destination": fields[0], "gateway": fields[1], "interface": fields[3]})
    return routes


async def _routes(args: NoArgs, host: Host) -> dict[str, Any]:
    argv = route_argv(host.platform)
    if host.platform == "linux" and host.which("ip") is None:
        routes = await asyncio.to_thread(_linux_proc_routes)
    else:
        host.require(argv[0])
        result = await host.run_checked(argv, timeout=20)
        routes = parse_routes(host.platform, result.stdout)
    default = next((r for r in routes if r["destination"] in _DEFAULT_ROUTE), None)
    return {
        "routes": routes,
        "default_gateway": default["gateway"] if default else None,
        "default_interface": default["interface"] if default else None,
    }


_DEFAULT_ROUTE = ("default", "0.0.0.0", "0.0.0.0/0")  # noqa: S104 - route names, not binds
_VPN_PREFIXES = ("tun", "tap", "wg", "ppp", "utun", "ipsec", "vpn", "tailscale", "zt")


async def _interfaces(args: NoArgs, host: Host) -> dict[str, Any]:
    stats = psutil.net_if_stats()
    addrs = psutil.net_if_addrs()
    rows = []
    for name in sorted(stats):
        st = stats[name]
        rows.append(
            {
                "name": name,
                "up": st.isup,
                "speed_mbps": st.speed,
                "mtu": st.mtu,
                "addresses": [a.address for a in addrs.get(name, []) if a.family in (socket.AF_INET, socket.AF_INET6)],
                "looks_like_vpn": name.lower().startswith(_VPN_PREFIXES),
            }
        )
    return {
        "interfaces": rows,
        "vpn_interfaces_up": [r["name"] for r in rows if r["looks_like_vpn"] and r["up"]],
    }


def wifi_argv(platform: Platform) -> list[str]:
    """The argv that reports Wi-Fi state on ``platform``."""
    if platform == "windows":
        return ["netsh", "wlan", "show", "interfaces"]
    if platform == "macos":
        return ["system_profiler", "SPAirPortDataType", "-json"]
    return ["nmcli", "-t", "-f", "ACTIVE,SSID,SIGNAL,SECURITY", "device", "wifi", "list"]


def parse_wifi(platform: Platform, stdout: str) -> dict[str, Any]:
    """Connected SSID and signal from each platform's Wi-Fi report."""
    if platform == "windows":
        fields: dict[str, str] = {}
        for line in stdout.splitlines():
            if ":" in line:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip().lower(), value.strip())
        signal = fields.get("signal", "").rstrip("%")
        return {
            "connected": fields.get("state") == "connected",
            "ssid": fields.get("ssid"),
            "signal_percent": int(signal) if signal.isdigit() else None,
        }
    if platform == "macos":
        data = json.loads(stdout or "{}")
        for entry in data.get("SPAirPortDataType", []):
            for iface in entry.get("spairport_airport_interfaces", []):
                current = iface.get("spairport_current_network_information")
                if current:
                    return {
                        "connected": True,
                        "ssid": current.get("_name"),
                        "signal_percent": None,
                        "signal_noise": current.get("spairport_signal_noise"),
                    }
        return {"connected": False, "ssid": None, "signal_percent": None}
    for line in stdout.splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[0] == "yes":
            return {
                "connected": True,
                "ssid": parts[1],
                "signal_percent": int(parts[2]) if parts[2].isdigit() else None,
            }
    return {"connected": False, "ssid": None, "signal_percent": None}


def _wireless_adapters() -> list[str]:
    return sorted(p.parent.name for p in Path("/sys/class/net").glob("*/wireless"))


async def _wifi(args: NoArgs, host: Host) -> dict[str, Any]:
    if host.platform == "linux":
        wireless = await asyncio.to_thread(_wireless_adapters)
        if not wireless:
            return {
                "wifi_adapters": [],
                "connected": False,
                "ssid": None,
                "signal_percent": None,
                "reason": "no wireless adapter on this device",
            }
        if host.which("nmcli") is None:
            stats = psutil.net_if_stats()
            return {
                "wifi_adapters": wireless,
                "adapters_up": [n for n in wireless if n in stats and stats[n].isup],
                "connected": None,
                "ssid": None,
                "signal_percent": None,
                "reason": "nmcli missing: SSID and signal unknown",
            }
    argv = wifi_argv(host.platform)
    host.require(argv[0])
    result = await host.run(argv, timeout=30)
    if not result.ok:
        raise ToolFailed(f"{argv[0]} failed: {result.stderr.strip()[:300]}")
    return parse_wifi(host.platform, result.stdout)


NETWORK_TOOLS = [
    cross_platform_tool(
        "ping",
        "ICMP ping a host: reachability, packet loss, average round trip.",
        PingArgs,
        "read",
        _ping,
        timeout_seconds=40,
    ),
    cross_platform_tool(
        "tcp_connect",
        "Check that a TCP port on a host accepts connections (VPN gateway, mail).",
        TcpConnectArgs,
        "read",
        _tcp_connect,
        timeout_seconds=35,
    ),
    cross_platform_tool(
        "dns_resolve",
        "Resolve a host name with the device's own resolver.",
        DnsResolveArgs,
        "read",
        _dns_resolve,
        timeout_seconds=20,
    ),
    cross_platform_tool(
        "route_table",
        "The IPv4 routing table and default gateway.",
        NoArgs,
        "read",
        _routes,
        timeout_seconds=20,
    ),
    cross_platform_tool(
        "network_interfaces",
        "Network adapters, their state and addresses, and which look like VPNs.",
        NoArgs,
        "read",
        _interfaces,
        timeout_seconds=10,
    ),
    cross_platform_tool(
        "wifi_status",
        "Wi-Fi adapter, connected network (SSID) and signal strength.",
        NoArgs,
        "read",
        _wifi,
        timeout_seconds=30,
    ),
]
