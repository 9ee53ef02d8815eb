"""macOS and Windows implementations: the exact argv they build and how they read output.

A RecordingHost plays the other OS; the code under test is the real tool implementation.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mspclaw_agent.tools import EndpointTool, execute_tool, run_tool
from mspclaw_agent.tools.base import ToolFailed
from pydantic import BaseModel

PS = ["powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command"]


async def test_windows_restart_spooler_is_fixed_powershell(recording_host: Any) -> None:
    host = recording_host("windows", {"Get-Service": "Running"})
    outcome = await run_tool("restart_print_spooler", {}, host=host)
    assert outcome.ok, outcome.error
    argv = host.calls[0]
    assert argv[:6] == PS
    assert argv[6].startswith("Restart-Service -Name 'Spooler' -Force")
    assert len(argv) == 7  # one fixed script, nothing appended


async def test_macos_and_linux_restart_argv(recording_host: Any) -> None:
    mac = recording_host("macos", {"launchctl print": "state = running"})
    outcome = await run_tool("restart_service", {"service": "dns_client"}, host=mac)
    assert mac.calls[0] == ["launchctl", "kickstart", "-k", "system/com.apple.mDNSResponder"]
    assert outcome.output["state"] == "running"
    linux = recording_host("linux", {"is-active": "active"})
    await run_tool("restart_service", {"service": "print_spooler"}, host=linux)
    assert linux.calls[0] == ["systemctl", "restart", "cups.service"]


async def test_service_missing_on_an_os_is_unavailable(recording_host: Any) -> None:
    outcome = await run_tool("restart_service", {"service": "windows_update"}, host=recording_host("macos"))
    assert not outcome.ok and "does not exist on macos" in (outcome.error or "")


async def test_flush_dns_per_os(recording_host: Any) -> None:
    mac = recording_host("macos")
    await run_tool("flush_dns", {}, host=mac)
    assert mac.calls == [["dscacheutil", "-flushcache"], ["killall", "-HUP", "mDNSResponder"]]
    win = recording_host("windows")
    await run_tool("flush_dns", {}, host=win)
    assert win.calls == [["ipconfig", "/flushdns"]]


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("windows", ["winget", "install", "--id", "VideoLAN.VLC", "--exact", "--silent"]),
        ("macos", ["brew", "install", "--cask", "vlc"]),
        ("linux", ["apt-get", "install", "-y", "--no-install-recommends", "--", "vlc"]),
    ],
)
async def test_install_package_argv(platform: str, expected: list[str], recording_host: Any) -> None:
    host = recording_host(platform)
    outcome = await run_tool("install_package", {"package": "vlc"}, host=host)
    assert outcome.ok, outcome.error
    assert host.calls[0][: len(expected)] == expected


async def test_uninstall_and_upgrade_argv(recording_host: Any) -> None:
    win = recording_host("windows")
    await run_tool("uninstall_package", {"package": "zoom"}, host=win)
    assert win.calls[0][:4] == ["winget", "uninstall", "--id", "Zoom.Zoom"]
    mac = recording_host("macos")
    await run_tool("update_package", {"package": "htop"}, host=mac)
    assert mac.calls[0] == ["brew", "upgrade", "htop"]  # a formula, no --cask


async def test_package_without_a_native_id_is_unavailable(recording_host: Any) -> None:
    outcome = await run_tool("install_package", {"package": "zoom"}, host=recording_host("linux"))
    assert not outcome.ok and outcome.error == "not available on this device: zoom has no apt package"


async def test_windows_clear_queue_quotes_the_printer(recording_host: Any) -> None:
    host = recording_host("windows")
    await run_tool("clear_print_queue", {"printer": "HP-LaserJet_2F"}, host=host)
    assert host.calls[0][:6] == PS
    assert "Get-PrintJob -PrinterName 'HP-LaserJet_2F' | Remove-PrintJob" in host.calls[0][6]
    mac = recording_host("macos")
    await run_tool("clear_print_queue", {}, host=mac)
    assert mac.calls[0] == ["cancel", "-a"]


async def test_cups_queue_parsing(recording_host: Any) -> None:
    host = recording_host(
        "macos",
        {
            "lpstat -p": "printer HP2F disabled since Mon - paused\nprinter Lobby is idle.\n",
            "lpstat -o": "HP2F-12 alice 1024 Mon\nHP2F-13 bob 2048 Mon\n",
        },
    )
    outcome = await run_tool("printer_queue_status", {}, host=host)
    assert outcome.output["total_jobs"] == 2
    assert outcome.output["stuck_printers"] == ["HP2F"]


async def test_windows_printers_wifi_updates_firewall_encryption(recording_host: Any) -> None:
    host = recording_host(
        "windows",
        {
            "Get-Printer": json.dumps([{"Name": "HP", "Status": "Error", "Jobs": 3}]),
            "netsh": "    State                  : connected\n    SSID                   : Office\n"
            "    Signal                 : 81%\n",
            "Microsoft.Update.Session": json.dumps([{"Title": "2026-11 Cumulative Update", "Severity": "Critical"}]),
            "Get-NetFirewallProfile": json.dumps(
                [{"Name": "Domain", "Enabled": True}, {"Name": "Public", "Enabled": False}]
            ),
            "Get-BitLockerVolume": json.dumps({"MountPoint": "C:", "Protection": "On", "Status": "x"}),
        },
    )
    printers = await run_tool("printer_queue_status", {}, host=host)
    assert printers.output["stuck_printers"] == ["HP"]
    wifi = await run_tool("wifi_status", {}, host=host)
    assert wifi.output == {"connected": True, "ssid": "Office", "signal_percent": 81}
    updates = await run_tool("pending_updates", {}, host=host)
    assert updates.output["security_count"] == 1
    firewall = await run_tool("firewall_status", {}, host=host)
    assert firewall.output["enabled"] is False
    assert firewall.output["profiles"] == {"Domain": True, "Public": False}
    enc = await run_tool("encryption_status", {}, host=host)
    assert enc.output["system_volume_encrypted"] is True
    assert all(call[:6] == PS for call in host.calls if call[0] == "powershell.exe")


async def test_macos_encryption_firewall_ping(recording_host: Any) -> None:
    host = recording_host(
        "macos",
        {
            "fdesetup": "FileVault is Off.\n",
            "socketfilterfw": "Firewall is enabled. (State = 1)\n",
            "ping": "4 packets transmitted, 4 packets received, 0.0% packet loss\n"
            "round-trip min/avg/max/stddev = 1.1/2.5/3.0/0.4 ms\n",
        },
    )
    assert (await run_tool("encryption_status", {}, host=host)).output["system_volume_encrypted"] is False
    assert (await run_tool("firewall_status", {}, host=host)).output["enabled"] is True
    ping = await run_tool("ping", {"host": "example.com", "count": 4}, host=host)
    assert host.calls[-1] == ["ping", "-c", "4", "-t", "10", "example.com"]
    assert ping.output["packet_loss_percent"] == 0.0 and ping.output["avg_rtt_ms"] == 2.5


async def test_linux_ping_puts_the_host_after_double_dash(recording_host: Any) -> None:
    host = recording_host("linux")
    await run_tool("ping", {"host": "10.0.0.1", "count": 2}, host=host)
    assert host.calls[0] == ["ping", "-c", "2", "-W", "2", "--", "10.0.0.1"]


class _Big(BaseModel):
    pass


async def test_output_over_the_limit_is_cut_and_flagged() -> None:
    async def huge(args: _Big, host: Any) -> dict[str, Any]:
        return {"rows": [{"n": i, "pad": "x" * 50} for i in range(1000)], "count": 1000}

    tool = EndpointTool(
        name="huge",
        version="1",
        description="",
        args_model=_Big,
        risk="read",
        implementations={"linux": huge, "macos": huge, "windows": huge},
        max_output_bytes=2048,
    )
    outcome = await execute_tool(tool, {})
    assert outcome.ok and outcome.truncated
    assert len(json.dumps(outcome.output)) <= 2048
    assert outcome.output["count"] == 1000 and 0 < len(outcome.output["rows"]) < 1000


async def test_a_failing_tool_never_raises() -> None:
    async def broken(args: _Big, host: Any) -> dict[str, Any]:
        raise ToolFailed("disk on fire", {"where": "C:"})

    tool = EndpointTool(
        name="broken",
        version="1",
        description="",
        args_model=_Big,
        risk="read",
        implementations={"linux": broken, "macos": broken, "windows": broken},
    )
    outcome = await execute_tool(tool, {})
    assert outcome.ok is False and outcome.error == "disk on fire"
    assert outcome.output == {"where": "C:"}


async def test_unexpected_output_is_an_outcome_not_a_crash(recording_host: Any) -> None:
    host = recording_host("windows", {"Get-Printer": json.dumps([{"Unexpected": 1}])})
    outcome = await run_tool("printer_queue_status", {}, host=host)
    assert outcome.ok is False and outcome.error == "KeyError: 'Name'"


async def test_macos_and_windows_inventory_and_routes(recording_host: Any) -> None:
    mac = recording_host(
        "macos",
        {
            "SPApplicationsDataType": json.dumps(
                {"SPApplicationsDataType": [{"_name": "Zoom", "version": "6.1"}, {"_name": "Safari", "version": "18"}]}
            ),
            "softwareupdate": "Software Update found the following new or updated software:\n"
            "* Label: macOS Sequoia 15.2-24C101\n\tTitle: macOS Sequoia 15.2, Version: 15.2\n"
            "* Label: Safari18.2-Security\n",
            "netstat": "Routing tables\n\nInternet:\nDestination        Gateway            Flags  Netif Expire\n"
            "default            192.168.1.1        UGScg    en0\n127               127.0.0.1          UCS      lo0\n",
            "SPAirPortDataType": json.dumps(
                {
                    "SPAirPortDataType": [
                        {
                            "spairport_airport_interfaces": [
                                {"spairport_current_network_information": {"_name": "Office"}}
                            ]
                        }
                    ]
                }
            ),
        },
    )
    apps = await run_tool("installed_software", {"name_contains": "zoom"}, host=mac)
    assert apps.output == {"count": 1, "software": [{"name": "Zoom", "version": "6.1"}]}
    updates = await run_tool("pending_updates", {}, host=mac)
    assert updates.output["pending_count"] == 2 and updates.output["security_count"] == 1
    routes = await run_tool("route_table", {}, host=mac)
    assert routes.output["default_gateway"] == "192.168.1.1" and routes.output["default_interface"] == "en0"
    wifi = await run_tool("wifi_status", {}, host=mac)
    assert wifi.output["connected"] is True and wifi.output["ssid"] == "Office"

    win = recording_host(
        "windows",
        {
            "Uninstall": json.dumps({"DisplayName": "7-Zip 24.08", "DisplayVersion": "24.08"}),
            "Get-NetRoute": json.dumps(
                [{"DestinationPrefix": "0.0.0.0/0", "NextHop": "10.0.0.1", "InterfaceAlias": "Wi-Fi"}]
            ),
        },
    )
    apps = await run_tool("installed_software", {}, host=win)
    assert apps.output["software"] == [{"name": "7-Zip 24.08", "version": "24.08"}]
    routes = await run_tool("route_table", {}, host=win)
    assert routes.output["default_gateway"] == "10.0.0.1"
    assert all(call[:2] == ["powershell.exe", "-NoProfile"] for call in win.calls)
