"""The executor's behaviour with scripted backends: approvals, four eyes, questions,
rollback in reverse order, cancel, expiry, blocked steps, and one approval per step.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mspclaw.database.core import Database
from mspclaw.errors import PermissionDenied
from mspclaw.playbooks import load_text
from mspclaw.runs import runtime
from mspclaw.tools import BackendRouter
from tests.conftest import TenantFixture
from tests.runs.helpers import (
    OPEN_POLICY,
    RecordingBackend,
    decide,
    expire_now,
    make_client,
    run_worker,
    show,
    start,
)

ONBOARD = {
    "ticket": {
        "subject": "New starter Monday: Alex Kim",
        "new_user_email": "alex.kim@example.com",
        "new_user_name": "Alex Kim",
        "manager_email": "pat.lee@example.com",
    }
}


class Backends:
    def __init__(self) -> None:
        self.identity = RecordingBackend("identity", outputs={"lookup_user": {"enabled": True, "locked": True}})
        self.notification = RecordingBackend("notification")
        self.endpoint = RecordingBackend("endpoint", outputs={"installed_software": {"count": 0, "items": []}})

    def calls(self) -> list[str]:
        merged = self.identity.calls + self.notification.calls + self.endpoint.calls
        return [c.tool for c in sorted(merged, key=lambda c: c.seq)]


@pytest.fixture
def backends(db: Database) -> Iterator[Backends]:
    b = Backends()
    runtime.install(runtime.RunRuntime(db.sessions, BackendRouter(b.identity, b.notification, b.endpoint)))
    yield b


async def test_rollback_runs_undo_tools_in_reverse_order_then_rollback_steps(
    db: Database, tenant_a: TenantFixture, backends: Backends
) -> None:
    backends.identity.failing = {"add_group_member"}
    client_id, _ = await make_client(db, tenant_a.id, OPEN_POLICY)
    run_id = await start(db, tenant_a.id, "onboarding", client_id, context=ONBOARD)
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "awaiting_approval"
    [approval] = run.approvals
    assert (approval.step_id, approval.tool, approval.args["user"]) == (
        "create",
        "create_account",
        "alex.kim@example.com",
    )
    await decide(db, tenant_a.id, approval.id)
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    # the undo of create_account is disable_account: destructive, so the rollback asks too
    assert run.status == "awaiting_approval" and run.phase == "rollback"
    undo_approval = next(a for a in run.approvals if a.status == "pending")
    assert (undo_approval.phase, undo_approval.tool) == ("undo", "disable_account")
    await decide(db, tenant_a.id, undo_approval.id)
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "rolled_back", run.error
    assert "step all_staff failed" in (run.error or "")
    assert backends.calls() == [
        "create_account",
        "assign_license",
        "add_group_member",
        "remove_license",  # undo of the last completed change first
        "disable_account",  # then the undo of the first
        "notify_technician",  # then the playbook's own rollback steps
    ]
    assert [(s.phase, s.step_id, s.status) for s in run.steps][-3:] == [
        ("undo", "license", "succeeded"),
        ("undo", "create", "succeeded"),
        ("rollback", "tell_technician", "succeeded"),
    ]


async def test_four_eyes_refuses_the_requester_and_accepts_another_approver(
    db: Database, tenant_a: TenantFixture, backends: Backends
) -> None:
    client_id, _ = await make_client(db, tenant_a.id, {**OPEN_POLICY, "four_eyes": True})
    run_id = await start(db, tenant_a.id, "onboarding", client_id, context=ONBOARD, who="alice")
    await run_worker(db)
    [approval] = (await show(db, tenant_a.id, run_id)).approvals
    with pytest.raises(PermissionDenied, match="four eyes"):
        await decide(db, tenant_a.id, approval.id, who="alice")
    assert backends.calls() == []
    await decide(db, tenant_a.id, approval.id, who="bob")
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "succeeded", run.error
    create = next(s for s in run.steps if s.step_id == "create")
    assert create.approver == "bob@msp.example"
    assert create.args.get("temporary_password") is None  # sensitive fields never stored


async def test_denied_approval_stops_the_run_without_executing(
    db: Database, tenant_a: TenantFixture, backends: Backends
) -> None:
    client_id, _ = await make_client(db, tenant_a.id, OPEN_POLICY)
    run_id = await start(db, tenant_a.id, "onboarding", client_id, context=ONBOARD)
    await run_worker(db)
    [approval] = (await show(db, tenant_a.id, run_id)).approvals
    await decide(db, tenant_a.id, approval.id, approve=False)
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "failed" and "denied" in (run.error or "")
    assert backends.calls() == []
    assert [(s.step_id, s.status) for s in run.steps] == [("create", "denied")]


async def test_unanswered_approval_expires_to_denied(db: Database, tenant_a: TenantFixture, backends: Backends) -> None:
    client_id, _ = await make_client(db, tenant_a.id, OPEN_POLICY)
    run_id = await start(db, tenant_a.id, "onboarding", client_id, context=ONBOARD)
    await run_worker(db)
    [approval] = (await show(db, tenant_a.id, run_id)).approvals
    assert 299 <= (approval.expires_at - approval.requested_at).total_seconds() <= 301  # default 5 minutes
    await run_worker(db)  # not due yet: nothing changes
    assert (await show(db, tenant_a.id, run_id)).approvals[0].status == "pending"
    await expire_now(db, "approvals", approval.id)
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.approvals[0].status == "expired"
    assert run.status == "failed" and "expired" in (run.error or "")
    assert backends.calls() == []
    with pytest.raises(Exception, match="already expired"):
        await decide(db, tenant_a.id, approval.id)


TWO_APPROVALS = """
id: two-installs
title: Two installs
version: 1.0.0
tools: [install_package]
steps:
  - {id: first, tool: install_package, requires_approval: true, args: {package: vlc}}
  - {id: second, tool: install_package, requires_approval: true, args: {package: htop}}
