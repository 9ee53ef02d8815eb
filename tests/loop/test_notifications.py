"""Escalations reach people through apprise: a real loopback HTTP receiver gets the summary
(json:// with credentials in the URL, as Slack/Teams/SMS gateways have tokens), the URL lives only
in the vault, every delivery is recorded as sent or failed with a reason, and no secret leaks."""

from __future__ import annotations

import logging

import httpx
import pytest

from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.sync.runtime import SyncRuntime
from tests.conftest import TenantFixture
from tests.loop.helpers import AUTO_POLICY, PRINTER, Receiver, create_ticket, drive, loop_actions, setup_loop

HOOK_TOKEN = "s3cr3t-hook-token-7f2a"


async def _target(http: httpx.AsyncClient, tenant: TenantFixture, **body: object) -> httpx.Response:
    return await http.post("/api/v1/loop/notify-targets", headers=tenant.headers, json=body)


async def test_a_failed_run_escalates_to_the_channel_and_the_routed_technician(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    endpoint_runtime: None,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sim, url = psa
    host = receiver.hostport
    channel = await _target(http, tenant_a, name="ops-channel", url=f"json://bot:{HOOK_TOKEN}@{host}/channel")
    assert channel.status_code == 201, channel.text
    assert HOOK_TOKEN not in channel.text
    # the only technician is the owner, so escalations are routed to them
    mine = await _target(
        http, tenant_a, name="owner-sms", url=f"json://{host}/owner", technician_email=tenant_a.owner_email.upper()
    )
    other = await _target(http, tenant_a, name="someone-else", url=f"json://{host}/other", technician_email="x@y.z")
    assert mine.status_code == other.status_code == 201
    broken = await _target(http, tenant_a, name="broken", url="json://127.0.0.1:9/nowhere")  # nothing listens
    assert broken.status_code == 201

    setup = await setup_loop(http, tenant_a, rt, sim, url, AUTO_POLICY)
    external_id = create_ticket(sim, setup, PRINTER)
    await drive(rt, setup.connection_id)

    escalated = [a for a in await loop_actions(http, tenant_a) if a["kind"] == "escalated"]
    # this host has no CUPS, so the printer playbook fails and the loop escalates
    assert len(escalated) == 1, await loop_actions(http, tenant_a)
    assert any("could not finish" in str(n) for n in sim.admin_notes(external_id))

    [to_channel] = receiver.at("channel")
    [to_owner] = receiver.at("owner")
    assert receiver.at("other") == []
    assert to_channel.headers["authorization"].startswith("Basic ")  # the vault's URL, credentials and all
    message = to_channel.body
    assert message["title"].startswith("MSPclaw escalation: #")
    assert PRINTER[:40] in message["title"]
    assert "Contoso" in message["message"]
    assert "Playbook: printer-queue" in message["message"]
    assert "Why: " in message["message"]
    assert f"Routed to: {tenant_a.owner_email}" in message["message"]
    assert to_owner.body == message

    deliveries = (await http.get("/api/v1/loop/notifications", headers=tenant_a.headers)).json()
    by_target = {d["target_name"]: d for d in deliveries}
    assert set(by_target) == {"ops-channel", "owner-sms", "broken"}
    assert by_target["ops-channel"]["status"] == "sent" and by_target["ops-channel"]["error"] is None
    assert by_target["broken"]["status"] == "failed"
    assert "did not accept" in by_target["broken"]["error"]
    assert "127.0.0.1:9" not in by_target["broken"]["error"]
    assert {d["event"] for d in deliveries} == {"escalation"}
    assert all(d["ticket_id"] == escalated[0]["ticket_id"] for d in deliveries)

    events = (await http.get("/api/v1/audit/events?limit=500", headers=tenant_a.headers)).json()["items"]
    actions = [e["action"] for e in events]
    assert actions.count("loop.notification_sent") == 2 and actions.count("loop.notification_failed") == 1
    listed = await http.get("/api/v1/loop/notify-targets", headers=tenant_a.headers)
    assert [t["scheme"] for t in listed.json()] == ["json"] * 4
    for text in (listed.text, str(deliveries), str(events), str(await loop_actions(http, tenant_a)), caplog.text):
        assert HOOK_TOKEN not in text
    assert HOOK_TOKEN not in str(message)


async def test_targets_are_validated_replaced_tested_and_deleted(
    http: httpx.AsyncClient, tenant_a: TenantFixture, receiver: Receiver
) -> None:
    bad = await _target(http, tenant_a, name="bad", url=f"notascheme://{HOOK_TOKEN}")
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input"
    assert HOOK_TOKEN not in bad.text
    created = (await _target(http, tenant_a, name="ops", url=f"json://{receiver.hostport}/first")).json()
    replaced = await _target(
        http, tenant_a, name="ops", url=f"json://{receiver.hostport}/second", events=["sla_warning"]
    )
    assert replaced.status_code == 200 and replaced.json()["id"] == created["id"]
    assert replaced.json()["events"] == ["sla_warning"]

    tested = (await http.post(f"/api/v1/loop/notify-targets/{created['id']}/test", headers=tenant_a.headers)).json()
    assert tested["status"] == "sent" and tested["event"] == "test"
    assert [r.path for r in receiver.received] == ["second"]

    secrets = (await http.get("/api/v1/secrets", headers=tenant_a.headers)).json()
    assert "loop-notify:ops" in str(secrets)
    gone = await http.delete(f"/api/v1/loop/notify-targets/{created['id']}", headers=tenant_a.headers)
    assert gone.status_code == 200
    assert (await http.get("/api/v1/loop/notify-targets", headers=tenant_a.headers)).json() == []
    assert "loop-notify:ops" not in str((await http.get("/api/v1/secrets", headers=tenant_a.headers)).json())
    again = await http.delete(f"/api/v1/loop/notify-targets/{created['id']}", headers=tenant_a.headers)
    assert again.status_code == 404 and again.json()["error"] == "not_found"


async def test_nothing_safe_to_do_notifies_targets_that_asked_for_unmatched(
    rt: SyncRuntime,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    receiver: Receiver,
) -> None:
    sim, url = psa
    await _target(http, tenant_a, name="triage-desk", url=f"json://{receiver.hostport}/desk", events=["unmatched"])
    await _target(http, tenant_a, name="escalations-only", url=f"json://{receiver.hostport}/esc")
    setup = await setup_loop(http, tenant_a, rt, sim, url, AUTO_POLICY)
    create_ticket(sim, setup, "Question about the invoice for our contract renewal")
    await drive(rt, setup.connection_id, rounds=2)
    actions = await loop_actions(http, tenant_a)
    assert [a["kind"] for a in actions] == ["skipped"], [(a["playbook_id"], a["reason"]) for a in actions]
    [message] = receiver.at("desk")
    assert "No playbook could handle it safely." in message.body["message"]
    assert receiver.at("esc") == []
