"""Crash safety: a worker process killed between steps, and right after a change step's side
effect but before it was recorded; the run completes once and no change executes twice.

Tool executions are counted from outside: the endpoint backend runs tools through a ``python``
wrapper script that appends one line per invocation to a file, then execs the real interpreter.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from mspclaw import jobs
from mspclaw.database.core import Database
from tests.conftest import TenantFixture
from tests.runs.helpers import OPEN_POLICY, make_client, show, start

WORKER = textwrap.dedent(
    """
    import asyncio
    from pathlib import Path

    from mspclaw import jobs
    from mspclaw.database.session import create_engine, make_sessionmaker
    from mspclaw.runs import runtime
    from mspclaw.runs.journal import JournaledBackend
    from mspclaw.tools import BackendRouter, LocalEndpointBackend

    async def main():
        engine = create_engine({url!r}, pool_size=2)
        backend = JournaledBackend(LocalEndpointBackend(python={python!r}), Path({journal!r}))
        runtime.install(runtime.RunRuntime(make_sessionmaker(engine), BackendRouter(backend)))
        job_app = jobs.bind({dsn!r})
        async with job_app.open_async():
            await job_app.run_worker_async(queues=["runs"], wait=False, update_heartbeat_interval=0.2)
        await engine.dispose()

    asyncio.run(main())
    """
)


def _worker(script: Path, crash_point: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MSPCLAW_CRASH_POINT"}
    if crash_point:
        env["MSPCLAW_CRASH_POINT"] = crash_point
    return subprocess.run([sys.executable, str(script)], env=env, timeout=120, check=False).returncode


async def _recover(db: Database) -> int:
    """What the periodic retry_stalled_jobs does a minute later, made quick."""
    await asyncio.sleep(1.3)
    job_app = jobs.bind(db.libpq_url)
    async with job_app.open_async():
        return await jobs.retry_stalled_jobs(job_app, seconds_since_heartbeat=1)


async def test_killed_workers_resume_and_the_change_runs_exactly_once(
    db: Database, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    invocations = tmp_path / "invocations.log"
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {invocations}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    junk = tmp_path / "cache"
    junk.mkdir()
    old = junk / "old.tmp"
    old.write_bytes(b"x" * 1000)
    os.utime(old, (1, 1))
    script = tmp_path / "worker.py"
    script.write_text(
        WORKER.format(url=db.url, dsn=db.libpq_url, python=str(wrapper), journal=str(tmp_path / "journal"))
    )
    client_id, device_id = await make_client(db, tenant_a.id, OPEN_POLICY)
    run_id = await start(
        db, tenant_a.id, "low-disk-space", client_id, device_id, context={"client": {"cleanup_paths": [str(junk)]}}
    )

    def count(tool: str) -> int:
        text = invocations.read_text() if invocations.exists() else ""
        return sum(1 for line in text.splitlines() if f" run {tool} " in line)

    # 1: killed between steps (right after 'before' was recorded)
    assert await asyncio.to_thread(_worker, script, "after_record:before") == -9
    assert (count("disk_usage"), count("cleanup_temp")) == (1, 0)
    assert await _recover(db) == 1

    # 2: killed after the cleanup's side effect, before the outcome reached the database
    assert await asyncio.to_thread(_worker, script, "after_execute:cleanup") == -9
    assert count("cleanup_temp") == 1 and not old.exists()
    run = await show(db, tenant_a.id, run_id)
    cleanup = next(s for s in run.steps if s.step_id == "cleanup")
    assert (cleanup.status, cleanup.attempt, run.status) == ("running", 1, "running")
    assert await _recover(db) == 1

    # 3: a healthy worker resumes: the journal answers the re-sent key, nothing runs twice
    assert await asyncio.to_thread(_worker, script, None) == 0
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "succeeded", run.error
    cleanup = next(s for s in run.steps if s.step_id == "cleanup")
    assert (cleanup.status, cleanup.attempt) == ("succeeded", 2)
    assert cleanup.output["files_deleted"] == 1
    assert (count("disk_usage"), count("cleanup_temp")) == (2, 1)
    assert [s.step_id for s in run.steps] == ["before", "cleanup", "after"]
