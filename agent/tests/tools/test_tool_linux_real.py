"""Every endpoint tool run for real on this Linux machine through ``run_tool``.

Tools whose facility is missing here (CUPS, systemd, a firewall, ping) must come back as
a structured "not available on this device" outcome, never as an exception.
"""

# ruff: noqa: S603 - the tests start the agent CLI and a busy child with fixed argv
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mspclaw_agent.tools import TOOLS, InvalidToolArguments, UnknownTool, run_tool

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="Linux implementations")

HAS_WIRELESS = bool(list(Path("/sys/class/net").glob("*/wireless")))
HAS_SYSTEMD = Path("/run/systemd/system").is_dir()


def _missing(program: str) -> bool:
    import shutil

    return shutil.which(program) is None


async def test_allow_list_covers_the_playbook_needs() -> None:
    needed = {
        "system_info",
        "top_processes",
        "disk_usage",
        "cleanup_temp",
        "restart_service",
        "flush_dns",
        "ping",
        "dns_resolve",
        "route_table",
        "wifi_status",
        "printer_queue_status",
        "clear_print_queue",
        "restart_print_spooler",
        "pending_updates",
        "installed_software",
        "install_package",
        "uninstall_package",
        "battery_status",
        "encryption_status",
        "firewall_status",
        "user_sessions",
    }
    assert needed <= set(TOOLS)
    for tool in TOOLS.values():
        assert tool.platforms == {"linux", "macos", "windows"}
        assert tool.risk in ("read", "change", "destructive")
        assert tool.timeout_seconds > 0 and tool.max_output_bytes > 0


async def test_system_info_reports_this_machine() -> None:
    outcome = await run_tool("system_info", {})
    assert outcome.ok, outcome.error
    assert outcome.output["platform"] == "linux"
    assert outcome.output["cpu_count"] == os.cpu_count()
    assert outcome.output["memory_total_bytes"] > 0


async def test_top_processes_finds_a_busy_child() -> None:
    busy = await asyncio.create_subprocess_exec(sys.executable, "-c", "while True: pass")
    try:
        await asyncio.sleep(0.3)
        outcome = await run_tool("top_processes", {"limit": 50, "sort_by": "cpu"})
    finally:
        busy.kill()
        await busy.wait()
    assert outcome.ok
    rows = outcome.output["processes"]
    assert len(rows) == min(50, outcome.output["process_count"])
    cpu = [p["cpu_percent"] for p in rows]
    assert cpu == sorted(cpu, reverse=True)
    # on a loaded CI box the spinner may not be first, but it is among the busy ones
    assert busy.pid in [p["pid"] for p in rows if p["cpu_percent"] > 0]


async def test_top_processes_by_memory_is_sorted() -> None:
    outcome = await run_tool("top_processes", {"limit": 10, "sort_by": "memory"})
    mem = [p["memory_percent"] for p in outcome.output["processes"]]
    assert mem == sorted(mem, reverse=True)


async def test_disk_usage_ranks_the_biggest_folder_first(tmp_path: Path) -> None:
    (tmp_path / "big").mkdir()
    (tmp_path / "small").mkdir()
    (tmp_path / "big" / "f.bin").write_bytes(b"x" * 200_000)
    (tmp_path / "small" / "f.bin").write_bytes(b"x" * 1_000)
    outcome = await run_tool("disk_usage", {"path": str(tmp_path), "top": 2})
    assert outcome.ok, outcome.error
    folders = outcome.output["folders"]
    assert [Path(f["path"]).name for f in folders] == ["big", "small"]
    assert folders[0]["bytes"] == 200_000
    assert outcome.output["partitions"]


async def test_cleanup_deletes_only_old_files_inside_the_root(tmp_path: Path) -> None:
    old = tmp_path / "cache" / "old.tmp"
    new = tmp_path / "cache" / "new.tmp"
    old.parent.mkdir()
    old.write_bytes(b"o" * 4096)
    new.write_bytes(b"n" * 10)
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_text("keep me")
    link = tmp_path / "cache" / "link"
    link.symlink_to(outside)
    past = time.time() - 48 * 3600
    os.utime(old, (past, past))
    os.utime(link, (past, past), follow_symlinks=False)
    try:
        dry = await run_tool("cleanup_temp", {"paths": [str(tmp_path)], "dry_run": True})
        assert dry.ok and dry.output["files_deleted"] == 2 and old.exists()
        outcome = await run_tool("cleanup_temp", {"paths": [str(tmp_path)], "older_than_hours": 24})
        assert outcome.ok, outcome.error
        assert not old.exists() and not link.is_symlink()
        assert new.exists()
        assert outside.read_text() == "keep me"  # a symlink is removed, never followed
        assert outcome.output["bytes_freed"] == 4096
    finally:
        outside.unlink()