"""


async def test_an_approval_of_one_step_never_approves_another(
    db: Database, tenant_a: TenantFixture, backends: Backends
) -> None:
    client_id, device_id = await make_client(db, tenant_a.id, OPEN_POLICY)
    run_id = await start(db, tenant_a.id, "two-installs", client_id, device_id, playbook=load_text(TWO_APPROVALS))
    await run_worker(db)
    [first] = (await show(db, tenant_a.id, run_id)).approvals
    await decide(db, tenant_a.id, first.id)
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "awaiting_approval"
    assert backends.endpoint.calls[0].args == {"package": "vlc"}
    assert len(backends.endpoint.calls) == 1
    second = run.approvals[1]
    assert (second.step_id, second.args) == ("second", {"package": "htop"}) and second.status == "pending"
    assert second.args_hash != first.args_hash


async def test_question_is_asked_once_and_the_answer_feeds_the_plan(
    db: Database, tenant_a: TenantFixture, backends: Backends
) -> None:
    from mspclaw.database.session import tenant_session
    from mspclaw.runs import flows
    from tests.runs.helpers import principal

    client_id, device_id = await make_client(db, tenant_a.id, OPEN_POLICY)
    run_id = await start(db, tenant_a.id, "software-install", client_id, device_id)
    await run_worker(db)
    await run_worker(db)  # a second pass must not ask again
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "awaiting_input"
    [question] = run.questions
    assert question.prompt == "Which application do you need?"
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        with pytest.raises(Exception, match="must be one of"):
            await flows.answer_question(session, principal=principal(tenant_a.id), question_id=question.id, answer="rm")
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        await flows.answer_question(session, principal=principal(tenant_a.id), question_id=question.id, answer="vlc")
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "awaiting_approval" and len(run.questions) == 1
    assert backends.endpoint.calls[0].args == {"name_contains": "vlc", "limit": 20}
    await decide(db, tenant_a.id, run.approvals[0].id)
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "succeeded", run.error
    assert [c.tool for c in backends.endpoint.calls] == ["installed_software", "install_package", "installed_software"]
    assert run.note == "Installed vlc from the approved catalog."


async def test_cancel_closes_open_approvals_and_nothing_more_runs(
    db: Database, tenant_a: TenantFixture, backends: Backends
) -> None:
    from mspclaw.database.session import tenant_session
    from mspclaw.runs import flows
    from tests.runs.helpers import principal

    client_id, _ = await make_client(db, tenant_a.id, OPEN_POLICY)
    run_id = await start(db, tenant_a.id, "onboarding", client_id, context=ONBOARD)
    await run_worker(db)
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        await flows.cancel_run(session, principal=principal(tenant_a.id), run_id=run_id)
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "cancelled"
    assert run.approvals[0].status == "denied"
    with pytest.raises(Exception, match="already denied"):
        await decide(db, tenant_a.id, run.approvals[0].id)
    assert backends.calls() == []


async def test_forbidden_tool_and_blast_radius_block_steps(
    db: Database, tenant_a: TenantFixture, backends: Backends
) -> None:
    client_id, _ = await make_client(db, tenant_a.id, {**OPEN_POLICY, "forbidden_tools": ["assign_license"]})
    run_id = await start(db, tenant_a.id, "onboarding", client_id, context=ONBOARD)
    await run_worker(db)
    await decide(db, tenant_a.id, (await show(db, tenant_a.id, run_id)).approvals[0].id)
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    license_step = next(s for s in run.steps if s.step_id == "license")
    assert license_step.status == "blocked" and "forbidden" in (license_step.reason or "")
    assert "assign_license" not in backends.calls()
    # license has on_failure: rollback, so the account that was created is undone (after approval)
    assert run.phase == "rollback"


async def test_requester_without_the_tools_permission_is_blocked(
    db: Database, tenant_a: TenantFixture, backends: Backends
) -> None:
    client_id, device_id = await make_client(db, tenant_a.id, OPEN_POLICY)
    run_id = await start(
        db,
        tenant_a.id,
        "two-installs",
        client_id,
        device_id,
        playbook=load_text(TWO_APPROVALS),
        permissions=frozenset({"runs.start", "tools.run.read"}),
    )
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "failed" and "lacks the tools.run.change permission" in (run.error or "")
    assert run.approvals == [] and backends.calls() == []


async def test_unanswered_question_expires_and_fails_the_run(
    db: Database, tenant_a: TenantFixture, backends: Backends
) -> None:
    client_id, device_id = await make_client(db, tenant_a.id, OPEN_POLICY)
    run_id = await start(db, tenant_a.id, "software-install", client_id, device_id)
    await run_worker(db)
    [question] = (await show(db, tenant_a.id, run_id)).questions
    await expire_now(db, "questions", question.id)
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "failed" and "'package' was not answered in time" in (run.error or "")
    assert [q.status for q in run.questions] == ["expired"]
    assert backends.calls() == []


async def test_vip_contact_makes_an_unattended_change_wait_for_approval(
    db: Database, tenant_a: TenantFixture, backends: Backends
) -> None:
    client_id, device_id = await make_client(db, tenant_a.id, {**OPEN_POLICY, "vip_contacts": ["ceo@client.example"]})
    run_id = await start(
        db,
        tenant_a.id,
        "two-installs",
        client_id,
        device_id,
        context={"contact": {"email": "CEO@client.example"}},
        playbook=load_text(TWO_APPROVALS.replace("requires_approval: true", "requires_approval: false")),
    )
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "awaiting_approval"
    assert "the contact is a VIP" in run.approvals[0].reasons
    assert backends.calls() == []
