"""The running database: embedded or external, its engine, session factory and migrations."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from mspclaw.config import Settings
from mspclaw.database.embedded import EmbeddedPostgres, to_libpq_url, to_sqlalchemy_url
from mspclaw.database.session import create_engine, make_sessionmaker

log = structlog.get_logger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at our migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Apply migrations up to ``revision`` (blocking; call from a thread in async code)."""
    command.upgrade(alembic_config(url), revision)


@dataclass
class Database:
    """One process's handle on PostgreSQL."""

    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    embedded: EmbeddedPostgres | None = field(default=None)

    @property
    def libpq_url(self) -> str:
        return to_libpq_url(self.url)

    @classmethod
    def open(cls, settings: Settings, *, pool_size: int = 10) -> Database:
        """Connect to MSPCLAW_DATABASE_URL, or start the embedded server in the data folder."""
        embedded = None
        if settings.database_url:
            url = to_sqlalchemy_url(settings.database_url)
        else:
            embedded = EmbeddedPostgres(settings.data_dir)
            url = embedded.start()
        engine = create_engine(url, pool_size=pool_size)
        return cls(url=url, engine=engine, sessions=make_sessionmaker(engine), embedded=embedded)

    async def migrate(self) -> None:
        """Bring the schema to the newest revision."""
        await asyncio.to_thread(upgrade, self.url)

    async def ping(self) -> bool:
        """True when a trivial query succeeds."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True

    async def close(self) -> None:
        """Dispose of the pool and stop the embedded server if we started it."""
        await self.engine.dispose()
        if self.embedded is not None:
            self.embedded.stop()