async def test_dns_resolve_localhost() -> None:
    outcome = await run_tool("dns_resolve", {"name": "localhost"})
    assert outcome.ok and outcome.output["resolved"]
    assert "127.0.0.1" in outcome.output["addresses"]


async def test_dns_resolve_unknown_name_is_a_result_not_an_error() -> None:
    outcome = await run_tool("dns_resolve", {"name": "no-such-host.invalid"})
    assert outcome.ok and outcome.output["resolved"] is False


async def test_tcp_connect_to_a_real_listener_and_a_closed_port() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        up = await run_tool("tcp_connect", {"host": "127.0.0.1", "port": port})
    down = await run_tool("tcp_connect", {"host": "127.0.0.1", "port": port})
    assert up.ok and up.output["reachable"] is True
    assert down.ok and down.output["reachable"] is False


async def test_route_table_and_interfaces() -> None:
    routes = await run_tool("route_table", {})
    assert routes.ok, routes.error
    assert isinstance(routes.output["routes"], list)
    ifaces = await run_tool("network_interfaces", {})
    assert "lo" in [i["name"] for i in ifaces.output["interfaces"]]


async def test_wifi_status_without_an_adapter_says_so() -> None:
    outcome = await run_tool("wifi_status", {})
    assert outcome.ok
    if not HAS_WIRELESS:
        assert outcome.output["wifi_adapters"] == []
        assert "no wireless adapter" in outcome.output["reason"]


@pytest.mark.parametrize(
    ("tool", "args", "program"),
    [
        ("printer_queue_status", {}, "lpstat"),
        ("clear_print_queue", {"printer": "HP-2F"}, "cancel"),
        ("ping", {"host": "127.0.0.1", "count": 1}, "ping"),
    ],
)
async def test_missing_program_is_a_structured_unavailable(tool: str, args: dict[str, object], program: str) -> None:
    outcome = await run_tool(tool, args)
    if not _missing(program):
        assert outcome.ok or outcome.error
        pytest.skip(f"{program} is installed here")
    assert outcome.ok is False
    assert outcome.error == f"not available on this device: {program} missing"
    assert outcome.output == {"available": False, "missing": program}


async def test_restart_without_systemd_is_unavailable_not_a_crash() -> None:
    outcome = await run_tool("restart_service", {"service": "print_spooler"})
    if HAS_SYSTEMD:
        pytest.skip("systemd runs here; restart would touch a real service")
    assert outcome.ok is False
    assert outcome.error is not None and outcome.error.startswith("not available on this device")


async def test_flush_dns_and_firewall_report_what_is_missing() -> None:
    flush = await run_tool("flush_dns", {})
    firewall = await run_tool("firewall_status", {})
    if _missing("resolvectl") and _missing("nscd"):
        assert flush.error == "not available on this device: resolvectl missing (no local DNS cache)"
    if all(_missing(p) for p in ("ufw", "nft", "iptables")):
        assert firewall.ok is False and "no firewall tool" in (firewall.error or "")


@pytest.mark.skipif(_missing("apt-get"), reason="needs apt")
async def test_pending_updates_parses_apt() -> None:
    outcome = await run_tool("pending_updates", {})
    assert outcome.ok, outcome.error
    assert outcome.output["pending_count"] == len(outcome.output["updates"])
    for update in outcome.output["updates"]:
        assert update["name"] and update["available"]


@pytest.mark.skipif(_missing("dpkg-query"), reason="needs dpkg")
async def test_installed_software_filters_by_name() -> None:
    outcome = await run_tool("installed_software", {"name_contains": "python3", "limit": 5})
    assert outcome.ok
    assert 0 < len(outcome.output["software"]) <= 5
    assert all("python3" in s["name"] for s in outcome.output["software"])


@pytest.mark.skipif(_missing("apt-get"), reason="needs apt")
async def test_install_and_uninstall_simulated_with_apt() -> None:
    install = await run_tool("install_package", {"package": "tree", "simulate": True})
    assert install.ok, install.error
    assert install.output["argv"][:3] == ["apt-get", "install", "-y"]
    assert "-s" in install.output["argv"]
    remove = await run_tool("uninstall_package", {"package": "curl", "simulate": True})
    assert remove.ok and "curl" in remove.output["changed"]


