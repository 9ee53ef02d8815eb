"""Request ids, access logs and Prometheus metrics for every HTTP request.

A pure ASGI middleware (no ``BaseHTTPMiddleware``: that one runs every request in an extra
task with memory streams, which cost more than the webhook route's whole work). Access
log policy: every request is logged, except the successful, fast answers of high-volume
routes (``QUIET_ROUTES``, vendor webhooks): those are logged one in ``QUIET_SAMPLE`` and
always counted in the metrics; their errors and slow answers are always logged.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid

import structlog
from fastapi import FastAPI, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.get_logger("mspclaw.http")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "mspclaw_http_requests_total",
    "HTTP requests by route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "mspclaw_http_request_seconds",
    "HTTP request latency by route template",
    ["method", "route"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

#: Routes not written to the access log at all (probes and scrapes).
UNLOGGED_ROUTES = frozenset({"/healthz", "/metrics"})
#: High-volume routes whose successful answers are sampled in the access log.
QUIET_ROUTES = frozenset({"/hooks/{connection_id}/{secret_path}"})
#: One successful answer in this many of a quiet route is logged (with ``sampled=N``).
QUIET_SAMPLE = 100
#: A quiet route's answer slower than this is always logged.
SLOW_SECONDS = 0.1


class RequestContextMiddleware:
    """Request id (``X-Request-ID`` in and out, ``request.state.request_id``, bound into
    every log line of the request), access log and metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._quiet_counter = itertools.count()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        status = 500  # what the server's error handler answers when the app raises before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                kept = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*kept, header]}
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            if route not in UNLOGGED_ROUTES:
                self._access_log(method, route, status, elapsed, request_id)

    def _access_log(self, method: str, route: str, status: int, elapsed: float, request_id: str) -> None:
        extra: dict[str, int] = {}
        if route in QUIET_ROUTES and status < 400 and elapsed < SLOW_SECONDS:
            if next(self._quiet_counter) % QUIET_SAMPLE:
                return
            extra["sampled"] = QUIET_SAMPLE
        log.info(
            "http_request",
            method=method,
            route=route,
            status=status,
            ms=round(elapsed * 1000, 2),
            request_id=request_id,
            **extra,
        )


def install(app: FastAPI) -> None:
    """Add the middleware and the /metrics route."""
    app.add_middleware(RequestContextMiddleware)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
