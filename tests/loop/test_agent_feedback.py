"""Resolution feedback from the agent prompt, with a real ``mspclaw-agent`` process.

The app runs on uvicorn with the agent gateway as its endpoint backend; the agent is enrolled for
the client and runs the low-disk-space playbook's steps on this machine. After the note is written
back, the loop asks the person at the device "Did this fix your problem?" through the agent's
Question/Answer prompt. Nobody there (no terminal, no display): nothing is recorded and the
ticket stays resolved. The person answers "no" (the agent's documented answer file stands in for
the person): the answer is recorded as the agent's, and the ticket is reopened and escalated
exactly as a "no" from the signed link.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mspclaw_agent.prompt import EndUserPrompter
from mspclaw_agent.protocol import Answer, ApprovalRequest, Question

from mspclaw.config import Settings
from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.database.core import Database
from mspclaw.loop.agent_feedback import QUESTION_KEY, parse_answer
from mspclaw.sync.runtime import SyncRuntime
from tests.agents.test_agents import _agent as enroll_agent
from tests.agents.test_agents import _device_id as stored_device_id
from tests.agents.test_agents import _start_agent as start_agent
from tests.agents.test_agents import _wait_presence as wait_presence
from tests.agents.test_agents import serve
from tests.conftest import TenantFixture
from tests.loop.helpers import AUTO_POLICY, DISK, LoopSetup, Receiver, create_ticket, drive
from tests.sync.conftest import add_connection, sim_settings


@contextlib.asynccontextmanager
async def _loop_with_agent(
    http: httpx.AsyncClient,
    url: str,
    rt: SyncRuntime,
    tenant: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    state: Path,
) -> AsyncIterator[tuple[LoopSetup, str]]:
    """A client that auto-runs, an enrolled real agent (online) as its only device, the PSA linked."""
    sim, sim_url = psa
    h = tenant.headers
    client = (await http.post("/api/v1/clients", headers=h, json={"name": "Contoso", "policy": AUTO_POLICY})).json()
    token = (await http.post("/api/v1/agents/tokens", headers=h, json={"client_id": client["id"]})).json()["token"]
    code, out = await enroll_agent("enroll", "--server", url, "--token", token, state=state)
    assert code == 0, out
    device_id = stored_device_id(state)
    agent = await start_agent(state)
    try:
        await wait_presence(http, device_id, h, "online")
        connection = await add_connection(rt, tenant.id, "connectwise", sim_settings(sim, sim_url, "connectwise"))
        company = str(next(iter(sim.companies)))
        linked = await http.post(
            f"/api/v1/connections/{connection.id}/client-links",
            headers=h,
            json={"vendor_external_id": company, "client_id": client["id"]},
        )
        assert linked.status_code in (200, 201), linked.text
        yield LoopSetup(str(connection.id), client["id"], company), device_id
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(agent.pid, signal.SIGTERM)
        await agent.wait()


def prepare(path: Path, answers: dict[str, str]) -> None:
    """What the person at the device will answer, by question key or "*" (the agent reads it each time)."""
    path.write_text(json.dumps(answers))


@pytest.fixture
def answers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The agent runs headless (no terminal, no display) with an answer file (absent at first)."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    path = tmp_path / "answers.json"
    monkeypatch.setenv("MSPCLAW_AGENT_ANSWER_FILE", str(path))
    return path


async def _resolved_on_the_device(
    http: httpx.AsyncClient, rt: SyncRuntime, setup: LoopSetup, sim: ConnectWiseSimulator, h: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """A low-disk ticket the loop resolves on the agent's device; (vendor ticket id, run)."""
    seen = {r["id"] for r in (await http.get("/api/v1/runs", headers=h)).json()["items"]}
    external_id = create_ticket(sim, setup, DISK)
    await drive(rt, setup.connection_id, rounds=3)
    [run] = [r for r in (await http.get("/api/v1/runs", headers=h)).json()["items"] if r["id"] not in seen]
    detail = (await http.get(f"/api/v1/runs/{run['id']}", headers=h)).json()
    assert detail["status"] == "succeeded", detail
    assert any(s["backend"] == "endpoint" and s["status"] == "succeeded" for s in detail["steps"])
    return external_id, detail