async def test_sessions_battery_encryption() -> None:
    sessions = await run_tool("user_sessions", {})
    assert sessions.ok and sessions.output["session_count"] == len(sessions.output["sessions"])
    battery = await run_tool("battery_status", {})
    assert battery.ok and "battery_present" in battery.output
    if not _missing("lsblk"):
        enc = await run_tool("encryption_status", {})
        assert enc.ok, enc.error
        assert "system_volume_encrypted" in enc.output


async def test_unknown_tool_and_bad_arguments_raise() -> None:
    with pytest.raises(UnknownTool):
        await run_tool("run_shell", {"cmd": "id"})
    with pytest.raises(InvalidToolArguments, match="limit"):
        await run_tool("top_processes", {"limit": 0})


async def test_timeout_is_an_outcome() -> None:
    outcome = await run_tool("top_processes", {}, timeout=0.01)
    assert outcome.ok is False and "timed out" in (outcome.error or "")


async def test_output_limit_truncates() -> None:
    outcome = await run_tool("installed_software", {"limit": 2000})
    if not outcome.ok:
        pytest.skip(outcome.error)
    limit = TOOLS["installed_software"].max_output_bytes
    assert len(json.dumps(outcome.output)) <= limit
    assert outcome.truncated == (outcome.output["count"] > len(outcome.output["software"]))


def test_cli_prints_the_outcome_and_exit_codes() -> None:
    cmd = [sys.executable, "-m", "mspclaw_agent.tools", "run"]
    ok = subprocess.run(
        [*cmd, "dns_resolve", "--args", '{"name": "localhost"}'],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["output"]["resolved"] is True
    bad = subprocess.run(
        [*cmd, "restart_service", "--args", '{"service": "x; reboot"}'],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert json.loads(bad.stdout)["kind"] == "invalid_arguments"


async def test_cleanup_never_touches_sockets_or_recently_read_files(tmp_path: Path) -> None:
    import socket as socketlib

    past = time.time() - 48 * 3600
    sock_path = tmp_path / "app.sock"
    server = socketlib.socket(socketlib.AF_UNIX)
    server.bind(str(sock_path))
    read_recently = tmp_path / "cache.db"
    read_recently.write_text("x")
    try:
        os.utime(sock_path, (past, past))
        os.utime(read_recently, (time.time(), past))  # old mtime, but read a moment ago
        outcome = await run_tool("cleanup_temp", {"paths": [str(tmp_path)], "older_than_hours": 24})
        assert outcome.ok and outcome.output["files_deleted"] == 0
        assert sock_path.exists() and read_recently.exists()
    finally:
        server.close()


async def test_a_timed_out_cleanup_stops_deleting(tmp_path: Path) -> None:
    past = time.time() - 48 * 3600
    for i in range(300):
        folder = tmp_path / f"d{i:03d}"
        folder.mkdir()
        for j in range(20):
            f = folder / f"f{j}"
            f.write_bytes(b"x")
            os.utime(f, (past, past))
    outcome = await run_tool("cleanup_temp", {"paths": [str(tmp_path)]}, timeout=0.01)
    assert outcome.ok is False and "timed out" in (outcome.error or "")
    await asyncio.sleep(0.3)  # let the worker thread notice the stop flag (even on a busy box)
    left = _count_files(tmp_path)
    await asyncio.sleep(0.5)  # a runaway thread would keep deleting meanwhile
    assert _count_files(tmp_path) == left > 0


def _count_files(root: Path) -> int:
    return sum(1 for _ in root.rglob("f*"))


async def test_cleanup_keeps_empty_folders_that_programs_own(tmp_path: Path) -> None:
    past = time.time() - 48 * 3600
    kept_empty = tmp_path / "db" / "pg_logical" / "snapshots"  # empty on purpose, owned by a running program
    kept_empty.mkdir(parents=True)
    fresh_empty = tmp_path / "fresh"
    fresh_empty.mkdir()
    stale = tmp_path / "stale-cache"
    stale.mkdir()
    (stale / "old.bin").write_bytes(b"x" * 10)
    os.utime(stale / "old.bin", (past, past))
    for folder in (kept_empty, kept_empty.parent, kept_empty.parent.parent, stale):
        os.utime(folder, (past, past))
    outcome = await run_tool("cleanup_temp", {"paths": [str(tmp_path)], "older_than_hours": 24})
    assert outcome.ok, outcome.error
    assert kept_empty.is_dir() and fresh_empty.is_dir()  # not emptied by us: never removed
    assert not stale.exists()  # old, and emptied by this cleanup: removed
