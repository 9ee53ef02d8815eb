"""The resilient HTTP client against a real uvicorn server on 127.0.0.1 (no mocks)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from mspclaw.connectors.errors import (
    AuthFailed,
    MissingPermission,
    RateLimited,
    VendorError,
    WrongUrl,
)
from mspclaw.connectors.http import (
    RateBudget,
    ResilientClient,
    RetryPolicy,
    metrics_for,
    parse_ratelimit_reset,
    parse_retry_after,
)
from mspclaw.connectors.simulator import ServedApp, free_port

SECRET = "sk-live-VERY-secret-token-123"


class Script:
    """What the test server answers next, per path."""

    def __init__(self) -> None:
        self.queue: dict[str, list[tuple[int, dict[str, str], float]]] = {}
        self.seen: list[dict[str, Any]] = []

    def then(self, path: str, status: int, headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        self.queue.setdefault(path, []).append((status, headers or {}, delay))


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PATCH", "PUT"])
    async def any_path(path: str, request: Request) -> Response:
        script.seen.append(
            {
                "path": path,
                "method": request.method,
                "headers": dict(request.headers),
                "t": time.monotonic(),
            }
        )
        steps = script.queue.get(path) or []
        status, headers, delay = steps.pop(0) if steps else (200, {}, 0.0)
        if delay:
            await asyncio.sleep(delay)
        return JSONResponse({"path": path, "status": status}, status_code=status, headers=headers)

    with ServedApp(app) as served:
        yield served.url, script


def fast_retry(**kw: Any) -> RetryPolicy:
    return RetryPolicy(base_delay=0.01, max_delay=0.05, jitter=True, **kw)


def make_client(url: str, cid: str, **kw: Any) -> ResilientClient:
    kw.setdefault("retry", fast_retry())
    kw.setdefault("rate_per_second", 1000.0)
    kw.setdefault("burst", 100)
    return ResilientClient(
        url,
        connection_id=cid,
        headers={"Authorization": f"Bearer {SECRET}"},
        secrets=[SECRET],
        timeout=0.5,
        **kw,
    )


async def test_retries_5xx_then_succeeds_and_counts(server: tuple[str, Script]) -> None:
    url, script = server
    script.then("flaky", 500)
    script.then("flaky", 503)
    client = make_client(url, "c-5xx")
    response = await client.request("GET", "/flaky")
    assert response.status_code == 200
    m = metrics_for("c-5xx")
    assert (m.requests, m.errors, m.retries) == (3, 2, 2)
    await client.aclose()


async def test_retry_after_is_honoured(server: tuple[str, Script]) -> None:
    url, script = server
    script.then("slowdown", 429, {"Retry-After": "1"})
    client = make_client(url, "c-ra")
    started = time.monotonic()
    response = await client.request("GET", "/slowdown")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.95
    assert metrics_for("c-ra").throttles == 1
    await client.aclose()


async def test_throttle_storm_past_budget_raises_rate_limited(server: tuple[str, Script]) -> None:
    url, script = server
    for _ in range(100):
        script.then("storm", 429)
    # Throttles are bounded by total retry time, not by the failure-attempt count.
    client = make_client(url, "c-storm", retry=fast_retry(max_attempts=2, max_total=0.3))
    with pytest.raises(RateLimited):
        await client.request("GET", "/storm")
    assert 2 < metrics_for("c-storm").requests < 100
    script.queue["storm"].clear()
    await client.aclose()


async def test_post_not_retried_on_500_without_idempotency(server: tuple[str, Script]) -> None:
    url, script = server
    script.then("create", 500)
    script.then("create", 500)
    client = make_client(url, "c-post")
    with pytest.raises(VendorError):
        await client.request("POST", "/create", json={"a": 1})
    assert metrics_for("c-post").requests == 1  # a create is never sent twice blindly
    script.queue["create"].clear()
    await client.aclose()


async def test_post_with_idempotency_key_is_retried_with_same_key(
    server: tuple[str, Script],
) -> None:
    url, script = server
    script.then("idem", 502)
    client = make_client(url, "c-idem", idempotency_header="Idempotency-Key")
    before = len(script.seen)
    await client.request("POST", "/idem", json={})
    keys = {s["headers"]["idempotency-key"] for s in script.seen[before:]}
    assert len(script.seen[before:]) == 2 and len(keys) == 1
    await client.aclose()


async def test_timeouts_are_retried_for_reads(server: tuple[str, Script]) -> None:
    url, script = server
    script.then("hang", 200, delay=1.0)
    client = make_client(url, "c-timeout")
    response = await client.request("GET", "/hang")
    assert response.status_code == 200
    assert metrics_for("c-timeout").timeouts == 1
    await client.aclose()


async def test_auth_and_permission_errors_are_typed(server: tuple[str, Script]) -> None:
    url, script = server
    script.then("me", 401)
    script.then("admin", 403)
    client = make_client(url, "c-auth")
    with pytest.raises(AuthFailed):
        await client.request("GET", "/me")
    with pytest.raises(MissingPermission):
        await client.request("GET", "/admin")
    await client.aclose()


async def test_unreachable_host_is_wrong_url() -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}", "c-wrong")
    with pytest.raises(WrongUrl):
        await client.request("GET", "/x")
    await client.aclose()


async def test_ratelimit_remaining_zero_pauses_the_connection(server: tuple[str, Script]) -> None:
    url, script = server
    script.then("quota", 200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0.6"})
    client = make_client(url, "c-quota")
    await client.request("GET", "/quota")
    started = time.monotonic()
    await client.request("GET", "/next")
    assert time.monotonic() - started >= 0.5
    await client.aclose()


async def test_secrets_never_logged(server: tuple[str, Script], caplog: pytest.LogCaptureFixture) -> None:
    url, script = server
    script.then("leak", 400)
    client = make_client(url, "c-log")
    caplog.set_level(logging.DEBUG, logger="mspclaw.connectors.http")
    with pytest.raises(VendorError) as info:
        await client.request("GET", f"/leak?api_key={SECRET}&page=2")
    await client.request("GET", "/fine", params={"token": SECRET})
    assert caplog.records, "requests are logged"
    assert SECRET not in caplog.text
    assert "page=2" in caplog.text
    assert SECRET not in str(info.value.detail) and SECRET not in info.value.message
    await client.aclose()


async def test_token_bucket_follows_the_budget() -> None:
    budget = RateBudget(rate=20.0, burst=2)
    started = time.monotonic()
    for _ in range(12):
        await budget.acquire()
    # 2 immediately, 10 more at 20/s => about 0.5 s; never faster than the vendor allows.
    assert time.monotonic() - started >= 0.45


def test_retry_after_and_reset_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None
    assert parse_ratelimit_reset("1700000010", now=1700000000.0) == 10.0
    assert parse_ratelimit_reset("5") == 5.0
