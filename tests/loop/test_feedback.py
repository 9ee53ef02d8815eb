"""Resolution feedback: the public reply carries a signed, expiring link; the end user answers on a
small page (opening it records nothing); "no" reopens the ticket in the PSA and escalates; the
same link cannot record a second, different answer, and it cannot be forged, moved to another
tenant or used after it expires. An agent prompt (any API client with feedback.write) answers too."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from urllib.parse import urljoin

import httpx

from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.database.base import utcnow
from mspclaw.loop import feedback
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.loop.helpers import (
    AUTO_POLICY,
    DISK,
    LoopSetup,
    Receiver,
    create_ticket,
    drive,
    loop_actions,
    runs_of,
    setup_loop,
)

LINK = re.compile(r"https?://\S+(/api/v1/feedback/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


async def _resolved(
    http: httpx.AsyncClient,
    tenant: TenantFixture,
    rt: SyncRuntime,
    sim: ConnectWiseSimulator,
    url: str,
    *,
    public_reply: bool,
) -> tuple[LoopSetup, str, dict[str, object]]:
    setup = await setup_loop(http, tenant, rt, sim, url, AUTO_POLICY)
    put = await http.put(
        f"/api/v1/loop/connections/{setup.connection_id}/settings",
        headers=tenant.headers,
        json={"public_reply": public_reply},
    )
    assert put.status_code == 200 and put.json() == {"public_reply": public_reply, "feedback_link": True}
    external_id = create_ticket(sim, setup, DISK)
    await drive(rt, setup.connection_id, rounds=3)
    [run] = await runs_of(http, tenant)
    assert run["status"] == "succeeded", run
    return setup, external_id, run


async def test_the_public_reply_link_collects_an_answer_and_no_reopens(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
    receiver: Receiver,
) -> None:
    sim, url = psa
    await http.post(
        "/api/v1/loop/notify-targets",
        headers=tenant_a.headers,
        json={"name": "desk", "url": f"json://{receiver.hostport}/desk"},
    )
    _, external_id, run = await _resolved(http, tenant_a, rt, sim, url, public_reply=True)
    notes = sim.admin_notes(external_id)
    [public] = [n for n in notes if not n["internalAnalysisFlag"]]
    assert "What we did:" in public["text"] and "MSPclaw resolved" not in public["text"]  # no evidence for users
    match = LINK.search(public["text"])
    assert match, public["text"]
    path = match.group(1)
    assert sim.admin_ticket(external_id)["status"]["name"] == "Completed"  # resolved by the run

    page = await http.get(path)
    assert page.status_code == 200 and "Is the problem fixed?" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert (await http.get(f"/api/v1/runs/{run['id']}/feedback", headers=tenant_a.headers)).json() == []

    token = path.rsplit("/", 1)[1]
    body, sig = token.split(".")
    forged = f"{body}.{sig[:-2]}{'AA' if not sig.endswith('AA') else 'BB'}"
    assert (await http.post(f"/api/v1/feedback/{forged}", data={"answer": "yes"})).status_code == 410
    ring = rt.keyring()
    other_tenant = feedback.sign_link(ring, tenant_id=tenant_b.id, run_id=uuid.UUID(str(run["id"])))
    moved = await http.post(f"/api/v1/feedback/{other_tenant}", data={"answer": "yes"})
    assert moved.status_code == 410  # B has no such run: a link only works in its own tenant
    expired = feedback.sign_link(
        ring, tenant_id=tenant_a.id, run_id=uuid.UUID(str(run["id"])), now=utcnow() - timedelta(days=30)
    )
    gone = await http.get(f"/api/v1/feedback/{expired}")
    assert gone.status_code == 410 and "expired" in gone.text
    assert (await http.post(path, data={"answer": "maybe"})).status_code == 400

    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    assert action, page.text
    form_target = urljoin(path, action.group(1))  # where the browser posts the buttons
    assert form_target == path
    answered = await http.post(form_target, data={"answer": "no", "comment": "still says disk full"})
    assert answered.status_code == 200 and "open again" in answered.text
    assert (await http.post(path, data={"answer": "no"})).status_code == 200  # the same answer twice: once
    changed = await http.post(path, data={"answer": "yes"})
    assert changed.status_code == 409 and "already answered" in changed.text
    assert "You already answered" in (await http.get(path)).text

    stored = (await http.get(f"/api/v1/runs/{run['id']}/feedback", headers=tenant_a.headers)).json()
    assert [(f["answer"], f["source"], f["comment"]) for f in stored] == [("no", "link", "still says disk full")]
    kinds = [a["kind"] for a in await loop_actions(http, tenant_a)]
    assert kinds.count("feedback") == 1 and kinds.count("reopened") == 1
    internal = [n["text"] for n in sim.admin_notes(external_id) if n["internalAnalysisFlag"]]
    assert any("NOT fixed" in t and "still says disk full" in t for t in internal)
    assert sim.admin_ticket(external_id)["status"]["name"] == "Assigned"  # the connection's "open" status
    [told] = receiver.at("desk")
    assert "not fixed" in told.body["message"] and "still says disk full" in told.body["message"]
    events = (await http.get("/api/v1/audit/events?limit=500", headers=tenant_a.headers)).json()["items"]
    recorded = [e for e in events if e["action"] == "loop.feedback_recorded"]
    assert len(recorded) == 1 and recorded[0]["actor_type"] == "user"


async def test_no_public_reply_no_link_and_the_agent_api_records_answers(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
) -> None:
    sim, url = psa
    _, external_id, run = await _resolved(http, tenant_a, rt, sim, url, public_reply=False)
    assert all(n["internalAnalysisFlag"] for n in sim.admin_notes(external_id) if "MSPclaw" in n["text"])
    assert not any(LINK.search(n["text"]) for n in sim.admin_notes(external_id))

    # the agent's prompt uses a key that can do nothing but record feedback
    key = (
        await http.post(
            "/api/v1/api-keys", headers=tenant_a.headers, json={"name": "agent", "scopes": ["feedback.write"]}
        )
    ).json()["key"]
    agent = {"Authorization": f"Bearer {key}"}
    first = await http.post(f"/api/v1/runs/{run['id']}/feedback", headers=agent, json={"answer": "partial"})
    assert first.status_code == 201, first.text
    again = await http.post(f"/api/v1/runs/{run['id']}/feedback", headers=agent, json={"answer": "partial"})
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    other = await http.post(f"/api/v1/runs/{run['id']}/feedback", headers=agent, json={"answer": "yes"})
    assert other.status_code == 409 and other.json()["error"] == "conflict"
    tech = await http.post(
        f"/api/v1/runs/{run['id']}/feedback", headers=tenant_a.headers, json={"answer": "yes", "source": "technician"}
    )
    assert tech.status_code == 201
    assert (await http.get(f"/api/v1/runs/{run['id']}/feedback", headers=agent)).status_code == 403
    missing = await http.post(f"/api/v1/runs/{uuid.uuid4()}/feedback", headers=agent, json={"answer": "no"})
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad = await http.post(f"/api/v1/runs/{run['id']}/feedback", headers=agent, json={"answer": "sort of"})
    assert bad.status_code == 422
    internal = [n["text"] for n in sim.admin_notes(external_id) if n["internalAnalysisFlag"]]
    assert any("only partly solved" in t for t in internal)
    assert "reopened" not in [a["kind"] for a in await loop_actions(http, tenant_a)]
