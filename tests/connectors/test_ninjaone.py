"""NinjaOne: the conformance kit against its simulator, plus NinjaOne specifics."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from mspclaw.connectors.base import Connector, MemoryReplayGuard, wait_for_script
from mspclaw.connectors.errors import MissingPermission
from mspclaw.connectors.ninjaone.adapter import WEBHOOK_HEADER, NinjaOneConnector
from mspclaw.connectors.ninjaone.simulator import NinjaOneSimulator
from mspclaw.connectors.simulator import ServedApp, Simulator, WebhookReceiver
from mspclaw.connectors.testing import ConnectorConformance, Credentials, SimulatorAdmin


def ninja_config(
    sim: NinjaOneSimulator,
    base_url: str,
    credentials: Credentials = "good",
    *,
    user_context: bool = True,
) -> dict[str, Any]:
    config = {
        "base_url": base_url,
        "client_id": sim.monitoring_client_id if credentials == "limited" else sim.client_id,
        "client_secret": "wrong-secret" if credentials == "bad" else sim.client_secret,
        "webhook_secret": sim.webhook_secret,
    }
    if user_context:
        config["refresh_token"] = sim.refresh_token
    return config


class TestNinjaOneConformance(ConnectorConformance):
    connector_cls = NinjaOneConnector

    def make_simulator(self) -> Simulator:
        return NinjaOneSimulator("demo")

    def config(self, sim: Simulator, base_url: str, credentials: Credentials) -> dict[str, Any]:
        assert isinstance(sim, NinjaOneSimulator)
        return ninja_config(sim, base_url, credentials)

    def script_target(self, sim: Simulator) -> tuple[str, str, dict[str, str]]:
        assert isinstance(sim, NinjaOneSimulator)
        script = next(s for s in sim.scripts if s["_succeeds"] and s["type"] == "SCRIPT")
        return str(next(iter(sim.devices))), str(script["id"]), {"Drive": "C:"}

    async def genuine_delivery(
        self, connector: Connector, admin: SimulatorAdmin
    ) -> tuple[str, str, dict[str, str], bytes]:
        device = (await connector.list_devices())[0]  # type: ignore[attr-defined]
        headers, body = await admin.webhook_sample(device.external_id, "triggered")
        return "device", device.external_id, headers, body

    def forgeries(self, headers: dict[str, str], body: bytes) -> list[tuple[str, dict[str, str], bytes]]:
        wrong = {**headers, WEBHOOK_HEADER: "guessed-secret"}
        missing = {k: v for k, v in headers.items() if k != WEBHOOK_HEADER}
        return [("wrong secret", wrong, body), ("no secret", missing, body)]


@pytest.fixture(scope="module")
def ninja() -> Iterator[tuple[NinjaOneSimulator, str]]:
    sim = NinjaOneSimulator("demo")
    with ServedApp(sim.app()) as app:
        yield sim, app.url


async def test_client_credentials_cannot_run_scripts(
    ninja: tuple[NinjaOneSimulator, str],
) -> None:
    sim, url = ninja
    async with NinjaOneConnector(ninja_config(sim, url, user_context=False)) as conn:
        assert (await conn.test_connection()).ok
        with pytest.raises(MissingPermission, match="client-credentials"):
            await conn.run_script(str(next(iter(sim.devices))), "10", {})


async def test_failed_script_reports_failure_and_exit_code(
    ninja: tuple[NinjaOneSimulator, str],
) -> None:
    sim, url = ninja
    async with NinjaOneConnector(ninja_config(sim, url)) as conn:
        device = str(next(iter(sim.devices)))
        job = await conn.run_script(device, "Repair WMI", {})
        done = await wait_for_script(conn, job, within_seconds=5, poll_interval=0.1)
        assert done.status == "failed" and done.exit_code == 1
        job = await conn.run_script(device, "Repair WMI", {})
        late = await wait_for_script(conn, job, within_seconds=0.05, poll_interval=0.01)
        assert late.status == "timed_out"


async def test_registered_webhook_delivers_with_secret_header(
    ninja: tuple[NinjaOneSimulator, str],
) -> None:
    sim, url = ninja
    with WebhookReceiver() as receiver:
        async with NinjaOneConnector(ninja_config(sim, url)) as conn:
            await conn.register_webhook(f"{receiver.url}/hooks/n1/path", sim.webhook_secret)
            alert = (await conn.list_alerts(None))[0]
            await conn.resolve_alert(alert.external_id)
            await receiver.wait_for(1)
            _, headers, body = receiver.received[0]
            [event] = await conn.verify_webhook(headers, body, now=datetime.now(UTC), replay=MemoryReplayGuard())
            assert event.external_id == alert.device_external_id
            assert event.action == "condition/reset"
    sim.webhook = None


async def test_oauth_tokens_are_not_logged(
    ninja: tuple[NinjaOneSimulator, str], caplog: pytest.LogCaptureFixture
) -> None:
    sim, url = ninja
    caplog.set_level(logging.DEBUG, logger="mspclaw.connectors.http")
    async with NinjaOneConnector(ninja_config(sim, url)) as conn:
        await conn.list_devices()
        token = conn.oauth._token
    assert token and token not in caplog.text
    assert sim.client_secret not in caplog.text and sim.refresh_token not in caplog.text
