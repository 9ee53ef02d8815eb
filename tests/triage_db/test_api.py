"""The triage API end to end: ad-hoc triage, a ticket's stored triage, technician labels,
tenant intents and retraining a tenant model that is then used (and only by that tenant)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.triage import tenant_models
from mspclaw.triage.models import TriageRecord
from tests.conftest import TenantFixture
from tests.triage_db.conftest import add_connection, note, run_jobs, store_tickets, ticket

COFFEE = [
    ("Coffee machine broken", "The coffee machine in the kitchen is leaking water all over the floor"),
    ("Kitchen coffee maker", "coffee maker shows descale error and will not brew"),
    ("coffee", "The bean-to-cup machine on floor 3 is out of order again"),
    ("Coffee machine", "Coffee machine displays error 42 and no coffee comes out"),
    ("Broken coffee machine", "kitchen coffee machine grinder makes a loud noise and stops"),
    ("Coffee machine leaking", "water leaking from the coffee machine drip tray in the kitchen"),
]
PRINTER = [
    ("Printer jam", "The printer on floor 2 keeps jamming paper"),
    ("Cannot print", "My print jobs are stuck in the queue on the HP printer"),
    ("printer offline", "The accounts printer shows offline on every laptop"),
    ("Toner", "Printer says toner low and prints are faded"),
    ("Scanner", "Scan to email on the copier stopped working"),
    ("Printing", "Printer prints blank pages since this morning"),
]


async def test_adhoc_triage_answers_intent_urgency_and_similar_tickets(
    http: httpx.AsyncClient, db: Database, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    conn = await add_connection(db, tenant_a.id)
    ids = await store_tickets(
        db,
        tenant_a.id,
        conn,
        [ticket("v1", "VPN not connecting", "GlobalProtect VPN fails to connect from home", status="resolved")],
        notes=[note("v1", "vn1", "Re-imported the GlobalProtect portal config")],
    )
    await http.get(f"/api/v1/tickets/{ids['v1']}/triage", headers=tenant_a.headers)  # embeds it

    body = {"subject": "URGENT VPN down", "body": "Nobody can connect to the VPN, the whole office can't work"}
    answer = (await http.post("/api/v1/triage", headers=tenant_a.headers, json=body)).json()
    assert answer["intent"] == "vpn" and answer["model_source"] == "shipped"
    assert answer["candidates"][0]["intent"] == "vpn" and answer["urgency"] >= 50
    assert answer["urgency_factors"] and answer["priority"] in {"high", "critical"}
    assert answer["similar"][0]["ticket_id"] == str(ids["v1"])
    assert answer["similar"][0]["resolution"] == "Re-imported the GlobalProtect portal config"

    # Tenant B gets the same intent but none of A's tickets.
    answer_b = (await http.post("/api/v1/triage", headers=tenant_b.headers, json=body)).json()
    assert answer_b["intent"] == "vpn" and answer_b["similar"] == []

    client_b = (await http.post("/api/v1/clients", headers=tenant_b.headers, json={"name": "B co"})).json()
    response = await http.post("/api/v1/triage", headers=tenant_a.headers, json={**body, "client_id": client_b["id"]})
    assert response.status_code == 404
    gone = await http.get(f"/api/v1/tickets/{ids['v1']}/triage", headers=tenant_b.headers)
    assert gone.status_code == 404

    client_a = await http.post(
        "/api/v1/clients", headers=tenant_a.headers, json={"name": "A co", "policy": {"sla_tier": "gold"}}
    )
    with_client = await http.post(
        "/api/v1/triage", headers=tenant_a.headers, json={**body, "client_id": client_a.json()["id"]}
    )
    assert with_client.json()["context"]["client_name"] == "A co"
    assert "SLA tier: gold" in with_client.json()["context"]["policy_summary"]
    assert any("sla" in f["name"] for f in with_client.json()["urgency_factors"])

    unsure = (
        await http.post("/api/v1/triage", headers=tenant_a.headers, json={"subject": "see attached", "body": "?"})
    ).json()
    assert unsure["intent"] == "unsure" and len(unsure["candidates"]) >= 2


async def test_a_tenant_threshold_turns_low_confidence_answers_into_unsure(
    http: httpx.AsyncClient, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    body = {"subject": "VPN", "body": "cannot connect to the vpn from home"}
    confident = (await http.post("/api/v1/triage", headers=tenant_a.headers, json=body)).json()
    assert confident["intent"] == "vpn" and confident["confidence"] < 0.999
    default = (await http.get("/api/v1/triage/settings", headers=tenant_a.headers)).json()
    assert default["threshold"] is None and 0 < default["effective_threshold"] < 1

    strict = await http.put("/api/v1/triage/settings", headers=tenant_a.headers, json={"threshold": 0.999})
    assert strict.json() == {"threshold": 0.999, "effective_threshold": 0.999}
    answer = (await http.post("/api/v1/triage", headers=tenant_a.headers, json=body)).json()
    assert answer["intent"] == "unsure" and answer["candidates"][0]["intent"] == "vpn"
    # Tenant B keeps the model's threshold.
    assert (await http.get("/api/v1/triage/settings", headers=tenant_b.headers)).json() == default
    assert (await http.post("/api/v1/triage", headers=tenant_b.headers, json=body)).json()["intent"] == "vpn"

    bad = await http.put("/api/v1/triage/settings", headers=tenant_a.headers, json={"threshold": 1.5})
    assert bad.status_code == 422
    cleared = await http.put("/api/v1/triage/settings", headers=tenant_a.headers, json={"threshold": None})
    assert cleared.json() == default


async def test_labels_retrain_a_tenant_model_that_only_that_tenant_uses(
    http: httpx.AsyncClient,
    db: Database,
    rt: SyncRuntime,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A small seed slice keeps the test fast; the architecture and the data flow are the real ones.
    monkeypatch.setattr(tenant_models, "SEED_PER_INTENT", 6)
    h = tenant_a.headers
    conn = await add_connection(db, tenant_a.id)
    items = [ticket(f"c{i}", s, b, hours=i) for i, (s, b) in enumerate(COFFEE)]
    items += [ticket(f"p{i}", s, b, hours=i) for i, (s, b) in enumerate(PRINTER)]
    ids = await store_tickets(db, tenant_a.id, conn, items)

    shipped = (await http.get(f"/api/v1/tickets/{ids['c0']}/triage", headers=h)).json()
    assert shipped["model_source"] == "shipped" and shipped["confirmed_intent"] is None

    # A label must be a known intent; the tenant adds its own first.
    bad = await http.post(f"/api/v1/tickets/{ids['c0']}/intent", headers=h, json={"intent": "coffee"})
    assert bad.status_code == 422
    added = await http.post("/api/v1/triage/intents", headers=h, json={"id": "coffee", "label": "Coffee machine"})
    assert added.status_code == 201
    intents = {i["id"]: i for i in (await http.get("/api/v1/triage/intents", headers=h)).json()}
    assert intents["coffee"]["builtin"] is False and intents["printer"]["builtin"] is True
    dup = await http.post("/api/v1/triage/intents", headers=h, json={"id": "printer", "label": "x"})
    assert dup.status_code == 422

    # Not enough labels yet: nothing queued, the shipped model stays.
    not_yet = (await http.post("/api/v1/triage/retrain", headers=h)).json()
    assert not_yet["queued"] is False and not_yet["ready"] is False

    for ext, intent in [*((f"c{i}", "coffee") for i in range(6)), *((f"p{i}", "printer") for i in range(6))]:
        label = await http.post(f"/api/v1/tickets/{ids[ext]}/intent", headers=h, json={"intent": intent})
        assert label.status_code == 200, label.text
    assert label.json()["intent"] == "printer" and label.json()["labelled_by"].startswith("api_key")
    confirmed = (await http.get(f"/api/v1/tickets/{ids['c0']}/triage", headers=h)).json()
    assert confirmed["confirmed_intent"] == "coffee"
    # B cannot label A's ticket, nor use A's intent.
    probe = await http.post(f"/api/v1/tickets/{ids['c0']}/intent", headers=tenant_b.headers, json={"intent": "other"})
    assert probe.status_code == 404

    queued = (await http.post("/api/v1/triage/retrain", headers=h)).json()
    assert queued["queued"] is True and queued["label_counts"] == {"coffee": 6, "printer": 6}
    assert (await http.get("/api/v1/triage/model", headers=h)).json() is None
    await run_jobs(db)

    model = (await http.get("/api/v1/triage/model", headers=h)).json()
    assert model["examples"] == 12 and model["version"].startswith("tenant-")
    assert model["metrics"]["label_counts"] == {"coffee": 6, "printer": 6}
    assert model["metrics"]["holdout"] == 2 and "holdout_accuracy" in model["metrics"]
    assert (await http.get("/api/v1/triage/model", headers=tenant_b.headers)).json() is None

    text = {"subject": "coffee machine", "body": "the coffee machine is leaking water in the kitchen"}
    after = (await http.post("/api/v1/triage", headers=h, json=text)).json()
    assert after["model_source"] == "tenant" and after["model_version"] == model["version"]
    assert after["intent"] == "coffee"
    other = (await http.post("/api/v1/triage", headers=tenant_b.headers, json=text)).json()
    assert other["model_source"] == "shipped" and other["intent"] != "coffee"
    assert "coffee" not in {c["intent"] for c in other["candidates"]}


async def test_backfill_triages_tickets_synced_before_triage_ran(
    http: httpx.AsyncClient, db: Database, rt: SyncRuntime, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    conn_a = await add_connection(db, tenant_a.id)
    conn_b = await add_connection(db, tenant_b.id)
    ids = await store_tickets(
        db, tenant_a.id, conn_a, [ticket(f"k{i}", "Disk full", f"C: drive on PC-{i} is at 98%") for i in range(3)]
    )
    await store_tickets(db, tenant_b.id, conn_b, [ticket("kb", "Disk full", "C: drive is full")])
    queued = await http.post("/api/v1/triage/backfill", headers=tenant_a.headers)
    assert queued.status_code == 202 and queued.json()["queued"] is True
    again = (await http.post("/api/v1/triage/backfill", headers=tenant_a.headers)).json()
    assert again["queued"] is False  # one waiting backfill per tenant

    # Only the triage queue runs: the ticket events (as if triage had not existed) stay unpublished.
    await run_jobs(db, queues=["triage"])
    async with tenant_session(db.sessions, None) as session:
        stored = (await session.execute(select(TriageRecord.ticket_id, TriageRecord.tenant_id))).all()
    # Triaged by the backfill job (not by the reads below); B's ticket untouched by A's backfill.
    assert sorted(stored) == sorted((ticket_id, tenant_a.id) for ticket_id in ids.values())
    for ticket_id in ids.values():
        answer = (await http.get(f"/api/v1/tickets/{ticket_id}/triage", headers=tenant_a.headers)).json()
        assert answer["intent"] == "disk_space" and answer["history"] == 1


def test_a_tenant_model_needs_enough_labels_of_at_least_two_intents() -> None:
    five_printer = [(f"printer jam {i}", "printer") for i in range(5)]
    with pytest.raises(tenant_models.NotEnoughLabels) as raised:
        tenant_models.train_tenant_model(
            [*five_printer, *((f"vpn down {i}", "vpn") for i in range(4))], tenant_id=uuid.uuid4(), seed_per_intent=0
        )
    assert raised.value.detail == {"label_counts": {"printer": 5, "vpn": 4}}
    assert not tenant_models.ready({"printer": 5, "vpn": 4}) and tenant_models.ready({"printer": 5, "vpn": 5})
