"""LocalEndpointBackend runs each endpoint tool for real in a child process on this machine."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import uuid

import pytest
from mspclaw_agent.tools import TOOLS

from mspclaw.tools import (
    BackendRouter,
    BackendUnsupported,
    LocalEndpointBackend,
    ToolArgumentsInvalid,
    ToolBackend,
    ToolContext,
    get_tool,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="runs the Linux tools")

#: arguments that are safe to run for real on a CI machine (no installs, no restarts of
#: real services: systemd is absent here, so restart tools report "not available")
SAFE_ARGS: dict[str, dict[str, object]] = {
    "top_processes": {"limit": 3},
    "disk_usage": {"path": tempfile.gettempdir(), "top": 3},
    "cleanup_temp": {"paths": [tempfile.gettempdir()], "dry_run": True},
    "restart_service": {"service": "print_spooler"},
    "ping": {"host": "127.0.0.1", "count": 1},
    "tcp_connect": {"host": "127.0.0.1", "port": 9, "timeout_seconds": 1},
    "dns_resolve": {"name": "localhost"},
    "clear_print_queue": {"printer": "HP-2F"},
    "installed_software": {"name_contains": "python3", "limit": 3},
    "install_package": {"package": "tree", "simulate": True},
    "uninstall_package": {"package": "curl", "simulate": True},
    "update_package": {"package": "curl", "simulate": True},
}

HAS_SYSTEMD = os.path.isdir("/run/systemd/system")
CONTEXT = ToolContext(tenant_id=uuid.uuid4(), device_os="linux", step_id="s1")


def test_backend_satisfies_the_protocol() -> None:
    assert isinstance(LocalEndpointBackend(), ToolBackend)


#: tools that drive apt (seconds of CPU each): their own test is marked slow
APT_TOOLS = ("pending_updates", "install_package", "uninstall_package", "update_package")


async def _run_all(names: list[str]) -> None:
    if HAS_SYSTEMD:
        # would restart real services on this machine
        names = [n for n in names if n not in ("restart_service", "restart_print_spooler")]
    backend = LocalEndpointBackend()
    outcomes = await asyncio.gather(*(backend.execute(get_tool(n), SAFE_ARGS.get(n, {}), CONTEXT) for n in names))
    problems = []
    for name, outcome in zip(names, outcomes, strict=True):
        assert outcome.tool == name
        if outcome.ok:
            if outcome.error is not None or not outcome.output:
                problems.append(f"{name}: ok without output")
        elif not (outcome.error or "").startswith("not available on this device"):
            # the only acceptable failure on a CI box is a facility that is not installed
            problems.append(f"{name}: {outcome.error}")
        elif outcome.output.get("available") is not False:
            problems.append(f"{name}: unavailable without the structured flag")
    assert problems == []


async def test_each_endpoint_tool_runs_through_the_backend() -> None:
    """Every non-apt tool, concurrently as a fleet would: each succeeds or is unavailable."""
    await _run_all([n for n in sorted(TOOLS) if n not in APT_TOOLS])


@pytest.mark.slow
async def test_apt_tools_run_through_the_backend() -> None:
    """pending_updates and simulated install/uninstall/update through the subprocess."""
    await _run_all(list(APT_TOOLS))


async def test_backend_results_match_direct_runs() -> None:
    outcome = await LocalEndpointBackend().execute(get_tool("dns_resolve"), {"name": "localhost"}, CONTEXT)
    assert outcome.ok and "127.0.0.1" in outcome.output["addresses"]


async def test_invalid_arguments_fail_before_spawning() -> None:
    with pytest.raises(ToolArgumentsInvalid, match="service"):
        await LocalEndpointBackend().execute(get_tool("restart_service"), {"service": "spooler; rm -rf /"}, CONTEXT)


async def test_identity_tools_are_not_endpoint_tools() -> None:
    with pytest.raises(BackendUnsupported):
        await LocalEndpointBackend().execute(get_tool("disable_account"), {"user": "a@b.com"}, CONTEXT)


async def test_a_broken_interpreter_is_an_outcome_not_a_crash() -> None:
    backend = LocalEndpointBackend(python="/bin/false")
    outcome = await backend.execute(get_tool("system_info"), {}, CONTEXT)
    assert outcome.ok is False and "exited 1" in (outcome.error or "")


async def test_a_device_of_another_os_is_refused() -> None:
    with pytest.raises(BackendUnsupported, match="the device is windows"):
        await LocalEndpointBackend().execute(get_tool("system_info"), {}, ToolContext(device_os="windows"))


async def test_router_dispatches_by_kind_and_refuses_what_is_missing() -> None:
    router = BackendRouter(LocalEndpointBackend())
    assert router.kinds() == {"endpoint"}
    outcome = await router.execute(get_tool("dns_resolve"), {"name": "localhost"}, CONTEXT, "endpoint")
    assert outcome.ok
    with pytest.raises(BackendUnsupported, match="no identity backend is configured"):
        await router.execute(get_tool("unlock_account"), {"user": "a@b.com"}, CONTEXT, "identity")
    with pytest.raises(BackendUnsupported, match="cannot run on the identity backend"):
        await router.execute(get_tool("system_info"), {}, CONTEXT, "identity")
    with pytest.raises(ToolArgumentsInvalid):
        await router.execute(get_tool("ping"), {"host": "-oProxy"}, CONTEXT, "endpoint")
