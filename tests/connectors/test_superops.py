"""SuperOps: the conformance kit against its simulator, plus SuperOps-specific behaviour."""

from __future__ import annotations

from typing import Any

from mspclaw.connectors.simulator import Simulator
from mspclaw.connectors.superops.adapter import SuperOpsConnector
from mspclaw.connectors.superops.simulator import SuperOpsSimulator
from mspclaw.connectors.testing import ConnectorConformance, Credentials


class TestSuperOpsConformance(ConnectorConformance):
    connector_cls = SuperOpsConnector

    def make_simulator(self) -> Simulator:
        return SuperOpsSimulator("demo", tickets=150)

    def config(self, sim: Simulator, base_url: str, credentials: Credentials) -> dict[str, Any]:
        assert isinstance(sim, SuperOpsSimulator)
        token = {"good": sim.api_token, "bad": "not-a-real-token", "limited": sim.limited_token}[credentials]
        return {"api_url": f"{base_url}/msp", "subdomain": sim.subdomain, "api_token": token}

    def script_target(self, sim: Simulator) -> tuple[str, str, dict[str, str]]:
        assert isinstance(sim, SuperOpsSimulator)
        script = next(s for s in sim.scripts.values() if s["_succeeds"])
        return next(iter(sim.assets)), script["scriptId"], {"Drive": "C:"}


# --- SuperOps specifics (wire shape the kit does not know about) ---------------------

import httpx  # noqa: E402
import pytest  # noqa: E402

from mspclaw.connectors.base import iter_ticket_pages  # noqa: E402
from mspclaw.connectors.errors import VendorError  # noqa: E402
from mspclaw.connectors.http import RetryPolicy  # noqa: E402
from mspclaw.connectors.models import TicketCreate  # noqa: E402
from mspclaw.connectors.simulator import ServedApp  # noqa: E402


@pytest.fixture(scope="module")
def superops() -> Any:
    sim = SuperOpsSimulator("demo", tickets=230, faults="limit=0")
    with ServedApp(sim.app()) as app:
        yield sim, app.url


def gql(
    url: str,
    sim: SuperOpsSimulator,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> httpx.Response:
    return httpx.post(
        f"{url}/msp",
        json={"query": query, "variables": variables or {}},
        headers={
            "Authorization": f"Bearer {token or sim.api_token}",
            "CustomerSubDomain": sim.subdomain,
        },
    )


def test_business_errors_are_http_200_with_client_error(superops: Any) -> None:
    sim, url = superops
    response = gql(url, sim, '{ getTicket(input: {ticketId: "1"}) { ticketId } }')
    assert response.status_code == 200
    error = response.json()["errors"][0]["extensions"]["clientError"][0]
    assert error["code"] == "entity_does_not_exist"


def test_auth_failures_use_real_http_codes(superops: Any) -> None:
    sim, url = superops
    assert gql(url, sim, "{ getStatusList { name } }", token="nope").status_code == 401
    no_subdomain = httpx.post(
        f"{url}/msp",
        json={"query": "{ getStatusList { name } }"},
        headers={"Authorization": f"Bearer {sim.api_token}"},
    )
    assert no_subdomain.status_code == 400


def test_page_size_capped_at_100_and_pages_start_at_1(superops: Any) -> None:
    sim, url = superops
    body = gql(
        url,
        sim,
        "query($i: ListInfoInput!){ getTicketList(input: $i)"
        "{ tickets { ticketId } listInfo { page pageSize hasMore totalCount } } }",
        {"i": {"page": 3, "pageSize": 500}},
    ).json()["data"]["getTicketList"]
    assert body["listInfo"] == {"page": 3, "pageSize": 100, "hasMore": False, "totalCount": 230}
    assert len(body["tickets"]) == 30


def test_vendor_rate_limit_answers_rate_limit_exceeded() -> None:
    sim = SuperOpsSimulator("demo", tickets=5, faults="limit=3")
    with ServedApp(sim.app()) as app:
        codes = [gql(app.url, sim, "{ getStatusList { name } }").json() for _ in range(4)]
    assert "errors" not in codes[2]
    assert codes[3]["errors"][0]["extensions"]["clientError"][0]["code"] == "rate_limit_exceeded"


async def test_unknown_status_is_reported_and_vendor_rejects_unknown_writes(superops: Any) -> None:
    sim, url = superops
    async with SuperOpsConnector(
        {"api_url": f"{url}/msp", "subdomain": sim.subdomain, "api_token": sim.api_token}
    ) as conn:
        async for _ in iter_ticket_pages(conn, None):
            pass
        unmapped = {(u.field, u.value) for u in conn.mappings.unmapped.as_list()}
        assert ("status", "Scheduled") in unmapped  # a custom status the defaults lack
        conn.mappings.status["Escalated"] = "open"
        conn.mappings.status_write["open"] = "Escalated"
        with pytest.raises(VendorError, match="status 'Escalated' does not exist"):
            await conn.create_ticket(
                TicketCreate(subject="x", status="open", client_external_id=next(iter(sim.clients)))
            )


async def test_create_is_not_retried_on_server_error(superops: Any) -> None:
    sim, url = superops
    async with SuperOpsConnector(
        {"api_url": f"{url}/msp", "subdomain": sim.subdomain, "api_token": sim.api_token},
        retry=RetryPolicy(base_delay=0.01),
    ) as conn:
        before = len(sim.tickets)
        sim.faults.plan.server_error = 1
        with pytest.raises(VendorError):
            await conn.create_ticket(TicketCreate(subject="once only", client_external_id=next(iter(sim.clients))))
        assert len(sim.tickets) == before
