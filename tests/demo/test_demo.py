"""The demo set-up against the test database: a real app on uvicorn with its worker, the ConnectWise
simulator, a real (sandboxed) agent process. A scripted ticket flows through callback → triage →
playbook → run on the agent → approval from the console page → note written back in the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
import uvicorn

from mspclaw import demo
from mspclaw.bootstrap import ensure_first_tenant
from mspclaw.config import Settings
from mspclaw.connectors.simulator import ServedApp
from mspclaw.database.core import Database
from mspclaw.database.embedded import free_port
from mspclaw.sync import runtime as sync_runtime
from mspclaw.vault.keys import KeyringProvider
from tests.console.helpers import approval_ids, console_login

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
DISK = next(t for t in demo.SCRIPT if "disk" in t.subject.lower())


@contextlib.asynccontextmanager
async def serve(settings: Settings, db: Database) -> AsyncIterator[str]:
    """The whole app (API, console, gateway, worker) on uvicorn at 127.0.0.1, in this event loop."""
    from mspclaw.app import create_app

    sync_runtime.reset()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, database=db, run_worker=True),
            host=settings.host,
            port=settings.port,
            log_config=None,
            lifespan="on",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield settings.base_url
    finally:
        server.should_exit = True
        await task
        sync_runtime.reset()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 90.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` otherwise (a deadline, not a timing claim)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.25)


async def test_demo_ticket_is_approved_in_the_console_and_the_note_lands_in_the_psa(
    settings: Settings, db: Database, tmp_path: Path
) -> None:
    if not demo.sandbox_supported():
        pytest.skip(
            "the agent sandbox needs Linux mount namespaces (unshare); without it the approved "
            "clean-up would delete this machine's old temp files"
        )
    port = free_port()
    live = settings.model_copy(update={"endpoint_backend": "gateway", "port": port, "host": "127.0.0.1"})
    owner = await ensure_first_tenant(db.sessions)
    assert owner is not None
    keys = KeyringProvider(live.master_key, live.data_dir)
    sim = demo.new_simulator()
    with ServedApp(sim.app()) as psa:
        async with serve(live, db) as url, httpx.AsyncClient(base_url=url, timeout=30) as browser:
            setup = await demo.ensure_demo(db, keys, sim=sim, sim_url=psa.url, public_url=url)
            agent = await demo.ensure_demo_agent(db, setup, server_url=url, data_dir=live.data_dir, sandbox=True)
            assert agent.sandbox is not None
            # an old file in the device's (sandboxed) /tmp: the approved clean-up must really delete it
            old = agent.sandbox / "tmp" / "old-report.tmp"
            old.write_bytes(b"x" * 4096)
            ten_days_ago = time.time() - 10 * 86400
            os.utime(old, (ten_days_ago, ten_days_ago))
            proc = await demo.start_agent(agent)
            try:
                # set-up is idempotent: the same client, connection and device come back
                again = await demo.ensure_demo(db, keys, sim=sim, sim_url=psa.url, public_url=url)
                assert (again.client_id, again.connection_id) == (setup.client_id, setup.connection_id)
                agent_again = await demo.ensure_demo_agent(
                    db, again, server_url=url, data_dir=live.data_dir, sandbox=True
                )
                assert agent_again.device_id == agent.device_id
                assert len(sim.callbacks) == 1

                csrf = await console_login(browser, owner.email, owner.password)
                external = await demo.file_ticket(db, keys, setup, DISK, contact=setup.contact_ids[0])

                async def waiting() -> bool:
                    return bool(approval_ids((await browser.get("/approvals")).text))

                await eventually(waiting, "the disk ticket's clean-up step waits for approval")
                inbox = await browser.get("/approvals")
                assert "cleanup_temp" in inbox.text and DISK.subject in inbox.text
                [approval] = approval_ids(inbox.text)
                decided = await browser.post(
                    f"/approvals/{approval}/approve", data={"csrf": csrf, "next": "/approvals"}, follow_redirects=False
                )
                assert decided.status_code == 303, decided.text

                async def written_back() -> bool:
                    return any("MSPclaw resolved this" in n["text"] for n in sim.admin_notes(external))

                await eventually(written_back, "the resolution note is written back to the PSA ticket")
                note = next(n for n in sim.admin_notes(external) if "MSPclaw resolved this" in n["text"])
                assert note["internalAnalysisFlag"] and "low-disk-space" in note["text"]
                assert "cleanup_temp [succeeded]" in note["text"]
                assert sim.admin_ticket(external)["status"]["name"] == "Completed"
                assert not old.exists()  # deleted by the agent process on the approved step
                assert (agent.state_dir / "state.json").exists()

                # the callback brought the note back: the console shows it under the ticket
                listing = await browser.get("/tickets")
                ticket_path = listing.text.split(DISK.subject)[0].rsplit('href="', 1)[1].split('"')[0]

                async def note_synced() -> bool:
                    page = await browser.get(ticket_path)
                    return "MSPclaw resolved this" in page.text.split("Notes in the PSA")[1]

                await eventually(note_synced, "the written-back note appears on the console's ticket page")
                page = (await browser.get(ticket_path)).text
                assert "disk_space" in page and "succeeded" in page and owner.email in page
                # the loop acted once for the ticket: no second run waits after the write-back
                assert approval_ids((await browser.get("/approvals")).text) == []

                # the scripted ticket is not filed again by a restarted demo
                assert await demo.play_script(db, keys, setup, sim, script=[DISK], sleep=asyncio.sleep) == []
            finally:
                await demo.stop_agent(proc)
