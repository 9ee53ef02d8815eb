"""The one resilient HTTP client every connector uses (httpx based).

Owns the per-connection rate budget (token bucket at the vendor's published limit),
``Retry-After`` / ``X-RateLimit-*`` handling, exponential backoff with jitter on 429, 5xx
and timeouts within a bounded total retry time, secret redaction in logs and errors,
per-connection metrics, idempotency keys, and mapping of HTTP failures to connector errors.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import BaseModel

from mspclaw.connectors.errors import (
    AuthFailed,
    MissingPermission,
    NotFound,
    RateLimited,
    VendorError,
    WrongUrl,
)

log = logging.getLogger("mspclaw.connectors.http")

SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "apikey",
        "cookie",
        "set-cookie",
        "x-content-signature",
        "x-hook-signature",
        "secret",
    }
)
SECRET_PARAMS = re.compile(r"(token|secret|password|passwd|api[_-]?key|apikey|signature|sig|code|key)$", re.I)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MASK = "***"


class Redactor:
    """Masks secret values wherever they would be written: URLs, headers, bodies."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        # Longest first so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in (secrets or []) if s and len(s) >= 4}, key=len)[::-1]

    def add(self, secret: str | None) -> None:
        """Learn one more secret value (e.g. a freshly issued OAuth token)."""
        if secret and len(secret) >= 4 and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len)[::-1]

    def text(self, value: str) -> str:
        """The text with every known secret replaced by ``***``."""
        for secret in self._secrets:
            value = value.replace(secret, MASK)
        return value

    def url(self, url: str | httpx.URL) -> str:
        """The URL with secret-looking query parameters and user info masked."""
        parts = urlsplit(str(url))
        query = urlencode(
            [(k, MASK if SECRET_PARAMS.search(k) else v) for k, v in parse_qsl(parts.query, True)],
            safe="*[]()/:",
        )
        netloc = parts.netloc.rsplit("@", 1)[-1]
        return self.text(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers with credential-bearing ones masked."""
        return {k: (MASK if k.lower() in SECRET_HEADERS else self.text(v)) for k, v in headers.items()}


@dataclass
class ConnectionMetrics:
    """Plain counters for one connection; the API layer exports them to Prometheus."""

    requests: int = 0
    throttles: int = 0
    errors: int = 0
    timeouts: int = 0
    retries: int = 0
    latency_seconds_total: float = 0.0
    latency_seconds_max: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)

    def observe(self, status: int | None, seconds: float) -> None:
        """Count one HTTP attempt."""
        self.requests += 1
        self.latency_seconds_total += seconds
        self.latency_seconds_max = max(self.latency_seconds_max, seconds)
        if status is not None:
            self.by_status[status] = self.by_status.get(status, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """A copy suitable for export."""
        return {
            "requests": self.requests,
            "throttles": self.throttles,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "retries": self.retries,
            "latency_seconds_total": self.latency_seconds_total,
            "latency_seconds_max": self.latency_seconds_max,
            "by_status": dict(self.by_status),
        }


_METRICS: dict[str, ConnectionMetrics] = {}


def metrics_for(connection_id: str) -> ConnectionMetrics:
    """The (process-wide) metrics of one connection."""
    return _METRICS.setdefault(connection_id, ConnectionMetrics())


def all_metrics() -> dict[str, dict[str, Any]]:
    """Metrics of every connection seen by this process, for the Prometheus exporter."""
    return {cid: m.snapshot() for cid, m in _METRICS.items()}


class RateBudget:
    """A token bucket: ``rate`` requests per second sustained, ``burst`` at once.

    ``pause_for`` lets a 429 or an exhausted ``X-RateLimit-Remaining`` stop every request of
    the connection, not only the one that was refused.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._updated = time.monotonic()
        self._blocked_until = 0.0
        self._lock: asyncio.Lock | None = None

    def pause_for(self, seconds: float) -> None:
        """Refuse to send anything for ``seconds`` (vendor said so)."""
        self._blocked_until = max(self._blocked_until, time.monotonic() + max(0.0, seconds))
        self._tokens = 0.0

    async def acquire(self) -> float:
        """Wait for a token; returns how long we waited (seconds)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        waited = 0.0
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                wait = self._blocked_until - now
                if wait <= 0 and self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                if wait <= 0:
                    wait = (1 - self._tokens) / self.rate
                waited += wait
                await asyncio.sleep(wait)


_BUDGETS: dict[str, RateBudget] = {}


def budget_for(connection_id: str, rate: float, burst: int) -> RateBudget:
    """The process-wide budget of one connection, so parallel callers share it."""
    budget = _BUDGETS.get(connection_id)
    if budget is None or budget.rate != rate or budget.burst != burst:
        budget = _BUDGETS[connection_id] = RateBudget(rate, burst)
    return budget


class RetryPolicy(BaseModel):
    """How hard to try: attempts, backoff (exponential with full jitter), total time bound."""

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total: float = 120.0
    jitter: bool = True

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based)."""
        delay = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(delay / 2, delay) if self.jitter else delay


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def parse_ratelimit_reset(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds until an ``X-RateLimit-Reset`` (vendors send either epoch seconds or a delta)."""
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    current = now if now is not None else time.time()
    return max(0.0, number - current) if number > 1_000_000_000 else max(0.0, number)


ThrottleCheck = Callable[[httpx.Response], bool]


class ResilientClient:
    """An ``httpx.AsyncClient`` wrapper with budget, retries, redaction and metrics.

    ``is_throttled`` lets a vendor that signals throttling in a 200 body (SuperOps) be
    treated like a 429. ``idempotency_header`` names the header the vendor honours, if any;
    POST/PATCH requests then carry a key that is kept across retries.
    """

    def __init__(
        self,
        base_url: str,
        *,
        connection_id: str,
        rate_per_second: float = 10.0,
        burst: int = 10,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        secrets: list[str] | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
        is_throttled: ThrottleCheck | None = None,
        idempotency_header: str | None = None,
        verify: bool | str = True,
    ) -> None:
        self.connection_id = connection_id
        self.retry = retry or RetryPolicy()
        self.budget = budget_for(connection_id, rate_per_second, burst)
        self.metrics = metrics_for(connection_id)
        self.redactor = Redactor(secrets)
        self.is_throttled = is_throttled
        self.idempotency_header = idempotency_header
        self.base_url = httpx.URL(base_url)
        # The httpx client is built on the first request: building one loads the CA bundle
        # (tens of milliseconds of CPU), which a connector that only verifies webhooks never needs.
        self._client_options: dict[str, Any] = {
            "base_url": base_url,
            "headers": dict(headers or {}),
            "auth": auth,
            "timeout": timeout,
            "transport": transport,
            "verify": verify,
        }
        self._http: httpx.AsyncClient | None = None

    @property
    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(**self._client_options)
        return self._http

    async def aclose(self) -> None:
        """Close the underlying connection pool (if a request ever opened it)."""
        if self._http is not None:
            await self._http.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        idempotency_key: str | None = None,
        allow_status: frozenset[int] = frozenset(),
    ) -> httpx.Response:
        """Send one logical request, retrying within the policy; raise a ConnectorError."""
        method = method.upper()
        send_headers = dict(headers or {})
        retry_safe = method in _SAFE_METHODS if idempotent is None else idempotent
        if self.idempotency_header and method in ("POST", "PATCH"):
            send_headers[self.idempotency_header] = idempotency_key or str(uuid.uuid4())
            retry_safe = True
        started = time.monotonic()
        attempt = 0
        throttled_attempts = 0
        while True:
            attempt += 1
            await self.budget.acquire()
            t0 = time.monotonic()
            try:
                response = await self._client.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    files=files,
                    headers=send_headers,
                )
            except httpx.TimeoutException as exc:
                self.metrics.observe(None, time.monotonic() - t0)
                self.metrics.timeouts += 1
                self.metrics.errors += 1
                self._log(method, url, None, t0, attempt, note="timeout")
                if not retry_safe:
                    raise VendorError(
                        f"{method} {self._path(url)} timed out; not retried because it may have been applied",
                    ) from exc
                reason, delay = "timeout", self.retry.backoff(attempt)
            except (httpx.ConnectError, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
                self.metrics.observe(None, time.monotonic() - t0)
                self.metrics.errors += 1
                raise WrongUrl(
                    f"cannot reach {self._host()}: {type(exc).__name__}; check the URL",
                ) from exc
            except httpx.TransportError as exc:
                self.metrics.observe(None, time.monotonic() - t0)
                self.metrics.errors += 1
                self._log(method, url, None, t0, attempt, note=type(exc).__name__)
                if not retry_safe:
                    raise VendorError(f"{method} {self._path(url)} failed: {exc}") from exc
                reason, delay = "transport error", self.retry.backoff(attempt)
            else:
                self.metrics.observe(response.status_code, time.monotonic() - t0)
                self._log(method, url, response, t0, attempt)
                throttled = response.status_code == 429 or (
                    self.is_throttled is not None and response.status_code == 200 and self.is_throttled(response)
                )
                if throttled:
                    self.metrics.throttles += 1
                    hinted = parse_retry_after(response.headers.get("Retry-After"))
                    delay = max(hinted or 0.0, self.retry.backoff(attempt))
                    throttled_attempts += 1
                    # A throttle is the vendor pacing us, not a failure: only the total
                    # retry time bounds it, and it does not use up the failure attempts.
                    if self._out_of_budget(started, attempt - throttled_attempts, delay):
                        raise RateLimited(
                            f"{self._host()} kept throttling for "
                            f"{time.monotonic() - started:.0f}s ({attempt} attempts)",
                            retry_after=hinted,
                        )
                    # Every request of this connection waits, not only this one.
                    self.budget.pause_for(delay)
                    self.metrics.retries += 1
                    continue
                if response.status_code >= 500 and response.status_code in RETRY_STATUSES:
                    self.metrics.errors += 1
                    if not retry_safe:
                        raise self._error(response)
                    reason = f"HTTP {response.status_code}"
                    delay = max(
                        parse_retry_after(response.headers.get("Retry-After")) or 0.0,
                        self.retry.backoff(attempt),
                    )
                else:
                    self._follow_ratelimit_headers(response)
                    if response.status_code >= 400 and response.status_code not in allow_status:
                        self.metrics.errors += 1
                        raise self._error(response)
                    return response
            if self._out_of_budget(started, attempt - throttled_attempts, delay):
                raise VendorError(
                    f"{method} {self._path(url)} still failing after {attempt} attempts ({reason})",
                )
            self.metrics.retries += 1
            await asyncio.sleep(delay)

    async def request_json(self, method: str, url: str, *, malformed_attempts: int = 3, **kwargs: Any) -> Any:
        """:meth:`request`, then decode JSON; a truncated or invalid body on a retry-safe
        request is fetched again (a malformed page is usually transient)."""
        idempotent = kwargs.get("idempotent")
        retry_safe = method.upper() in _SAFE_METHODS if idempotent is None else idempotent
        attempt = 0
        while True:
            attempt += 1
            response = await self.request(method, url, **kwargs)
            if response.status_code == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError as exc:
                self.metrics.errors += 1
                if not retry_safe or attempt >= malformed_attempts:
                    raise VendorError(
                        f"{self._host()} sent a malformed response to {method} {self._path(url)}",
                        detail={"body": self.redactor.text(response.text[:200])},
                    ) from exc
                self.metrics.retries += 1
                await asyncio.sleep(self.retry.backoff(attempt))

    def _out_of_budget(self, started: float, failures: int, delay: float) -> bool:
        elapsed = time.monotonic() - started
        return failures >= self.retry.max_attempts or elapsed + delay > self.retry.max_total

    def _follow_ratelimit_headers(self, response: httpx.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        if remaining is None:
            return
        try:
            left = float(remaining)
        except ValueError:
            return
        if left <= 0:
            wait = parse_ratelimit_reset(response.headers.get("X-RateLimit-Reset"))
            self.budget.pause_for(wait if wait is not None else 1.0)

    def _host(self) -> str:
        return self.base_url.host or str(self.base_url)

    def _path(self, url: str) -> str:
        return self.redactor.url(url)

    def _error(self, response: httpx.Response) -> Exception:
        body = self.redactor.text(response.text[:500])
        where = f"{response.request.method} {self.redactor.url(response.request.url.path)}"
        detail = {"status": response.status_code, "body": body}
        status = response.status_code
        if status == 401:
            return AuthFailed(f"{self._host()} rejected the credentials (HTTP 401)", detail=detail)
        if status == 403:
            return MissingPermission(
                f"{self._host()} refused {where}: the credentials lack a permission (HTTP 403)",
                detail=detail,
            )
        if status == 404:
            return NotFound(f"{where} not found (HTTP 404)", detail=detail)
        return VendorError(f"{where} failed with HTTP {status}", detail=detail)

    def _log(
        self,
        method: str,
        url: str,
        response: httpx.Response | None,
        t0: float,
        attempt: int,
        note: str | None = None,
    ) -> None:
        elapsed_ms = (time.monotonic() - t0) * 1000
        target = self.redactor.url(response.request.url if response is not None else url)
        status = response.status_code if response is not None else note
        log.info(
            "%s %s -> %s in %.0f ms (attempt %d, connection %s)",
            method,
            target,
            status,
            elapsed_ms,
            attempt,
            self.connection_id,
        )
        if response is not None and log.isEnabledFor(logging.DEBUG):
            log.debug(
                "request headers %s; response headers %s; body %s",
                self.redactor.headers(response.request.headers),
                self.redactor.headers(response.headers),
                self.redactor.text(response.text[:300]),
            )


class OAuth2ClientCredentials(httpx.Auth):
    """OAuth2 client-credentials, or a refresh-token grant when ``refresh_token`` is given
    (user context, which some vendors require for actions), as an httpx auth flow.

    The token is fetched lazily, cached until shortly before expiry, refreshed once on a
    401, and registered with the redactor so it never reaches a log line. A rotated refresh
    token is kept in ``refresh_token`` (the caller persists it to the vault).
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        redactor: Redactor | None = None,
        refresh_token: str | None = None,
    ) -> None:
        self.refresh_token = refresh_token
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope
        self.redactor = redactor
        self._token: str | None = None
        self._expires = 0.0
        self.granted_scope = ""

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            data={
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "scope": self.scope,
                **(
                    {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
                    if self.refresh_token
                    else {"grant_type": "client_credentials"}
                ),
            },
            headers={"Accept": "application/json"},
        )

    def _take(self, response: httpx.Response) -> None:
        if response.status_code in (400, 401, 403):
            raise AuthFailed(f"the OAuth token endpoint refused the client id/secret (HTTP {response.status_code})")
        if response.status_code == 404 or "json" not in response.headers.get("content-type", ""):
            raise WrongUrl(f"no OAuth token endpoint at {response.request.url.host}")
        if response.status_code >= 400:
            raise VendorError(f"the OAuth token endpoint failed (HTTP {response.status_code})")
        payload = response.json()
        self._token = str(payload["access_token"])
        self.refresh_token = payload.get("refresh_token") or self.refresh_token
        self.granted_scope = str(payload.get("scope") or self.scope)
        self._expires = time.monotonic() + float(payload.get("expires_in", 3600)) - 30
        if self.redactor is not None:
            self.redactor.add(self._token)
            self.redactor.add(self.refresh_token)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Attach a bearer token, fetching or refreshing it when needed."""
        if self._token is None or time.monotonic() >= self._expires:
            token_response = yield self._token_request()
            await token_response.aread()
            self._take(token_response)
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            token_response = yield self._token_request()
            await token_response.aread()
            self._take(token_response)
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request
