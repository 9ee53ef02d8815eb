"""Sync fixtures: simulators served by uvicorn on 127.0.0.1, settings for them, and the
sync runtime bound to the test's database (jobs run in-process)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from mspclaw import jobs
from mspclaw.connectors.http import RetryPolicy
from mspclaw.connectors.registry import get_connector
from mspclaw.connectors.simulator import ServedApp, Simulator
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.sync import runtime, service
from mspclaw.sync.models import Connection, ConnectionCreate
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.vault.keys import KeyringProvider
from tests.conftest import TEST_MASTER_KEY

#: Fast retries so fault storms are survived in seconds, not minutes.
FAST_RETRY = RetryPolicy(max_attempts=12, base_delay=0.02, max_delay=0.3, max_total=60.0)
CONNECTOR_OPTIONS: dict[str, Any] = {"retry": FAST_RETRY, "timeout": 3.0}


def sim_settings(sim: Simulator, url: str, connector: str) -> dict[str, Any]:
    """The simulator's own credentials, shaped as the connector's settings."""
    props = get_connector(connector).spec().config_schema["properties"]
    creds = sim.summary()["credentials"]
    settings = {k: str(v).replace("<base>", url) for k, v in creds.items() if k in props and v is not None}
    return settings


@pytest.fixture
def served() -> Iterator[list[ServedApp]]:
    """Servers a test starts; all stopped afterwards."""
    started: list[ServedApp] = []
    yield started
    for server in started:
        server.stop()


def serve(started: list[ServedApp], app: Any) -> ServedApp:
    server = ServedApp(app).start()
    started.append(server)
    return server


@pytest.fixture
async def rt(db: Database, tmp_path: Path) -> AsyncIterator[SyncRuntime]:
    """The sync runtime on this test's database, with fast connector retries."""
    runtime.reset()
    installed = runtime.install(db, KeyringProvider(TEST_MASTER_KEY, tmp_path / "keys"))
    installed.connector_options = dict(CONNECTOR_OPTIONS)
    yield installed
    runtime.reset()


async def add_connection(
    rt: SyncRuntime, tenant_id: uuid.UUID, connector: str, settings: dict[str, Any], **kw: Any
) -> Connection:
    """Create a connection through the service (tested against the simulator first)."""
    async with tenant_session(rt.db.sessions, tenant_id) as session, session.begin():
        return await service.create(
            session,
            rt.keyring(),
            data=ConnectionCreate(connector=connector, name=kw.pop("name", connector), config=settings, **kw),
        )


async def run_jobs(rt: SyncRuntime, queues: list[str] | None = None) -> None:
    """Run queued jobs in-process until none is left."""
    job_app = jobs.bind(rt.db.libpq_url)
    async with job_app.open_async():
        await job_app.run_worker_async(queues=queues, wait=False, install_signal_handlers=False, concurrency=1)
