"""Service control from a fixed allow-list, print-spooler restart and DNS cache flush.

Callers name a *logical* service (``print_spooler``); the per-OS unit/label/service name
comes from the table below, so no caller-supplied text ever reaches systemctl/launchctl/PS.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mspclaw_agent.tools.base import (
    Host,
    NoArgs,
    Platform,
    ToolUnavailable,
    cross_platform_tool,
    powershell_argv,
    ps_literal,
)

#: logical service -> OS-specific name (systemd unit, launchd label, Windows service)
ALLOWED_SERVICES: dict[str, dict[Platform, str]] = {
    "print_spooler": {
        "linux": "cups.service",
        "macos": "system/org.cups.cupsd",
        "windows": "Spooler",
    },
    "dns_client": {
        "linux": "systemd-resolved.service",
        "macos": "system/com.apple.mDNSResponder",
        "windows": "Dnscache",
    },
    "network_manager": {"linux": "NetworkManager.service"},
    "wlan": {"linux": "wpa_supplicant.service", "windows": "WlanSvc"},
    "time_sync": {
        "linux": "systemd-timesyncd.service",
        "macos": "system/com.apple.timed",
        "windows": "W32Time",
    },
    "windows_update": {"windows": "wuauserv"},
    "ssh_server": {"linux": "ssh.service", "macos": "system/com.openssh.sshd"},
    "vpn_openvpn": {"linux": "openvpn.service"},
    "outlook_search": {"windows": "WSearch"},
}

ServiceName = Literal[
    "print_spooler",
    "dns_client",
    "network_manager",
    "wlan",
    "time_sync",
    "windows_update",
    "ssh_server",
    "vpn_openvpn",
    "outlook_search",
]


class RestartServiceArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: ServiceName = Field(description="logical service name from the allow-list")


def restart_argv(service: str, platform: Platform) -> list[str]:
    """The argv that restarts allow-listed ``service`` on ``platform``."""
    names = ALLOWED_SERVICES[service]
    if platform not in names:
        raise ToolUnavailable(f"service {service} does not exist on {platform}")
    native = names[platform]
    if platform == "linux":
        return ["systemctl", "restart", native]
    if platform == "macos":
        return ["launchctl", "kickstart", "-k", native]
    return powershell_argv(
        f"Restart-Service -Name {ps_literal(native)} -Force -ErrorAction Stop; "
        f"(Get-Service -Name {ps_literal(native)}).Status.ToString()"
    )


def status_argv(service: str, platform: Platform) -> list[str]:
    """The argv that reports whether allow-listed ``service`` is running."""
    native = ALLOWED_SERVICES[service][platform]
    if platform == "linux":
        return ["systemctl", "is-active", native]
    if platform == "macos":
        return ["launchctl", "print", native]
    return powershell_argv(f"(Get-Service -Name {ps_literal(native)}).Status.ToString()")


async def _restart(service: str, host: Host) -> dict[str, Any]:
    argv = restart_argv(service, host.platform)
    host.require(argv[0])
    if host.platform == "linux" and not host.systemd_running():
        raise ToolUnavailable("systemd is not running (no service manager)", missing="systemd")
    await host.run_checked(argv, timeout=90)
    status = await host.run(status_argv(service, host.platform), timeout=30)
    if host.platform == "macos":
        # `launchctl print` is a long report; only its state line matters
        state = "running" if status.ok and "state = running" in status.stdout else "not running"
    else:
        # systemctl is-active prints e.g. "active"; Get-Service prints e.g. "Running"
        state = status.stdout.strip().splitlines()[-1] if status.stdout.strip() else "unknown"
    return {
        "service": service,
        "native_name": ALLOWED_SERVICES[service][host.platform],
        "restarted": True,
        "state": state,
    }


async def _restart_service(args: RestartServiceArgs, host: Host) -> dict[str, Any]:
    return await _restart(args.service, host)


async def _restart_spooler(args: NoArgs, host: Host) -> dict[str, Any]:
    return await _restart("print_spooler", host)


def flush_dns_commands(platform: Platform) -> list[list[str]]:
    """The argv lists that flush the DNS cache on ``platform``, in order."""
    if platform == "macos":
        return [["dscacheutil", "-flushcache"], ["killall", "-HUP", "mDNSResponder"]]
    if platform == "windows":
        return [["ipconfig", "/flushdns"]]
    return [["resolvectl", "flush-caches"]]


async def _flush_dns(args: NoArgs, host: Host) -> dict[str, Any]:
    commands = flush_dns_commands(host.platform)
    if host.platform == "linux" and host.which("resolvectl") is None:
        # without systemd-resolved there is no local cache to flush; nscd is the other one
        if host.which("nscd") is not None:
            commands = [["nscd", "--invalidate=hosts"]]
        else:
            raise ToolUnavailable("resolvectl missing (no local DNS cache)", missing="resolvectl")
    for argv in commands:
        host.require(argv[0])
        await host.run_checked(argv, timeout=30)
    return {"flushed": True, "commands": [" ".join(a) for a in commands]}


SERVICE_TOOLS = [
    cross_platform_tool(
        "restart_service",
        "Restart one service from the allow-list (e.g. print_spooler, dns_client).",
        RestartServiceArgs,
        "change",
        _restart_service,
        timeout_seconds=120,
        verification_hint="the returned state is running/active",
    ),
    cross_platform_tool(
        "restart_print_spooler",
        "Restart the print spooler (CUPS on macOS/Linux, Spooler on Windows).",
        NoArgs,
        "change",
        _restart_spooler,
        timeout_seconds=120,
        verification_hint="printer_queue_status succeeds afterwards",
    ),
    cross_platform_tool(
        "flush_dns",
        "Flush the operating system's DNS resolver cache.",
        NoArgs,
        "change",
        _flush_dns,
        timeout_seconds=60,
        verification_hint="dns_resolve returns addresses for the failing name",
    ),
]