async def test_the_person_at_the_device_is_asked_and_a_no_reopens(
    rt: SyncRuntime,
    db: Database,
    settings: Settings,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    receiver: Receiver,
    answers: Path,
    tmp_path: Path,
) -> None:
    sim, _ = psa
    h = tenant_a.headers
    gateway_settings = settings.model_copy(update={"endpoint_backend": "gateway"})
    async with (
        serve(gateway_settings, db) as (url, _app),
        httpx.AsyncClient(base_url=url) as http,
        _loop_with_agent(http, url, rt, tenant_a, psa, tmp_path / "agent") as (setup, device_id),
    ):
        await http.post(
            "/api/v1/loop/notify-targets", headers=h, json={"name": "desk", "url": f"json://{receiver.hostport}/desk"}
        )
        # 1. nobody at the device: the note is written, nothing is recorded, the ticket stays resolved
        first_ticket, first = await _resolved_on_the_device(http, rt, setup, sim, h)
        assert first["device_id"] == device_id
        assert (await http.get(f"/api/v1/runs/{first['id']}/feedback", headers=h)).json() == []
        actions = (await http.get("/api/v1/loop/actions", headers=h)).json()
        [written] = [a for a in actions if a["kind"] == "written_back" and a["run_id"] == first["id"]]
        assert written["detail"]["agent_question"] is True
        assert not any(a["kind"] in ("feedback", "reopened") for a in actions)
        assert any("MSPclaw resolved this" in str(n.get("text")) for n in sim.admin_notes(first_ticket))
        assert sim.admin_ticket(first_ticket)["status"]["name"] == "Completed"

        # 2. the person answers "no": recorded from the agent, reopened and escalated like the link's "no"
        prepare(answers, {QUESTION_KEY: "No"})
        second_ticket, second = await _resolved_on_the_device(http, rt, setup, sim, h)
        stored = (await http.get(f"/api/v1/runs/{second['id']}/feedback", headers=h)).json()
        assert [(f["answer"], f["source"]) for f in stored] == [("no", "agent")]
        actions = (await http.get("/api/v1/loop/actions", headers=h)).json()
        mine = [a["kind"] for a in actions if a["run_id"] == second["id"]]
        assert sorted(mine) == ["feedback", "reopened", "started", "written_back"], mine
        texts = [str(n.get("text")) for n in sim.admin_notes(second_ticket)]
        resolved_at = next(i for i, t in enumerate(texts) if "MSPclaw resolved this" in t)
        reopened_at = next(i for i, t in enumerate(texts) if "NOT fixed" in t)
        assert resolved_at < reopened_at  # the note was written before anyone was asked
        assert sim.admin_ticket(second_ticket)["status"]["name"] == "Assigned"  # the connection's "open"
        assert sim.admin_ticket(first_ticket)["status"]["name"] == "Completed"
        [told] = receiver.at("desk")
        assert "not fixed" in told.body["message"]
        events = (await http.get("/api/v1/audit/events?limit=500", headers=h)).json()["items"]
        [recorded] = [e for e in events if e["action"] == "loop.feedback_recorded"]
        assert recorded["actor_type"] == "agent" and recorded["actor_id"] == device_id


async def test_a_yes_from_the_device_is_recorded_and_the_ticket_stays_resolved(
    rt: SyncRuntime,
    db: Database,
    settings: Settings,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    answers: Path,
    tmp_path: Path,
) -> None:
    sim, _ = psa
    h = tenant_a.headers
    prepare(answers, {"*": "yes"})
    gateway_settings = settings.model_copy(update={"endpoint_backend": "gateway"})
    async with (
        serve(gateway_settings, db) as (url, _app),
        httpx.AsyncClient(base_url=url) as http,
        _loop_with_agent(http, url, rt, tenant_a, psa, tmp_path / "agent") as (setup, _device),
    ):
        external_id, run = await _resolved_on_the_device(http, rt, setup, sim, h)
        stored = (await http.get(f"/api/v1/runs/{run['id']}/feedback", headers=h)).json()
        assert [(f["answer"], f["source"]) for f in stored] == [("yes", "agent")]
        kinds = sorted(a["kind"] for a in (await http.get("/api/v1/loop/actions", headers=h)).json())
        assert kinds == ["feedback", "started", "written_back"], kinds
        assert sim.admin_ticket(external_id)["status"]["name"] == "Completed"
        assert not any("NOT fixed" in str(n.get("text")) for n in sim.admin_notes(external_id))


def test_what_counts_as_an_answer() -> None:
    def said(text: str | None, status: str = "answered") -> str | None:
        return parse_answer(Answer(question_id="q", status=status, answer=text))  # type: ignore[arg-type]

    assert [said("Yes"), said(" no. "), said("Partly"), said("partial!")] == ["yes", "no", "partial", "partial"]
    assert said("maybe") is None and said("") is None and said(None, "unavailable") is None
    assert said("yes", "timeout") is None


async def test_the_answer_file_answers_questions_but_never_consent(answers: Path) -> None:
    prompter = EndUserPrompter(interactive=False)
    prepare(answers, {"*": "yes"})
    question = Question(question_id="q1", prompt="Did this fix your problem?", key=QUESTION_KEY, choices=["yes"])
    assert (await prompter.ask(question)).answer == "yes"
    consent = await prompter.approve(ApprovalRequest(request_id="r1", title="Reset?", message="ok?", timeout=1))
    assert consent.status == "unavailable"  # headless: nobody there, and the file is never asked
