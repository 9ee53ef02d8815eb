"""The connector protocol: the :class:`Connector` base class every adapter extends and the
capability groups (tickets, directory, alerts, scripts, devices, webhooks) it may implement.

A connector is constructed from one connection's settings (secrets included, as the vault
hands them over) and its mappings; it owns one :class:`ResilientClient`.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import httpx

from mspclaw.connectors.errors import (
    AuthFailed,
    ConnectorError,
    MissingPermission,
    RateLimited,
    WrongUrl,
)
from mspclaw.connectors.http import ResilientClient, RetryPolicy, ThrottleCheck
from mspclaw.connectors.mapping import ConnectionMappings
from mspclaw.connectors.models import (
    Alert,
    Client,
    ConnectionTestResult,
    Contact,
    Device,
    Note,
    Page,
    ScriptJob,
    Ticket,
    TicketCreate,
    TicketUpdate,
    WebhookEvent,
)
from mspclaw.connectors.spec import Capability, ConnectorSpec, load_spec


class ReplayGuard(Protocol):
    """Remembers webhook event keys; the sync engine backs it with a unique DB constraint."""

    async def first_time(self, key: str, at: datetime) -> bool:
        """Record ``key``; ``True`` if it was not seen before (within the retention window)."""
        ...


class MemoryReplayGuard:
    """An in-process :class:`ReplayGuard` (tests, the simulator CLI, single-process use)."""

    def __init__(self, retention_seconds: float = 86_400) -> None:
        self.retention = retention_seconds
        self._seen: dict[str, float] = {}

    async def first_time(self, key: str, at: datetime) -> bool:
        """Record ``key``; ``False`` when it is a replay."""
        now = at.timestamp()
        if len(self._seen) > 10_000:
            self._seen = {k: t for k, t in self._seen.items() if now - t < self.retention}
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


@runtime_checkable
class TicketsCapability(Protocol):
    """PSA tickets: incremental listing, single reads, writes and notes."""

    async def list_tickets(self, since: datetime | None, cursor: str | None) -> Page[Ticket]: ...
    async def get_ticket(self, external_id: str) -> Ticket: ...
    async def create_ticket(self, ticket: TicketCreate) -> Ticket: ...
    async def update_ticket(self, external_id: str, update: TicketUpdate) -> Ticket: ...
    async def add_note(self, external_id: str, body: str, *, internal: bool) -> Note: ...
    async def list_notes(self, external_id: str) -> list[Note]: ...


@runtime_checkable
class DirectoryCapability(Protocol):
    """Companies, people and devices as the vendor knows them."""

    async def list_clients(self) -> list[Client]: ...
    async def list_contacts(self) -> list[Contact]: ...
    async def list_devices(self) -> list[Device]: ...


@runtime_checkable
class AlertsCapability(Protocol):
    """RMM alerts."""

    async def list_alerts(self, since: datetime | None) -> list[Alert]: ...
    async def get_alert(self, external_id: str) -> Alert: ...
    async def resolve_alert(self, external_id: str) -> None: ...


@runtime_checkable
class ScriptsCapability(Protocol):
    """Command mode: run a saved script on a device and track the job."""

    async def run_script(self, device: str, script: str, args: dict[str, str]) -> ScriptJob: ...
    async def get_script_result(self, job: ScriptJob) -> ScriptJob: ...


@runtime_checkable
class DevicesCapability(Protocol):
    """Live device state."""

    async def get_device_status(self, external_id: str) -> Device: ...


@runtime_checkable
class WebhooksCapability(Protocol):
    """Inbound vendor pushes: verification (signature, freshness, replay) and registration."""

    async def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, *, now: datetime, replay: ReplayGuard
    ) -> list[WebhookEvent]: ...
    async def register_webhook(self, url: str, secret: str) -> dict[str, Any]: ...


CAPABILITY_PROTOCOLS: dict[Capability, type[Any]] = {
    "tickets": TicketsCapability,
    "directory": DirectoryCapability,
    "alerts": AlertsCapability,
    "scripts": ScriptsCapability,
    "devices": DevicesCapability,
    "webhooks": WebhooksCapability,
}


class Connector(ABC):
    """Base class for adapters: settings validation, mappings, the shared HTTP client and
    ``test_connection``. Subclasses set ``spec_file`` and implement :meth:`probe` plus the
    capability methods their spec claims.
    """

    spec_file: ClassVar[Path]
    #: ``"module:Class"`` of the connector's simulator (served by ``mspclaw simulate``).
    simulator: ClassVar[str | None] = None
    _spec: ClassVar[ConnectorSpec | None] = None

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        connection_id: str = "unsaved",
        mappings: ConnectionMappings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.config = self.spec().validate_config(dict(config))
        self.connection_id = connection_id
        self.mappings = mappings or ConnectionMappings.from_spec(self.spec())
        self._transport = transport
        self._retry = retry
        self._timeout = timeout
        self.http = self.build_http()

    @classmethod
    def spec(cls) -> ConnectorSpec:
        """The parsed spec file (cached per class)."""
        if cls.__dict__.get("_spec") is None:
            cls._spec = load_spec(cls.spec_file)
        assert cls._spec is not None
        return cls._spec

    def secret_values(self) -> list[str]:
        """The secret settings' values, for redaction."""
        return [str(self.config[k]) for k in self.spec().secret_fields() if self.config.get(k)]

    def client(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        is_throttled: ThrottleCheck | None = None,
        idempotency_header: str | None = None,
    ) -> ResilientClient:
        """A resilient client at this connection's budget: the spec's published rate limit, or
        the connection's own ``requests_per_second`` where its spec offers that setting."""
        limit = self.spec().rate_limit
        rate = limit.per_second if limit else 10.0
        burst = limit.burst if limit and limit.burst else max(1, int(rate))
        override = self.config.get("requests_per_second")
        if override is not None:
            rate, burst = float(override), max(1, int(float(override)))
        return ResilientClient(
            base_url,
            connection_id=self.connection_id,
            rate_per_second=rate,
            burst=burst,
            retry=self._retry,
            headers=headers,
            auth=auth,
            secrets=self.secret_values(),
            timeout=self._timeout,
            transport=self._transport,
            is_throttled=is_throttled,
            idempotency_header=idempotency_header,
        )

    @abstractmethod
    def build_http(self) -> ResilientClient:
        """Build the connection's client (subclasses set base URL, auth and headers)."""

    @abstractmethod
    async def probe(self) -> None:
        """The cheapest authenticated read that proves URL, credentials and permissions."""

    async def aclose(self) -> None:
        """Release the HTTP client."""
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def supports(self, capability: Capability) -> bool:
        """Whether the spec claims the capability and the class implements it."""
        return self.spec().supports(capability) and isinstance(self, CAPABILITY_PROTOCOLS[capability])

    async def test_connection(self) -> ConnectionTestResult:
        """Probe the vendor and explain the outcome in words a person can act on."""
        title = self.spec().title
        try:
            await self.probe()
        except AuthFailed as exc:
            return ConnectionTestResult(
                ok=False,
                code="auth_failed",
                reason=f"{title} rejected the credentials: {exc.message}. Check the API "
                "key/token and that it was not regenerated or revoked.",
            )
        except WrongUrl as exc:
            return ConnectionTestResult(
                ok=False,
                code="wrong_url",
                reason=f"The URL does not lead to the {title} API: {exc.message}.",
            )
        except MissingPermission as exc:
            return ConnectionTestResult(
                ok=False,
                code="missing_permission",
                reason=f"The credentials work but lack a permission: {exc.message}. "
                f"See docs/connectors/{self.spec().name}.md for the role to grant.",
            )
        except RateLimited as exc:
            return ConnectionTestResult(
                ok=False,
                code="rate_limited",
                reason=f"{title} is throttling this account right now: {exc.message}.",
            )
        except ConnectorError as exc:
            return ConnectionTestResult(
                ok=False,
                code="vendor_error",
                reason=f"{title} answered with an error: {exc.message}.",
            )
        return ConnectionTestResult(ok=True, code="ok", reason=f"Connected to {title}.")


async def iter_ticket_pages(connector: TicketsCapability, since: datetime | None) -> AsyncIterator[Page[Ticket]]:
    """Walk every page of changes since ``since`` (the polling sync's inner loop)."""
    cursor: str | None = None
    while True:
        page = await connector.list_tickets(since, cursor)
        yield page
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


async def wait_for_script(
    connector: ScriptsCapability,
    job: ScriptJob,
    *,
    within_seconds: float = 300.0,
    poll_interval: float = 2.0,
) -> ScriptJob:
    """Poll a script job until it finishes; past ``within_seconds`` it is reported ``timed_out``."""
    deadline = time.monotonic() + within_seconds
    while not job.done:
        if time.monotonic() >= deadline:
            return job.model_copy(update={"status": "timed_out"})
        await asyncio.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))
        job = await connector.get_script_result(job)
    return job
