"""The conformance kit: one pytest suite every connector passes against its simulator.

Use it by subclassing :class:`ConnectorConformance` in a test module (pytest collects the
``test_*`` methods) and filling in the hooks: the connector class, a simulator factory and
the settings for good or bad credentials. A capability the spec declares absent is skipped
as "not applicable: <reason>", never passed silently.
"""

from __future__ import annotations

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import httpx
import pytest

from mspclaw.connectors.base import (
    CAPABILITY_PROTOCOLS,
    Connector,
    MemoryReplayGuard,
    TicketsCapability,
    iter_ticket_pages,
    wait_for_script,
)
from mspclaw.connectors.errors import ConfigInvalid, NotFound, UnmappedValue, WebhookRejected
from mspclaw.connectors.http import RetryPolicy
from mspclaw.connectors.mapping import ConnectionMappings
from mspclaw.connectors.models import SyncCursor, Ticket, TicketUpdate
from mspclaw.connectors.simulator import FaultPlan, ServedApp, Simulator
from mspclaw.connectors.spec import CAPABILITIES, Capability

Credentials = Literal["good", "bad", "limited"]
SECRETISH = ("secret", "token", "password", "private", "api_key", "apikey")


class SimulatorAdmin:
    """Client for a simulator's ``/_sim`` admin API (works against a served simulator)."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10.0)

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        response = await self.http.request(method, path, **kw)
        response.raise_for_status()
        return response.json()

    async def reset(self, seed: str = "demo") -> dict[str, Any]:
        """Rebuild the simulator state from ``seed`` and clear pending faults."""
        return dict(await self._json("POST", "/_sim/reset", json={"seed": seed}))

    async def state(self) -> dict[str, Any]:
        """Counts, pending and injected faults."""
        return dict(await self._json("GET", "/_sim/state"))

    async def faults(self, plan: FaultPlan) -> None:
        """Queue faults."""
        await self._json("POST", "/_sim/faults", json=plan.model_dump())

    async def create_ticket(self, **change: Any) -> dict[str, Any]:
        """Create a ticket as a person in the vendor UI would."""
        return dict(await self._json("POST", "/_sim/tickets", json=change))

    async def update_ticket(self, ticket_id: str, **change: Any) -> dict[str, Any]:
        """Edit a ticket as a person in the vendor UI would."""
        return dict(await self._json("PATCH", f"/_sim/tickets/{ticket_id}", json=change))

    async def notes(self, ticket_id: str) -> list[dict[str, Any]]:
        """The vendor's stored notes of a ticket."""
        return list(await self._json("GET", f"/_sim/tickets/{ticket_id}/notes"))

    async def webhook_sample(self, ticket_id: str, action: str = "updated") -> tuple[dict[str, str], bytes]:
        """A genuine delivery (headers, raw body) for a ticket change."""
        data = await self._json("POST", "/_sim/webhooks/sample", json={"ticket_id": ticket_id, "action": action})
        return dict(data["headers"]), str(data["body"]).encode()

    async def aclose(self) -> None:
        """Close the admin client."""
        await self.http.aclose()


async def full_sync(connector: TicketsCapability, since: datetime | None = None) -> list[Ticket]:
    """Every ticket page from ``since`` (what the polling engine does per run)."""
    tickets: list[Ticket] = []
    async for page in iter_ticket_pages(connector, since):
        tickets.extend(page.items)
    return tickets


def _sync_cursor(tickets: list[Ticket]) -> SyncCursor:
    newest = max(t.updated_at for t in tickets)
    return SyncCursor(updated_since=newest)


