"""Background jobs on procrastinate, in the same PostgreSQL as the data.

``defer`` writes the job row through the caller's SQLAlchemy session, so a job becomes
visible exactly when (and only if) the transaction that produced its data commits.
Domains register tasks on :data:`app` with ``@app.task``; periodic tasks use ``@app.periodic``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import procrastinate
import procrastinate.testing
import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

log = structlog.get_logger(__name__)

#: The task registry. Tasks are declared on it; :func:`bind` gives a copy a real connector.
#: A job deferred under a lock that a running job holds (a run's next step, queued by the step
#: still running) is skipped when its NOTIFY arrives, and only a poll finds it once the lock is
#: free; procrastinate's default 5 s poll added up to 5 s per run step. Polling is one cheap query.
WORKER_POLL_SECONDS = 0.5

app = procrastinate.App(
    connector=procrastinate.testing.InMemoryConnector(),
    worker_defaults={"fetch_job_polling_interval": WORKER_POLL_SECONDS},
)

DEFAULT_QUEUE = "default"

#: Modules that declare tasks; imported before a worker starts so every task is known.
TASK_MODULES: list[str] = ["mspclaw.runs.executor", "mspclaw.sync.tasks", "mspclaw.triage.tasks", "mspclaw.loop.tasks"]


def load_tasks() -> None:
    """Import every module that declares tasks."""
    for module in TASK_MODULES:
        importlib.import_module(module)


def bind(libpq_url: str) -> procrastinate.App:
    """A copy of the registry connected to ``libpq_url`` (open it with ``open_async``)."""
    load_tasks()
    return app.with_connector(procrastinate.PsycopgConnector(conninfo=libpq_url))


async def defer(
    session: AsyncSession,
    task_name: str,
    args: Mapping[str, Any] | None = None,
    *,
    queue: str = DEFAULT_QUEUE,
    lock: str | None = None,
    queueing_lock: str | None = None,
    priority: int = 0,
    scheduled_at: datetime | None = None,
) -> int:
    """Enqueue ``task_name`` inside the session's transaction; returns the job id.

    A queueing lock that is already taken raises ``procrastinate.exceptions.AlreadyEnqueued``
    semantics as a ``AlreadyQueued`` error; catch it where "already scheduled" is fine.
    """
    if task_name not in app.tasks:
        raise KeyError(f"unknown task {task_name!r}; registered: {sorted(app.tasks)}")
    savepoint = await session.begin_nested() if queueing_lock else None
    try:
        result = await session.execute(
            text(
                "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW("
                ":queue, :task, :priority, :lock, :qlock, CAST(:args AS jsonb), :at"
                ")::procrastinate_job_to_defer_v1]))"
            ),
            {
                "queue": queue,
                "task": task_name,
                "priority": priority,
                "lock": lock,
                "qlock": queueing_lock,
                "args": json.dumps(dict(args or {}), default=str),
                "at": scheduled_at,
            },
        )
    except Exception as exc:
        if savepoint is not None and "procrastinate_jobs_queueing_lock_idx" in str(exc):
            await savepoint.rollback()
            raise AlreadyQueued(f"a {task_name} job with lock {queueing_lock!r} is already queued") from None
        raise
    if savepoint is not None:
        await savepoint.commit()
    job_id = int(result.scalar_one())
    log.debug("job_deferred", task=task_name, job_id=job_id, queue=queue)
    return job_id


class AlreadyQueued(RuntimeError):
    """A job with the same queueing lock is already waiting."""


@app.task(name="mspclaw.ping", queue=DEFAULT_QUEUE)
async def ping(marker: str) -> str:
    """A no-op task used by health checks and tests to prove the worker runs jobs."""
    log.info("ping_job_ran", marker=marker)
    return marker


#: A worker that has not sent a heartbeat for this long is presumed dead.
STALLED_AFTER_SECONDS = 60.0


async def retry_stalled_jobs(
    job_app: procrastinate.App, *, seconds_since_heartbeat: float = STALLED_AFTER_SECONDS
) -> int:
    """Put jobs of dead workers back in the queue; returns how many were retried.

    Tasks that must not repeat a side effect guard it with their own idempotency key
    (the run executor does): a retried job resumes, it does not redo.
    """
    stalled = list(await job_app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat))
    for job in stalled:
        log.warning("job_stalled_retrying", job_id=job.id, task=job.task_name)
        await job_app.job_manager.retry_job(job)
    return len(stalled)


@app.periodic(cron="* * * * *", periodic_id="retry-stalled-jobs")
@app.task(
    name="mspclaw.retry_stalled_jobs",
    queue=DEFAULT_QUEUE,
    pass_context=True,
    queueing_lock="retry-stalled-jobs",
)
async def retry_stalled_jobs_task(context: procrastinate.JobContext, timestamp: int) -> int:
    """Every minute: recover jobs whose worker died mid-run."""
    assert context.app is not None
    return await retry_stalled_jobs(context.app)
