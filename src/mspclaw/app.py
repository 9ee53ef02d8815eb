"""The FastAPI application: API v1, console, health, metrics, and (optionally) a worker.

``create_app`` wires the domains' routers; the lifespan opens the database (embedded or
external), the vault keyring and the job queue, and closes them on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from mspclaw import __version__, jobs
from mspclaw.agents.gateway_wiring import DatabaseDeviceAuthenticator
from mspclaw.agents.runtime_wiring import install_executor_backends
from mspclaw.agents.views import router as agents_router
from mspclaw.api import observability, problems
from mspclaw.audit.views import router as audit_router
from mspclaw.auth.views import router as auth_router
from mspclaw.config import Settings, get_settings
from mspclaw.console.views import router as console_router
from mspclaw.database.core import Database
from mspclaw.gateway import Gateway, gateway_router
from mspclaw.gateway.pgrouter import PostgresRouter
from mspclaw.identity import views as identity_views
from mspclaw.identity import wiring as identity_wiring
from mspclaw.loop.views import router as loop_router
from mspclaw.reasoning.views import router as reasoning_router
from mspclaw.rmm.views import router as rmm_router
from mspclaw.runs.views import router as runs_router
from mspclaw.sync import api as sync_api
from mspclaw.sync import runtime as sync_runtime
from mspclaw.tenancy.views import router as tenancy_router
from mspclaw.triage import views as triage_views
from mspclaw.vault.keys import KeyringProvider
from mspclaw.vault.views import router as vault_router

log = structlog.get_logger(__name__)


def api_router() -> APIRouter:
    """Every /api/v1 route, from every domain."""
    router = APIRouter(prefix="/api/v1")
    for domain in (tenancy_router, auth_router, vault_router, audit_router, agents_router, runs_router):
        router.include_router(domain)
    router.include_router(sync_api.api_router)
    router.include_router(identity_views.router)
    router.include_router(triage_views.router)
    router.include_router(reasoning_router)
    router.include_router(loop_router)
    router.include_router(rmm_router)
    return router


def create_app(
    settings: Settings | None = None, *, database: Database | None = None, run_worker: bool = False
) -> FastAPI:
    """Build the app. Pass ``database`` to share one (tests, ``mspclaw up``)."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or Database.open(settings)
        app.state.db = db
        # one-time codes and password links go out through apprise URLs from the environment
        app.state.identity_notifier = identity_wiring.notifier_from_environment()
        app.state.runs = install_executor_backends(db, settings, gateway, app.state.identity_notifier)
        app.state.keys = KeyringProvider(settings.master_key, settings.data_dir)
        sync_runtime.ensure(db, app.state.keys)  # sync/triage/loop jobs in this process use this database
        job_app = jobs.bind(db.libpq_url)
        app.state.jobs = job_app
        authenticator.factory = db.sessions
        gateway.router = PostgresRouter(db.libpq_url)
        await gateway.start()
        worker: asyncio.Task[None] | None = None
        async with job_app.open_async():
            if run_worker:
                worker = asyncio.create_task(
                    job_app.run_worker_async(concurrency=settings.worker_concurrency, install_signal_handlers=False)
                )
            try:
                yield
            finally:
                if worker is not None:
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker
                await gateway.close()
        if database is None:
            await db.close()

    app = FastAPI(
        title="MSPclaw",
        version=__version__,
        description="Automation above your PSA and RMM: triage, resolve, automate, govern.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # The gateway is built now (its WebSocket route is mounted below); the lifespan gives it
    # the database for device authentication and LISTEN/NOTIFY routing between processes.
    authenticator = DatabaseDeviceAuthenticator()
    # Refreezing the GC's old generation keeps pauses short with thousands of sockets (bench/agents.py).
    gateway = Gateway(authenticator, gc_refreeze_seconds=900)
    app.state.gateway = gateway
    problems.install(app)
    problems.document_validation_errors_as_problems(app)
    observability.install(app)

    @app.get("/healthz", tags=["Health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["Health"], responses={503: {"model": problems.Problem}})
    async def readyz(request: Request) -> JSONResponse:
        """Readiness: the database answers."""
        try:
            await request.app.state.db.ping()
        except Exception as exc:  # readiness reports any database failure rather than raising
            log.warning("readyz_database_unavailable", error=type(exc).__name__)
            return problems.problem(request, 503, "database_unavailable", "the database does not answer")
        return JSONResponse({"status": "ready"})

    # Vendor webhooks first: routes are matched in order, and /hooks is the high-volume route
    # (matching it after the ~100 /api/v1 routes cost more CPU than the rest of its handling).
    app.include_router(sync_api.hooks_router)
    app.include_router(api_router())
    app.include_router(gateway_router(gateway))
    app.include_router(console_router)
    app.mount(
        "/static",
        StaticFiles(directory=str(Path(__file__).parent / "console" / "static")),
        name="static",
    )
    return app