class ConnectorConformance(ABC):
    """Subclass as ``class TestXConformance(ConnectorConformance)`` and implement the hooks."""

    connector_cls: ClassVar[type[Connector]]
    #: Retries fast enough for tests while still exercising backoff.
    retry: ClassVar[RetryPolicy] = RetryPolicy(base_delay=0.05, max_delay=0.5, max_total=30.0)
    client_timeout: ClassVar[float] = 1.0

    # --- hooks ------------------------------------------------------------------------

    @abstractmethod
    def make_simulator(self) -> Simulator:
        """A fresh simulator for this connector."""

    @abstractmethod
    def config(self, sim: Simulator, base_url: str, credentials: Credentials) -> dict[str, Any] | None:
        """Connection settings pointing at ``base_url``; ``None`` if that case is impossible."""

    def script_target(self, sim: Simulator) -> tuple[str, str, dict[str, str]] | None:
        """(device id, script id, args) of a script that succeeds in the simulator."""
        return None

    def forgeries(self, headers: dict[str, str], body: bytes) -> list[tuple[str, dict[str, str], bytes]]:
        """Forged variants of a genuine delivery; defaults: tampered body, auth headers gone."""
        tampered = body.replace(b"updated", b"Updated", 1) if b"updated" in body else body + b" "
        kept = {k: v for k, v in headers.items() if k.lower() == "content-type"}
        return [("tampered body", headers, tampered), ("no signature", kept, body)]

    # --- fixtures ---------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def served(cls) -> Iterator[tuple[Simulator, str]]:
        """The simulator, served by uvicorn on 127.0.0.1 for the whole class."""
        sim = cls().make_simulator()
        with ServedApp(sim.app()) as app:
            yield sim, app.url

    @pytest.fixture
    async def admin(self, served: tuple[Simulator, str]) -> AsyncIterator[SimulatorAdmin]:
        """The admin client, with the simulator reset to its seed before each test."""
        client = SimulatorAdmin(served[1])
        await client.reset("demo")
        yield client
        await client.aclose()

    def build(
        self,
        served: tuple[Simulator, str],
        credentials: Credentials = "good",
        base_url: str | None = None,
        mappings: ConnectionMappings | None = None,
    ) -> Connector:
        """A connector instance on a fresh connection id (own budget and metrics)."""
        sim, url = served
        settings = self.config(sim, base_url or url, credentials)
        if settings is None:
            pytest.skip(f"not applicable: the simulator has no {credentials!r} credentials")
        return self.connector_cls(
            settings,
            connection_id=f"kit-{uuid.uuid4()}",
            retry=self.retry,
            timeout=self.client_timeout,
            mappings=mappings,
        )

    @pytest.fixture
    async def connector(self, served: tuple[Simulator, str], admin: SimulatorAdmin) -> AsyncIterator[Connector]:
        """A connector with good credentials against the freshly reset simulator."""
        conn = self.build(served)
        yield conn
        await conn.aclose()

    def require(self, capability: Capability) -> None:
        """Skip (with the spec's reason) when the connector lacks a capability."""
        spec = self.connector_cls.spec()
        if not spec.supports(capability):
            pytest.skip(f"not applicable: {spec.absent_reason(capability)}")

    # --- spec and connection ----------------------------------------------------------

    def test_spec_valid_and_secrets_marked(self) -> None:
        spec = self.connector_cls.spec()
        assert set(spec.capabilities) == set(CAPABILITIES)
        secrets = spec.secret_fields()
        assert secrets, "a connector with credentials must mark them x-secret"
        for name, schema in spec.config_schema.get("properties", {}).items():
            if any(word in name.lower() for word in SECRETISH):
                assert name in secrets, f"{name} looks secret but is not marked x-secret"
                assert schema.get("writeOnly") is True, f"{name} must be writeOnly"
        for capability in CAPABILITIES:
            implemented = isinstance(self.connector_cls, type) and all(
                callable(getattr(self.connector_cls, m, None))
                for m in CAPABILITY_PROTOCOLS[capability].__dict__
                if not m.startswith("_") and callable(CAPABILITY_PROTOCOLS[capability].__dict__[m])
            )
            if spec.supports(capability):
                assert implemented, f"spec claims {capability} but methods are missing"
            else:
                assert spec.absent_reason(capability)

    def test_invalid_settings_rejected_without_leaking_secrets(self, served: tuple[Simulator, str]) -> None:
        sim, url = served
        settings = self.config(sim, url, "good")
        assert settings is not None
        spec = self.connector_cls.spec()
        secret_values = [str(settings[k]) for k in spec.secret_fields() if k in settings]
        broken = dict(settings)
        broken.pop(spec.config_schema["required"][0])
        with pytest.raises(ConfigInvalid) as info:
            self.connector_cls(broken)
        text = f"{info.value.message} {json.dumps(info.value.detail)}"
        assert all(s not in text for s in secret_values)
        assert all(spec.redact_config(settings)[k] == "***" for k in spec.secret_fields() if settings.get(k))

    async def test_connection_good(self, connector: Connector) -> None:
        result = await connector.test_connection()
        assert result.ok and result.code == "ok", result.reason

    async def _failed_test(self, served: tuple[Simulator, str], code: str, **build: Any) -> str:
        async with self.build(served, **build) as conn:
            result = await conn.test_connection()
        assert not result.ok and result.code == code, result.reason
        return result.reason

    async def test_connection_bad_credentials(self, served: tuple[Simulator, str], admin: SimulatorAdmin) -> None:
        reason = await self._failed_test(served, "auth_failed", credentials="bad")
        assert "credential" in reason.lower()

    async def test_connection_wrong_url(self, served: tuple[Simulator, str], admin: SimulatorAdmin) -> None:
        await self._failed_test(served, "wrong_url", base_url=served[1] + "/no-such-api")

    async def test_connection_missing_permission(self, served: tuple[Simulator, str], admin: SimulatorAdmin) -> None:
        await self._failed_test(served, "missing_permission", credentials="limited")

    # --- tickets ----------------------------------------------------------------------

    async def test_full_sync(self, connector: Connector, admin: SimulatorAdmin) -> None:
        self.require("tickets")
        assert isinstance(connector, TicketsCapability)
        tickets = await full_sync(connector)
        state = await admin.state()
        ids = [t.external_id for t in tickets]
        assert len(ids) == len(set(ids)) == state["tickets"]
        for t in tickets:
            assert t.raw, "the raw vendor payload is kept"
            assert t.raw_status is not None
            assert t.status is not None or t.raw_status in {v.value for v in connector.mappings.unmapped.as_list()}

    async def test_incremental_sync_returns_only_newer_changes(
        self, connector: Connector, admin: SimulatorAdmin
    ) -> None:
        self.require("tickets")
        assert isinstance(connector, TicketsCapability)
        before = await full_sync(connector)
        cursor = _sync_cursor(before)
        changed = {before[3].external_id, before[len(before) // 2].external_id}
        for ticket_id in changed:
            await admin.update_ticket(ticket_id, subject=f"changed {ticket_id}")
        created = await admin.create_ticket(subject="a brand new ticket")
        # No overlap here: the point is that the vendor filter itself is exact. The sync
        # engine adds an overlap window on top and dedupes what it re-reads.
        after = await full_sync(connector, cursor.window_start(overlap_seconds=0))
        got = {t.external_id for t in after}
        assert changed <= got and len(got) == 3, got
        assert all(t.updated_at > cursor.updated_since for t in after if cursor.updated_since)
        assert any(t.subject == "a brand new ticket" for t in after) and created

    async def test_repeat_sync_is_idempotent(self, connector: Connector) -> None:
        self.require("tickets")
        assert isinstance(connector, TicketsCapability)
        first = {t.external_id: t.updated_at for t in await full_sync(connector)}
        second = {t.external_id: t.updated_at for t in await full_sync(connector)}
        assert first == second

    async def test_far_future_cursor_returns_nothing(self, connector: Connector) -> None:
        self.require("tickets")
        assert isinstance(connector, TicketsCapability)
        assert await full_sync(connector, datetime(2100, 1, 1, tzinfo=UTC)) == []

    async def test_note_write_back_visible_in_simulator(self, connector: Connector, admin: SimulatorAdmin) -> None:
        self.require("tickets")
        assert isinstance(connector, TicketsCapability)
        ticket = (await full_sync(connector))[0]
        internal = await connector.add_note(ticket.external_id, "MSPclaw: reset done (internal)", internal=True)
        public = await connector.add_note(ticket.external_id, "Hi, your password was reset.", internal=False)
        assert internal.internal and not public.internal
        stored = json.dumps(await admin.notes(ticket.external_id))
        assert "reset done (internal)" in stored and "your password was reset" in stored
        listed = {n.body: n.internal for n in await connector.list_notes(ticket.external_id)}
        assert listed["MSPclaw: reset done (internal)"] is True
        assert listed["Hi, your password was reset."] is False

    async def test_status_and_priority_round_trip(self, connector: Connector) -> None:
        self.require("tickets")
        assert isinstance(connector, TicketsCapability)
        ticket = (await full_sync(connector))[0]
        mappings = connector.mappings
        for status in sorted(set(mappings.status.values())):
            updated = await connector.update_ticket(ticket.external_id, TicketUpdate(status=status))
            again = await connector.get_ticket(ticket.external_id)
            assert updated.status == again.status == status
            assert again.raw_status == mappings.to_vendor("status", status)
        for priority in sorted(set(mappings.priority.values())):
            await connector.update_ticket(ticket.external_id, TicketUpdate(priority=priority))
            again = await connector.get_ticket(ticket.external_id)
            assert again.priority == priority
            assert again.raw_priority == mappings.to_vendor("priority", priority)

    async def test_unmapped_values_reported_not_coerced(
        self, served: tuple[Simulator, str], admin: SimulatorAdmin
    ) -> None:
        self.require("tickets")
        defaults = ConnectionMappings.from_spec(self.connector_cls.spec())
        dropped = sorted(defaults.status)[0]
        partial = defaults.model_copy(
            update={
                "status": {k: v for k, v in defaults.status.items() if k != dropped},
                "priority": {},
            }
        )
        async with self.build(served, mappings=partial) as conn:
            assert isinstance(conn, TicketsCapability)
            tickets = await full_sync(conn)
            seen = {(u.field, u.value) for u in conn.mappings.unmapped.as_list()}
            assert all(
                t.priority is None and (t.raw_priority is None or ("priority", t.raw_priority) in seen) for t in tickets
            )
            for t in tickets:
                if t.raw_status == dropped:
                    assert t.status is None and ("status", dropped) in seen
            with pytest.raises(UnmappedValue):
                await conn.update_ticket(tickets[0].external_id, TicketUpdate(priority="high"))

    async def snapshot(self, connector: Connector) -> dict[str, Any]:
        """What a sync sees: tickets (id → updated) or, for RMMs, devices (id → name)."""
        if connector.supports("tickets"):
            assert isinstance(connector, TicketsCapability)
            return {t.external_id: t.updated_at for t in await full_sync(connector)}
        self.require("directory")
        devices = await connector.list_devices()  # type: ignore[attr-defined]
        return {d.external_id: d.name for d in devices}

    async def test_rate_limit_storm_survived(self, connector: Connector, admin: SimulatorAdmin) -> None:
        baseline = await self.snapshot(connector)
        assert baseline
        await admin.faults(
            FaultPlan(
                rate_limit=4,
                server_error=2,
                malformed=1,
                slow=1,
                slow_ms=100,
                timeout=1,
                timeout_seconds=self.client_timeout + 0.5,
            )
        )
        assert await self.snapshot(connector) == baseline
        injected = (await admin.state())["faults_injected"]
        assert injected.get("rate_limit", 0) >= 4 and injected.get("server_error", 0) >= 2
        assert connector.http.metrics.throttles >= 4

    # --- directory, devices, alerts, scripts ------------------------------------------

    async def test_directory(self, connector: Connector, admin: SimulatorAdmin) -> None:
        self.require("directory")
        state = await admin.state()
        clients = await connector.list_clients()  # type: ignore[attr-defined]
        contacts = await connector.list_contacts()  # type: ignore[attr-defined]
        devices = await connector.list_devices()  # type: ignore[attr-defined]
        assert len(clients) == state["clients"] and all(c.name for c in clients)
        assert len(contacts) == state["contacts"]
        assert len(devices) == state["devices"]
        client_ids = {c.external_id for c in clients}
        assert {c.client_external_id for c in contacts} <= client_ids

    async def test_device_status(self, connector: Connector) -> None:
        self.require("devices")
        device = (await connector.list_devices())[0]  # type: ignore[attr-defined]
        status = await connector.get_device_status(device.external_id)  # type: ignore[attr-defined]
        assert status.external_id == device.external_id and status.online is not None

    async def test_alerts_list_get_resolve(self, connector: Connector) -> None:
        self.require("alerts")
        alerts = await connector.list_alerts(None)  # type: ignore[attr-defined]
        open_alert = next(a for a in alerts if a.open)
        assert await connector.list_alerts(datetime(2100, 1, 1, tzinfo=UTC)) == []  # type: ignore[attr-defined]
        found = await connector.get_alert(open_alert.external_id)  # type: ignore[attr-defined]
        assert found.open and found.external_id == open_alert.external_id
        await connector.resolve_alert(open_alert.external_id)  # type: ignore[attr-defined]
        try:
            again = await connector.get_alert(open_alert.external_id)  # type: ignore[attr-defined]
        except NotFound:
            return  # vendors such as NinjaOne drop a reset alert from their API
        assert again.open is False

    async def test_script_run_tracked_to_result(self, connector: Connector, served: tuple[Simulator, str]) -> None:
        self.require("scripts")
        target = self.script_target(served[0])
        if target is None:
            pytest.skip("not applicable: the harness names no script target")
        device, script, args = target
        job = await connector.run_script(device, script, args)  # type: ignore[attr-defined]
        assert job.status in ("pending", "running")
        done = await wait_for_script(connector, job, within_seconds=10, poll_interval=0.1)  # type: ignore[arg-type]
        assert done.status == "succeeded" and done.output

    # --- webhooks ---------------------------------------------------------------------

    async def genuine_delivery(
        self, connector: Connector, admin: SimulatorAdmin
    ) -> tuple[str, str, dict[str, str], bytes]:
        """(entity, external id, headers, body) of a genuine delivery after a change.

        The default changes a ticket; RMM harnesses override it (NinjaOne: a device activity).
        """
        assert isinstance(connector, TicketsCapability)
        ticket = (await full_sync(connector))[0]
        await admin.update_ticket(ticket.external_id, subject="webhook check")
        headers, body = await admin.webhook_sample(ticket.external_id)
        return "ticket", ticket.external_id, headers, body

    async def _genuine(self, connector: Connector, admin: SimulatorAdmin) -> tuple[str, dict[str, str], bytes]:
        _, external_id, headers, body = await self.genuine_delivery(connector, admin)
        return external_id, headers, body

    async def test_webhook_genuine_accepted(self, connector: Connector, admin: SimulatorAdmin) -> None:
        self.require("webhooks")
        entity, external_id, headers, body = await self.genuine_delivery(connector, admin)
        events = await connector.verify_webhook(  # type: ignore[attr-defined]
            headers, body, now=datetime.now(UTC), replay=MemoryReplayGuard()
        )
        assert [(e.entity, e.external_id) for e in events] == [(entity, external_id)]

    async def test_webhook_forged_rejected(self, connector: Connector, admin: SimulatorAdmin) -> None:
        self.require("webhooks")
        _, headers, body = await self._genuine(connector, admin)
        for label, fheaders, fbody in self.forgeries(headers, body):
            with pytest.raises(WebhookRejected) as info:
                await connector.verify_webhook(  # type: ignore[attr-defined]
                    fheaders, fbody, now=datetime.now(UTC), replay=MemoryReplayGuard()
                )
            assert info.value.reason in ("forged", "malformed"), label

    async def test_webhook_stale_rejected(self, connector: Connector, admin: SimulatorAdmin) -> None:
        self.require("webhooks")
        _, headers, body = await self._genuine(connector, admin)
        with pytest.raises(WebhookRejected) as info:
            await connector.verify_webhook(  # type: ignore[attr-defined]
                headers, body, now=datetime.now(UTC) + timedelta(days=1), replay=MemoryReplayGuard()
            )
        assert info.value.reason == "stale"

    async def test_webhook_replay_rejected(self, connector: Connector, admin: SimulatorAdmin) -> None:
        self.require("webhooks")
        _, headers, body = await self._genuine(connector, admin)
        guard = MemoryReplayGuard()
        await connector.verify_webhook(headers, body, now=datetime.now(UTC), replay=guard)  # type: ignore[attr-defined]
        with pytest.raises(WebhookRejected) as info:
            await connector.verify_webhook(headers, body, now=datetime.now(UTC), replay=guard)  # type: ignore[attr-defined]
        assert info.value.reason == "replayed"
