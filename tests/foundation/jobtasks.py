"""A task used by the job tests: it records each start, then waits, then records completion.

Imported by the test and by the worker subprocess it kills, so both know the task.
"""

from __future__ import annotations

import asyncio

import psycopg

from mspclaw import jobs


@jobs.app.task(name="tests.record_and_wait", queue="tests")
async def record_and_wait(dsn: str, marker: str, seconds: float) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute("INSERT INTO test_job_log(marker, event) VALUES (%s, 'started')", (marker,))
    await asyncio.sleep(seconds)
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute("INSERT INTO test_job_log(marker, event) VALUES (%s, 'finished')", (marker,))
