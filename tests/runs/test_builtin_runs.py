"""Every built-in playbook runs through the executor at least once, on this Linux machine.

Endpoint tools run for real (LocalEndpointBackend behind its journal). The client's default
policy lets only read tools run unattended, so each run goes as far as policy allows: read
steps execute, changes wait for an approval (not given here: these would change this
machine; approved changes are exercised in test_endpoint_playbooks.py). No identity or
notification backend is registered here, so steps needing one fail with that clear message.
"""

from __future__ import annotations

from typing import Any

from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.playbooks import TicketContext, builtin_playbooks
from mspclaw.runs import flows
from mspclaw.tools import BackendRouter, get_tool
from tests.conftest import TenantFixture
from tests.runs.helpers import make_client, principal, run_worker, show, start

NO_IDENTITY = "no identity backend is configured for this client"
NO_NOTIFY = "no notification backend is configured for this client"
#: local stand-ins so network probes answer at once (no outside network in CI)
CLIENT_FIELDS = {"vpn_gateway": "127.0.0.1", "vpn_port": 9, "probe_host": "localhost", "mail_host": "localhost"}


def _example(playbook_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    example = builtin_playbooks()[playbook_id].playbook.examples[0]
    context = example.model_dump(include={"ticket", "contact", "client"}, exclude_none=True)
    context["client"] = {**context.get("client", {}), **CLIENT_FIELDS}
    return context, dict(example.inputs)


async def _drive(db: Database, tenant: TenantFixture, playbook_id: str) -> Any:
    context, inputs = _example(playbook_id)
    playbook = builtin_playbooks()[playbook_id].playbook
    asked = {k: v for k, v in inputs.items() if playbook.inputs[k].source == "question"}
    given = {k: v for k, v in inputs.items() if k not in asked}
    client_id, device_id = await make_client(db, tenant.id)
    run_id = await start(db, tenant.id, playbook_id, client_id, device_id, context=context, inputs=given)
    await run_worker(db)
    run = await show(db, tenant.id, run_id)
    for question in run.questions:  # answer as the example's user would
        async with tenant_session(db.sessions, tenant.id) as session, session.begin():
            await flows.answer_question(
                session, principal=principal(tenant.id), question_id=question.id, answer=asked[question.input_name]
            )
    if run.questions:
        await run_worker(db)
    return await show(db, tenant.id, run_id)


DENIED = "was denied"
#: what each run may end as here: (status, text in the error); alternatives depend on this
#: machine (a printer spooler, an installed package, a full disk, a VPN interface)
EXPECTED: dict[str, set[tuple[str, str | None]]] = {
    "access-request": {("failed", NO_IDENTITY)},
    "account-lockout": {("failed", NO_IDENTITY)},
    "email-sync": {("failed", NO_IDENTITY)},
    "low-disk-space": {("failed", DENIED)},
    "mfa-reregistration": {("failed", NO_IDENTITY)},
    "offboarding": {("failed", NO_IDENTITY)},
    "onboarding": {("failed", NO_IDENTITY)},  # approved, then no identity backend
    "password-reset": {("failed", NO_IDENTITY)},
    "phishing-report": {("failed", NO_NOTIFY)},  # approved, then no notification backend
    "printer-queue": {("failed", "lpstat missing"), ("failed", DENIED), ("failed", "queue_status failed")},
    "slow-computer": {("succeeded", None), ("failed", DENIED)},
    "software-install": {("failed", DENIED), ("succeeded", None)},
    "software-update": {("succeeded", None), ("failed", DENIED)},
    "vpn-connectivity": {("failed", DENIED), ("succeeded", None)},
    "wifi-connectivity": {("failed", DENIED), ("succeeded", None)},
}


async def _decide_pending(db: Database, tenant: TenantFixture, run: Any) -> bool:
    """Approve identity/notification steps (nothing can run them yet); deny changes to this machine."""
    pending = [a for a in run.approvals if a.status == "pending"]
    for approval in pending:
        approve = get_tool(approval.tool).backends[0].kind != "endpoint"
        async with tenant_session(db.sessions, tenant.id) as session, session.begin():
            await flows.decide_approval(
                session,
                principal=principal(tenant.id, "approver"),
                approval_id=approval.id,
                approve=approve,
                reason=None,
            )
    return bool(pending)


async def _check(db: Database, tenant: TenantFixture, playbook_id: str) -> str | None:
    """Dry-run and run one playbook; what is wrong with it, or None."""
    context, inputs = _example(playbook_id)
    dry = await _dry_run(db, tenant, playbook_id, context, inputs)
    if not dry.gate or any(g.verdict not in ("allow", "needs_approval", "decided_at_run_time") for g in dry.gate):
        return f"dry-run gate: {dry.gate}"
    run = await _drive(db, tenant, playbook_id)
    for _ in range(4):
        if not await _decide_pending(db, tenant, run):
            break
        await run_worker(db)
        run = await show(db, tenant.id, run.id)
    outcome = (
        run.status,
        next((text for _, text in EXPECTED[playbook_id] if text and text in (run.error or "")), None),
    )
    executed = [s for s in run.steps if s.status in ("succeeded", "failed")]
    problems = [
        f"ended {run.status}: {run.error}" if outcome not in EXPECTED[playbook_id] else "",
        "not finished or no steps recorded" if run.finished_at is None or not run.steps else "",
        "an executed step has neither output nor error" if not all(s.output or s.error for s in executed) else "",
        "a step was attempted twice" if any(s.attempt != 1 for s in executed) else "",
        "a question was asked twice" if len(run.questions) != len({q.input_name for q in run.questions}) else "",
    ]
    return "; ".join(p for p in problems if p) or None


async def test_every_builtin_playbook_dry_runs_and_runs_through_the_executor(
    db: Database, tenant_a: TenantFixture, endpoint_router: BackendRouter
) -> None:
    # one database for all 15 (each run has its own client): the runs are independent
    problems = {pid: await _check(db, tenant_a, pid) for pid in sorted(builtin_playbooks())}
    assert len(problems) == 15
    assert {pid: p for pid, p in problems.items() if p} == {}


async def _dry_run(
    db: Database, tenant: TenantFixture, playbook_id: str, context: dict[str, Any], inputs: dict[str, Any]
) -> flows.DryRun:
    async with tenant_session(db.sessions, tenant.id) as session:
        return await flows.dry_run(
            session,
            principal=principal(tenant.id),
            playbook_id=playbook_id,
            client_id=None,
            device_id=None,
            context=TicketContext.model_validate({**context, "device": {"os": "linux"}}),
            inputs=inputs,
        )
