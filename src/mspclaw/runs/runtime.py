"""What the executor runs with: the session factory and the backend router, one per process.

Tasks run inside procrastinate workers, which know nothing of the FastAPI app; the app's
lifespan (or a worker script, or a test) installs the runtime here. A worker started without
one builds the default from settings: the configured database and the local endpoint backend
behind its per-device journal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mspclaw.config import Settings, get_settings
from mspclaw.database.core import Database
from mspclaw.runs.journal import JournaledBackend
from mspclaw.tools import BackendRouter, LocalEndpointBackend


@dataclass
class RunRuntime:
    """The executor's handles: where runs are stored and how tools are carried out."""

    sessions: async_sessionmaker[AsyncSession]
    router: BackendRouter


_current: RunRuntime | None = None


def default_router(data_dir: Path, python: str | None = None) -> BackendRouter:
    """Endpoint tools on this machine, each call journalled per device under ``data_dir``."""
    return BackendRouter(JournaledBackend(LocalEndpointBackend(python), data_dir / "endpoint-journal"))


def install(runtime: RunRuntime) -> RunRuntime:
    """Make ``runtime`` the one the executor's tasks use in this process."""
    global _current
    _current = runtime
    return runtime


def install_default(database: Database, settings: Settings) -> RunRuntime:
    """Install the default runtime for ``database`` (what the app lifespan calls)."""
    return install(RunRuntime(database.sessions, default_router(settings.data_dir)))


def current() -> RunRuntime:
    """The installed runtime, or the default one from MSPCLAW_* settings."""
    if _current is None:
        settings = get_settings()
        install_default(Database.open(settings, pool_size=4), settings)
    assert _current is not None
    return _current
