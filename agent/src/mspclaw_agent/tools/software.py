"""Software tools: pending OS updates, installed software, and install/uninstall from an
approved catalog through winget (Windows), Homebrew (macOS) or apt (Linux).

Only catalog ids are accepted; the native package id comes from the catalog, never the caller.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from mspclaw_agent.tools.base import (
    Host,
    NoArgs,
    Platform,
    ToolUnavailable,
    cross_platform_tool,
    powershell_argv,
)
from mspclaw_agent.tools.fields import SearchText

PackageAction = Literal["install", "uninstall", "upgrade"]


@dataclass(frozen=True)
class CatalogPackage:
    """One approved package and its native id per package manager."""

    title: str
    winget: str | None = None
    brew: str | None = None
    brew_cask: bool = True
    apt: str | None = None


APPROVED_PACKAGES: dict[str, CatalogPackage] = {
    "firefox": CatalogPackage("Mozilla Firefox", "Mozilla.Firefox", "firefox", apt="firefox-esr"),
    "google-chrome": CatalogPackage("Google Chrome", "Google.Chrome", "google-chrome"),
    "7zip": CatalogPackage("7-Zip", "7zip.7zip", "sevenzip", brew_cask=False, apt="p7zip-full"),
    "vlc": CatalogPackage("VLC media player", "VideoLAN.VLC", "vlc", apt="vlc"),
    "libreoffice": CatalogPackage("LibreOffice", "TheDocumentFoundation.LibreOffice", "libreoffice", apt="libreoffice"),
    "zoom": CatalogPackage("Zoom Workplace", "Zoom.Zoom", "zoom"),
    "slack": CatalogPackage("Slack", "SlackTechnologies.Slack", "slack"),
    "microsoft-teams": CatalogPackage("Microsoft Teams", "Microsoft.Teams", "microsoft-teams"),
    "adobe-acrobat-reader": CatalogPackage(
        "Adobe Acrobat Reader", "Adobe.Acrobat.Reader.64-bit", "adobe-acrobat-reader"
    ),
    "vscode": CatalogPackage("Visual Studio Code", "Microsoft.VisualStudioCode", "visual-studio-code"),
    "keepassxc": CatalogPackage("KeePassXC", "KeePassXCTeam.KeePassXC", "keepassxc", apt="keepassxc"),
    "htop": CatalogPackage("htop", None, "htop", brew_cask=False, apt="htop"),
    "curl": CatalogPackage("curl", "cURL.cURL", "curl", brew_cask=False, apt="curl"),
    "tree": CatalogPackage("tree", None, "tree", brew_cask=False, apt="tree"),
}


class PackageArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    package: str = Field(
        description="id from the approved catalog",
        json_schema_extra={"enum": list(sorted(APPROVED_PACKAGES))},
    )
    simulate: bool = Field(False, description="plan only (apt-get -s on Linux; argv only elsewhere)")

    @field_validator("package")
    @classmethod
    def _approved(cls, value: str) -> str:
        if value not in APPROVED_PACKAGES:
            raise ValueError(f"{value!r} is not in the approved software catalog")
        return value


def package_argv(platform: Platform, package: str, action: PackageAction, simulate: bool = False) -> list[str]:
    """The argv that installs, uninstalls or upgrades catalog ``package``."""
    entry = APPROVED_PACKAGES[package]
    if platform == "windows":
        if entry.winget is None:
            raise ToolUnavailable(f"{package} has no winget package")
        argv = ["winget", action, "--id", entry.winget, "--exact", "--silent"]
        argv += ["--accept-source-agreements", "--disable-interactivity"]
        if action != "uninstall":
            argv.append("--accept-package-agreements")
        return argv
    if platform == "macos":
        if entry.brew is None:
            raise ToolUnavailable(f"{package} has no Homebrew package")
        return ["brew", action, *(["--cask"] if entry.brew_cask else []), entry.brew]
    if entry.apt is None:
        raise ToolUnavailable(f"{package} has no apt package")
    verb, options = {
        "install": ("install", ["--no-install-recommends"]),
        "uninstall": ("remove", []),
        "upgrade": ("install", ["--only-upgrade"]),
    }[action]
    return ["apt-get", verb, "-y", *(["-s"] if simulate else []), *options, "--", entry.apt]


def _apt_changes(stdout: str) -> list[str]:
    return [line.split()[1] for line in stdout.splitlines() if line.startswith(("Inst ", "Remv "))]


async def _package_action(args: PackageArgs, host: Host, action: PackageAction) -> dict[str, Any]:
    argv = package_argv(host.platform, args.package, action, args.simulate)
    base = {"package": args.package, "action": action, "argv": argv}
    if args.simulate and host.platform != "linux":
        return {**base, "simulated": True, "changed": []}
    host.require(argv[0])
    env = {"DEBIAN_FRONTEND": "noninteractive"} if host.platform == "linux" else None
    result = await host.run_checked(argv, timeout=1200, env=env)
    changed = _apt_changes(result.stdout) if host.platform == "linux" else [args.package]
    return {**base, "simulated": args.simulate, "changed": changed}


async def _install(args: PackageArgs, host: Host) -> dict[str, Any]:
    return await _package_action(args, host, "install")


async def _uninstall(args: PackageArgs, host: Host) -> dict[str, Any]:
    return await _package_action(args, host, "uninstall")


async def _upgrade(args: PackageArgs, host: Host) -> dict[str, Any]:
    return await _package_action(args, host, "upgrade")


def pending_updates_argv(platform: Platform) -> list[str]:
    """The argv that lists pending OS updates without installing them."""
    if platform == "windows":
        return powershell_argv(
            "$s = (New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher(); "
            "@($s.Search('IsInstalled=0 and IsHidden=0').Updates | ForEach-Object { "
            "[pscustomobject]@{ Title=$_.Title; Severity=$_.MsrcSeverity } }) "
            "| ConvertTo-Json -Compress"
        )
    if platform == "macos":
        return ["softwareupdate", "--list", "--no-scan"]
    return ["apt-get", "-s", "-o", "Debug::NoLocking=1", "upgrade"]


_APT_INST = re.compile(r"^Inst (\S+) (?:\[(\S+)\] )?\((\S+) ([^)]*)\)")


def parse_pending_updates(platform: Platform, stdout: str) -> list[dict[str, Any]]:
    """Pending updates as {name, current, available, security}."""
    if platform == "linux":
        updates = []
        for line in stdout.splitlines():
            m = _APT_INST.match(line)
            if m:
                updates.append(
                    {
                        "name": m.group(1),
                        "current": m.group(2),
                        "available": m.group(3),
                        "security": "security" in m.group(4).lower(),
                    }
                )
        return updates
    if platform == "macos":
        return [
            {"name": line.split("Label:", 1)[1].strip(), "security": "Security" in line}
            for line in stdout.splitlines()
            if "Label:" in line
        ]
    data = json.loads(stdout or "[]")
    data = data if isinstance(data, list) else [data]
    return [{"name": u.get("Title"), "security": (u.get("Severity") or "") in ("Critical", "Important")} for u in data]


async def _pending_updates(args: NoArgs, host: Host) -> dict[str, Any]:
    argv = pending_updates_argv(host.platform)
    host.require(argv[0])
    result = await host.run_checked(argv, timeout=300)
    updates = parse_pending_updates(host.platform, result.stdout)
    return {
        "pending_count": len(updates),
        "security_count": sum(1 for u in updates if u.get("security")),
        "updates": updates,
    }


class InstalledSoftwareArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_contains: SearchText | None = Field(None, description="case-insensitive name filter")
    limit: int = Field(200, ge=1, le=2000)


def installed_argv(platform: Platform) -> list[str]:
    """The argv that lists installed software."""
    if platform == "windows":
        return powershell_argv(
            "Get-ItemProperty 'HKLM:\\Software\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*',"
            "'HKLM:\\Software\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Uninstall\\*' "
            "-ErrorAction SilentlyContinue | Where-Object DisplayName "
            "| Select-Object DisplayName,DisplayVersion | ConvertTo-Json -Compress"
        )
    if platform == "macos":
        return ["system_profiler", "SPApplicationsDataType", "-json"]
    return ["dpkg-query", "-W", "-f", "${Package}\\t${Version}\\n"]


def parse_installed(platform: Platform, stdout: str) -> list[dict[str, Any]]:
    """Installed software as {name, version}."""
    if platform == "linux":
        rows = []
        for line in stdout.splitlines():
            name, _, version = line.partition("\t")
            if name:
                rows.append({"name": name, "version": version})
        return rows
    if platform == "macos":
        data = json.loads(stdout or "{}")
        return [{"name": a.get("_name"), "version": a.get("version")} for a in data.get("SPApplicationsDataType", [])]
    data = json.loads(stdout or "[]")
    data = data if isinstance(data, list) else [data]
    return [{"name": a.get("DisplayName"), "version": a.get("DisplayVersion")} for a in data]


async def _installed(args: InstalledSoftwareArgs, host: Host) -> dict[str, Any]:
    argv = installed_argv(host.platform)
    host.require(argv[0])
    result = await host.run_checked(argv, timeout=120)
    rows = parse_installed(host.platform, result.stdout)
    if args.name_contains:
        needle = args.name_contains.lower()
        rows = [r for r in rows if needle in (r["name"] or "").lower()]
    rows.sort(key=lambda r: (r["name"] or "").lower())
    return {"count": len(rows), "software": rows[: args.limit]}


SOFTWARE_TOOLS = [
    cross_platform_tool(
        "pending_updates",
        "OS updates that are available but not installed.",
        NoArgs,
        "read",
        _pending_updates,
        timeout_seconds=300,
    ),
    cross_platform_tool(
        "installed_software",
        "Installed applications/packages and their versions.",
        InstalledSoftwareArgs,
        "read",
        _installed,
        timeout_seconds=120,
        max_output_bytes=256 * 1024,
    ),
    cross_platform_tool(
        "install_package",
        "Install a package from the approved catalog (winget / Homebrew / apt).",
        PackageArgs,
        "change",
        _install,
        timeout_seconds=1200,
        verification_hint="installed_software lists the package",
    ),
    cross_platform_tool(
        "uninstall_package",
        "Uninstall a package from the approved catalog.",
        PackageArgs,
        "change",
        _uninstall,
        timeout_seconds=1200,
        verification_hint="installed_software no longer lists the package",
    ),
    cross_platform_tool(
        "update_package",
        "Upgrade an installed catalog package to the latest version.",
        PackageArgs,
        "change",
        _upgrade,
        timeout_seconds=1200,
        verification_hint="installed_software shows a newer version",
    ),
]
