"""Security posture reads: disk encryption (LUKS / FileVault / BitLocker) and host firewall.

Both are read-only; they feed phishing and onboarding checks and compliance notes.
"""

from __future__ import annotations

import json
from typing import Any

from mspclaw_agent.tools.base import (
    Host,
    NoArgs,
    Platform,
    ToolUnavailable,
    cross_platform_tool,
    powershell_argv,
)


def encryption_argv(platform: Platform) -> list[str]:
    """The argv that reports disk encryption on ``platform``."""
    if platform == "windows":
        return powershell_argv(
            "Get-BitLockerVolume | ForEach-Object { [pscustomobject]@{ MountPoint=$_.MountPoint; "
            "Protection=$_.ProtectionStatus.ToString(); Status=$_.VolumeStatus.ToString() } } "
            "| ConvertTo-Json -Compress"
        )
    if platform == "macos":
        return ["fdesetup", "status"]
    return ["lsblk", "-J", "-o", "NAME,TYPE,FSTYPE,MOUNTPOINT"]


def _walk(devices: list[dict[str, Any]], encrypted: bool, out: list[dict[str, Any]]) -> None:
    for dev in devices:
        here = encrypted or dev.get("type") == "crypt" or dev.get("fstype") == "crypto_LUKS"
        out.append({"name": dev.get("name"), "mountpoint": dev.get("mountpoint"), "encrypted": here})
        _walk(dev.get("children") or [], here, out)


def parse_encryption(platform: Platform, stdout: str) -> dict[str, Any]:
    """Volumes with an ``encrypted`` flag and whether the system volume is encrypted."""
    if platform == "macos":
        on = "FileVault is On" in stdout
        return {
            "volumes": [{"name": "FileVault", "mountpoint": "/", "encrypted": on}],
            "system_volume_encrypted": on,
        }
    if platform == "windows":
        data = json.loads(stdout or "[]")
        data = data if isinstance(data, list) else [data]
        volumes = [
            {
                "name": v.get("MountPoint"),
                "mountpoint": v.get("MountPoint"),
                "encrypted": v.get("Protection") == "On",
            }
            for v in data
        ]
        system = next((v for v in volumes if (v["mountpoint"] or "").upper() == "C:"), None)
        return {"volumes": volumes, "system_volume_encrypted": bool(system and system["encrypted"])}
    rows: list[dict[str, Any]] = []
    _walk(json.loads(stdout or "{}").get("blockdevices", []), False, rows)
    mounted = [r for r in rows if r["mountpoint"]]
    root = next((r for r in mounted if r["mountpoint"] == "/"), None)
    return {
        "volumes": mounted,
        "system_volume_encrypted": root["encrypted"] if root else None,
        "note": None if root else "root filesystem is not on a local block device",
    }


async def _encryption(args: NoArgs, host: Host) -> dict[str, Any]:
    argv = encryption_argv(host.platform)
    host.require(argv[0])
    result = await host.run_checked(argv, timeout=60)
    return parse_encryption(host.platform, result.stdout)


def firewall_argv(platform: Platform, program: str | None = None) -> list[str]:
    """The argv that reports firewall state; on Linux ``program`` picks ufw/nft/iptables."""
    if platform == "windows":
        return powershell_argv(
            "Get-NetFirewallProfile | ForEach-Object { [pscustomobject]@{ Name=$_.Name; "
            "Enabled=[bool]$_.Enabled } } | ConvertTo-Json -Compress"
        )
    if platform == "macos":
        return ["/usr/libexec/ApplicationFirewall/socketfilterfw", "--getglobalstate"]
    return {
        "ufw": ["ufw", "status"],
        "nft": ["nft", "list", "ruleset"],
        "iptables": ["iptables", "-S"],
    }[program or "ufw"]


def parse_firewall(platform: Platform, stdout: str, program: str | None = None) -> dict[str, Any]:
    """Whether the firewall is on, per profile where the OS has profiles."""
    if platform == "windows":
        data = json.loads(stdout or "[]")
        data = data if isinstance(data, list) else [data]
        profiles = {p["Name"]: bool(p["Enabled"]) for p in data}
        return {"enabled": bool(profiles) and all(profiles.values()), "profiles": profiles}
    if platform == "macos":
        return {
            "enabled": "enabled" in stdout.lower() and "State = 0" not in stdout,
            "profiles": {},
        }
    if program == "ufw":
        return {"enabled": "Status: active" in stdout, "profiles": {}, "backend": "ufw"}
    if program == "nft":
        return {"enabled": "chain" in stdout, "profiles": {}, "backend": "nft"}
    rules = [ln for ln in stdout.splitlines() if ln.startswith("-A ")]
    drop_policy = any(ln.startswith("-P INPUT DROP") for ln in stdout.splitlines())
    return {"enabled": bool(rules) or drop_policy, "profiles": {}, "backend": "iptables"}


async def _firewall(args: NoArgs, host: Host) -> dict[str, Any]:
    program: str | None = None
    if host.platform == "linux":
        program = next((p for p in ("ufw", "nft", "iptables") if host.which(p)), None)
        if program is None:
            raise ToolUnavailable("no firewall tool (ufw, nft, iptables) found", missing="ufw")
    argv = firewall_argv(host.platform, program)
    host.require(argv[0])
    result = await host.run_checked(argv, timeout=30)
    return parse_firewall(host.platform, result.stdout, program)


SECURITY_TOOLS = [
    cross_platform_tool(
        "encryption_status",
        "Whether the system disk is encrypted (LUKS, FileVault, BitLocker).",
        NoArgs,
        "read",
        _encryption,
        timeout_seconds=60,
    ),
    cross_platform_tool(
        "firewall_status",
        "Whether the host firewall is enabled.",
        NoArgs,
        "read",
        _firewall,
        timeout_seconds=30,
    ),
]
