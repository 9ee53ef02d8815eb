"""`mspclaw up --demo` as a newcomer runs it: a real process on an embedded database prints what to
open, tickets arrive in the console, Ctrl-C stops the agent it started, and a restart finds the
same demo (no second client, device or ticket)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import psutil

from mspclaw.database.embedded import free_port
from tests.console.helpers import console_login

PRINTER = "Printer on 2nd floor offline"


class Up:
    """One `mspclaw up --demo` process and everything it printed so far."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.out = ""
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for line in self.proc.stdout:
            self.out += line.decode(errors="replace")

    async def wait_for(self, text: str, within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while text not in self.out:
            if self.proc.returncode is not None or loop.time() > deadline:
                raise AssertionError(f"{text!r} never printed (exit {self.proc.returncode}):\n{self.out[-4000:]}")
            await asyncio.sleep(0.2)

    async def stop(self) -> int:
        """Ctrl-C, as in a terminal."""
        if self.proc.returncode is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        code = await asyncio.wait_for(self.proc.wait(), 60)
        await self._reader
        return code


async def start(data_dir: Path, port: int, sim_port: int) -> Up:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSPCLAW_")}
    env |= {"MSPCLAW_DATA_DIR": str(data_dir), "MSPCLAW_PORT": str(port), "COLUMNS": "200"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "mspclaw.cli",
        "up",
        "--demo",
        "--demo-sim-port",
        str(sim_port),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    up = Up(proc)
    # a first start runs initdb and every migration: minutes on a loaded 2-core machine
    await up.wait_for("Demo ready", 300)
    return up


async def test_up_demo_shows_the_loop_and_restarts_without_duplicating(tmp_path: Path) -> None:
    data_dir, port, sim_port = tmp_path / "data", free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    up = await start(data_dir, port, sim_port)
    try:
        password = up.out.split("password:")[1].split()[0]
        device = re.search(r"Demo device ([0-9a-f-]{36})", up.out)
        assert device, up.out
        assert f"{base}/tickets" in up.out and f"{base}/approvals" in up.out
        await up.wait_for(f"filed: {PRINTER}", 60)
        agents = [
            p.pid for p in psutil.Process(up.proc.pid).children(recursive=True) if "agent" in " ".join(p.cmdline())
        ]
        assert agents, "the demo's agent process is running"
        async with httpx.AsyncClient(base_url=base, timeout=30) as browser:
            await console_login(browser, "admin@mspclaw.local", password)
            for _ in range(300):
                row = (await browser.get("/tickets")).text.split(PRINTER)
                if len(row) > 1 and "printer" in row[1].split("</tr>")[0]:
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError("the printer ticket was never triaged")
    finally:
        assert await up.stop() == 0, up.out[-4000:]
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in agents)

    again = await start(data_dir, port, sim_port)
    try:
        assert "password:" not in again.out
        assert f"Demo device {device.group(1)}" in again.out  # the same enrolled device
        async with httpx.AsyncClient(base_url=base, timeout=30) as browser:
            await console_login(browser, "admin@mspclaw.local", password)
            await asyncio.sleep(2)  # a restarted script would file its first ticket within 3 s
            assert (await browser.get("/tickets")).text.count(PRINTER) == 1
            dashboard = (await browser.get("/")).text
            assert dashboard.count("Acme Clinic") == 1
    finally:
        assert await again.stop() == 0, again.out[-4000:]
    assert f"filed: {PRINTER}" not in again.out
