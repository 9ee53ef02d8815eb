"""Jobs: enqueued with the data's transaction, and recovered when their worker dies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from mspclaw import jobs
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from tests.foundation import jobtasks  # noqa: F401 - registers the test task


async def _prepare_log(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute("CREATE TABLE test_job_log(id serial, marker text, event text)")


async def _events(dsn: str, marker: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        rows = await (
            await conn.execute("SELECT event FROM test_job_log WHERE marker = %s ORDER BY id", (marker,))
        ).fetchall()
    return [r[0] for r in rows]


async def _run_worker_until_idle(db: Database) -> None:
    job_app = jobs.bind(db.libpq_url)
    async with job_app.open_async():
        await job_app.run_worker_async(queues=["tests"], wait=False, install_signal_handlers=False)


async def test_job_deferred_in_committed_transaction_runs(db: Database) -> None:
    await _prepare_log(db.libpq_url)
    async with tenant_session(db.sessions, None) as session, session.begin():
        await jobs.defer(
            session,
            "tests.record_and_wait",
            {"dsn": db.libpq_url, "marker": "kept", "seconds": 0},
            queue="tests",
        )
    await _run_worker_until_idle(db)
    assert await _events(db.libpq_url, "kept") == ["started", "finished"]


async def test_job_deferred_in_rolled_back_transaction_never_runs(db: Database) -> None:
    await _prepare_log(db.libpq_url)
    async with tenant_session(db.sessions, None) as session:
        await session.begin()
        await jobs.defer(
            session,
            "tests.record_and_wait",
            {"dsn": db.libpq_url, "marker": "dropped", "seconds": 0},
            queue="tests",
        )
        await session.rollback()
    await _run_worker_until_idle(db)
    assert await _events(db.libpq_url, "dropped") == []
    async with await psycopg.AsyncConnection.connect(db.libpq_url) as conn:
        count = await (await conn.execute("SELECT count(*) FROM procrastinate_jobs")).fetchone()
    assert count == (0,)


async def test_queueing_lock_rejects_second_job(db: Database) -> None:
    async with tenant_session(db.sessions, None) as session, session.begin():
        await jobs.defer(
            session,
            "tests.record_and_wait",
            {"dsn": "x", "marker": "a", "seconds": 0},
            queue="tests",
            queueing_lock="sync:conn-1",
        )
        with pytest.raises(jobs.AlreadyQueued):
            await jobs.defer(
                session,
                "tests.record_and_wait",
                {"dsn": "x", "marker": "b", "seconds": 0},
                queue="tests",
                queueing_lock="sync:conn-1",
            )
        # the transaction is still usable after the refused job
        await jobs.defer(
            session,
            "tests.record_and_wait",
            {"dsn": "x", "marker": "c", "seconds": 0},
            queue="tests",
            queueing_lock="sync:conn-2",
        )


def test_unknown_task_is_refused_before_anything_is_written() -> None:
    with pytest.raises(KeyError, match="unknown task"):
        asyncio.run(jobs.defer(None, "no.such.task"))  # type: ignore[arg-type]


ROOT = Path(__file__).resolve().parents[2]
WORKER_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    sys.path.insert(0, {root!r})
    from mspclaw import jobs
    from tests.foundation import jobtasks

    async def main():
        job_app = jobs.bind({dsn!r})
        async with job_app.open_async():
            await job_app.run_worker_async(queues=["tests"], update_heartbeat_interval=0.2)

    asyncio.run(main())
    """
)


async def test_job_whose_worker_dies_mid_run_is_retried(db: Database, tmp_path: Path) -> None:
    await _prepare_log(db.libpq_url)
    async with tenant_session(db.sessions, None) as session, session.begin():
        await jobs.defer(
            session,
            "tests.record_and_wait",
            {"dsn": db.libpq_url, "marker": "crash", "seconds": 30},
            queue="tests",
        )
    script = tmp_path / "worker.py"
    root = str(ROOT)
    script.write_text(WORKER_SCRIPT.format(root=root, dsn=db.libpq_url))
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True)  # noqa: ASYNC220 - killed below
    try:
        deadline = time.monotonic() + 30
        while await _events(db.libpq_url, "crash") != ["started"]:
            assert time.monotonic() < deadline, "the worker never started the job"
            await asyncio.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker dies mid-run: no cleanup, no status update
        proc.wait()

    job_app = jobs.bind(db.libpq_url)
    async with job_app.open_async():
        [job] = await job_app.job_manager.list_jobs_async(queue="tests")
        assert job.status == "doing"  # orphaned by the dead worker
        await asyncio.sleep(1.2)
        assert await jobs.retry_stalled_jobs(job_app, seconds_since_heartbeat=1) == 1
    async with await psycopg.AsyncConnection.connect(db.libpq_url, autocommit=True) as conn:
        # make the retry quick: the second attempt need not wait the full 30 seconds
        await conn.execute(
            "UPDATE procrastinate_jobs SET args = jsonb_set(args, '{seconds}', '0') WHERE queue_name = 'tests'"
        )
    await _run_worker_until_idle(db)
    assert await _events(db.libpq_url, "crash") == ["started", "started", "finished"]
