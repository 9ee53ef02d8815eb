"""ConnectWise PSA: the conformance kit against its simulator, plus CW specifics."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from mspclaw.connectors.base import MemoryReplayGuard
from mspclaw.connectors.connectwise.adapter import ConnectWiseConnector
from mspclaw.connectors.connectwise.simulator import API, ConnectWiseSimulator
from mspclaw.connectors.errors import ConfigInvalid, WebhookRejected
from mspclaw.connectors.models import TicketCreate
from mspclaw.connectors.simulator import ServedApp, Simulator, WebhookReceiver
from mspclaw.connectors.testing import ConnectorConformance, Credentials, full_sync


def cw_config(sim: ConnectWiseSimulator, base_url: str, credentials: Credentials = "good") -> dict[str, Any]:
    public = sim.limited_public_key if credentials == "limited" else sim.public_key
    private = "wrong-private-key" if credentials == "bad" else sim.private_key
    return {
        "site_url": base_url,
        "company_id": sim.company_id,
        "public_key": public,
        "private_key": private,
        "client_id": sim.client_id,
    }


class TestConnectWiseConformance(ConnectorConformance):
    connector_cls = ConnectWiseConnector

    def make_simulator(self) -> Simulator:
        return ConnectWiseSimulator("demo", tickets=600)

    def config(self, sim: Simulator, base_url: str, credentials: Credentials) -> dict[str, Any]:
        assert isinstance(sim, ConnectWiseSimulator)
        return cw_config(sim, base_url, credentials)


@pytest.fixture(scope="module")
def cw() -> Iterator[tuple[ConnectWiseSimulator, str]]:
    sim = ConnectWiseSimulator("demo", tickets=60)
    with ServedApp(sim.app()) as app:
        yield sim, app.url


def auth(sim: ConnectWiseSimulator) -> dict[str, str]:
    user = f"{sim.company_id}+{sim.public_key}:{sim.private_key}"
    return {
        "Authorization": "Basic " + base64.b64encode(user.encode()).decode(),
        "clientId": sim.client_id,
    }


def test_conditions_paging_and_link_headers(cw: tuple[ConnectWiseSimulator, str]) -> None:
    sim, url = cw
    r = httpx.get(
        f"{url}{API}/service/tickets",
        headers=auth(sim),
        params={
            "conditions": 'board/name="Help Desk" and closedFlag=false',
            "pageSize": 5,
            "page": 2,
        },
    )
    assert r.status_code == 200 and len(r.json()) == 5
    assert all(t["board"]["name"] == "Help Desk" and not t["closedFlag"] for t in r.json())
    assert 'rel="next"' in r.headers["Link"] and 'rel="prev"' in r.headers["Link"]
    bad = httpx.get(f"{url}{API}/service/tickets", headers=auth(sim), params={"conditions": "summary = = 3"})
    assert bad.status_code == 400 and bad.json()["code"] == "InvalidObject"


def test_missing_client_id_is_refused(cw: tuple[ConnectWiseSimulator, str]) -> None:
    sim, url = cw
    headers = auth(sim)
    headers.pop("clientId")
    assert httpx.get(f"{url}{API}/service/tickets", headers=headers).status_code == 401


def test_codebase_discovery(cw: tuple[ConnectWiseSimulator, str]) -> None:
    sim, url = cw
    info = httpx.get(f"{url}/login/companyinfo/{sim.company_id}").json()
    assert info["Codebase"] == "v4_6_release/" and info["IsCloud"] is True


def test_throttle_answers_429_with_retry_after(cw: tuple[ConnectWiseSimulator, str]) -> None:
    sim, url = cw
    sim.faults.plan.rate_limit = 1
    r = httpx.get(f"{url}{API}/service/tickets", headers=auth(sim))
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"


async def test_registered_callback_is_delivered_signed_and_verifies(
    cw: tuple[ConnectWiseSimulator, str],
) -> None:
    sim, url = cw
    with WebhookReceiver() as receiver:
        async with ConnectWiseConnector(cw_config(sim, url)) as conn:
            entry = await conn.register_webhook(f"{receiver.url}/hooks/c1/s3cret", "unused")
            assert entry["type"] == "Ticket" and entry["level"] == "Owner"
            sim.faults.plan.duplicate_webhooks = 1
            ticket = (await full_sync(conn))[0]
            await conn.add_note(ticket.external_id, "triggers a callback", internal=True)
            await receiver.wait_for(2)
            assert len(receiver.received) == 2, sim.deliveries  # the duplicate delivery fault
            received = [(h, b) for _, h, b in receiver.received]
            guard = MemoryReplayGuard()
            events = await conn.verify_webhook(*received[0], now=datetime.now(UTC), replay=guard)
            assert events[0].external_id == ticket.external_id
            with pytest.raises(WebhookRejected) as info:
                await conn.verify_webhook(*received[1], now=datetime.now(UTC), replay=guard)
            assert info.value.reason == "replayed"
            sim.callbacks.clear()


async def test_request_rate_is_a_connection_setting(cw: tuple[ConnectWiseSimulator, str]) -> None:
    sim, url = cw
    spec = ConnectWiseConnector.spec()
    for bad in (0, 0.1, 500, "fast"):
        with pytest.raises(ConfigInvalid) as refused:
            spec.validate_config({**cw_config(sim, url), "requests_per_second": bad})
        assert refused.value.detail == [{"field": "requests_per_second", "problem": refused.value.detail[0]["problem"]}]
    async with ConnectWiseConnector(cw_config(sim, url), connection_id="cw-default") as conn:
        default = conn.client(url)
        assert (default.budget.rate, default.budget.burst) == (10.0, 10)
        await default.aclose()
    # Two requests a second: after the first two, each request waits for the budget.
    slow = {**cw_config(sim, url), "requests_per_second": 2}
    async with ConnectWiseConnector(spec.validate_config(slow), connection_id="cw-slow") as conn:
        started = time.monotonic()
        for _ in range(6):
            await conn.get_ticket(str(next(iter(sim.tickets))))
        assert time.monotonic() - started >= 1.5


async def test_key_url_on_foreign_host_is_rejected(cw: tuple[ConnectWiseSimulator, str]) -> None:
    sim, url = cw
    headers, body = sim.webhook_sample(str(next(iter(sim.tickets))), "updated")
    payload = json.loads(body)
    payload["Metadata"]["key_url"] = "https://attacker.example/key"
    async with ConnectWiseConnector(cw_config(sim, url)) as conn:
        with pytest.raises(WebhookRejected, match="not allowed"):
            await conn.verify_webhook(
                headers,
                json.dumps(payload).encode(),
                now=datetime.now(UTC),
                replay=MemoryReplayGuard(),
            )


async def test_create_with_description_and_board_filter(
    cw: tuple[ConnectWiseSimulator, str],
) -> None:
    sim, url = cw
    async with ConnectWiseConnector(cw_config(sim, url)) as conn:
        conn.mappings.queues = ["Projects"]
        created = await conn.create_ticket(
            TicketCreate(
                subject="New laptop for Maya",
                description="Needs a 14 inch",
                priority="high",
                client_external_id=str(next(iter(sim.companies))),
            )
        )
        assert created.queue == "Projects" and created.raw_priority.startswith("Priority 2")
        assert (await conn.get_ticket(created.external_id)).description == "Needs a 14 inch"
        tickets = await full_sync(conn)
        assert tickets and {t.queue for t in tickets} == {"Projects"}


@pytest.mark.slow  # importing pyconnectwise's generated models alone takes several seconds
def test_third_party_client_pyconnectwise_works_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fidelity bar: pyconnectwise (HTTPS only) against the simulator with a local cert."""
    pyconnectwise = pytest.importorskip("pyconnectwise")
    sim = ConnectWiseSimulator("demo", tickets=30)
    with ServedApp(sim.app(), tls=True) as app:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(app.ca_file))
        client = pyconnectwise.ConnectWiseManageAPIClient(
            sim.company_id,
            f"127.0.0.1:{app.port}",
            sim.client_id,
            sim.public_key,
            sim.private_key,
        )
        assert client.codebase == "v4_6_release/"  # discovered via /login/companyinfo
        tickets = client.service.tickets.get(params={"conditions": 'board/name="Help Desk"', "pageSize": 5})
        assert len(tickets) == 5 and all(t.board.name == "Help Desk" for t in tickets)
        one = client.service.tickets.id(tickets[0].id).get()
        assert one.company.identifier and one.status.name
        note = client.service.tickets.id(one.id).notes.post(
            data={"text": "from pyconnectwise", "internalAnalysisFlag": True}
        )
        assert note.internal_analysis_flag and sim.notes[one.id][-1]["text"] == "from pyconnectwise"
        assert client.service.tickets.count.get().count == 30
        pages = client.service.tickets.paginated(1, 10)
        pages.get_next_page()
        assert len(pages.data) == 10
        assert len(client.company.companies.get()) == len(sim.companies)
