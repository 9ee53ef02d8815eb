"""Identity runs end to end through the executor against the real Samba DC: a verified, approved
password reset with its one-time link (and a scan of everything written for the password), the
built-in account-lockout playbook, and disable/group changes."""

from __future__ import annotations

import logging
import re
import uuid

import httpx
import pytest
from sqlalchemy import text

from mspclaw.database.core import Database
from mspclaw.identity.backend import IdentityBackend
from mspclaw.identity.notify import RecordingNotifier
from mspclaw.playbooks import load_text
from mspclaw.runs import runtime
from mspclaw.runs.models import RunDetail
from mspclaw.tools import BackendRouter
from mspclaw.vault.keys import Keyring
from tests.conftest import TenantFixture
from tests.identity.conftest import ADMIN_PASSWORD, DOMAIN, REALM, USER_PASSWORD, SambaDC, make_client
from tests.identity.helpers import attest, run_tool
from tests.runs.helpers import RecordingBackend, decide, run_worker, show, start

RESET = """
id: identity-reset
title: Verified password reset
version: 1.0.0
inputs:
  user: {type: email, source: contact, field: email}
tools: [lookup_user, reset_password]
steps:
  - {id: lookup, tool: lookup_user, args: {user: "{{ inputs.user }}"}}
  - id: reset
    tool: reset_password
    requires_approval: true
    args: {user: "{{ inputs.user }}", require_change_at_next_sign_in: false}
verification:
  - {id: verify, tool: lookup_user, args: {user: "{{ inputs.user }}"}}
"""


async def _dump_database(db: Database) -> str:
    """Every row of every table, as text."""
    out: list[str] = []
    async with db.engine.connect() as conn:
        tables = await conn.execute(
            text(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
                " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            )
        )
        for schema, table in tables.all():
            rows = await conn.execute(text(f'SELECT t::text FROM "{schema}"."{table}" t'))
            out.extend(str(r[0]) for r in rows)
    return "\n".join(out)


async def test_verified_approved_reset_delivers_once_and_leaks_nowhere(
    db: Database,
    keyring: Keyring,
    tenant_a: TenantFixture,
    app: object,
    http: httpx.AsyncClient,
    samba_dc: SambaDC,
    backend: IdentityBackend,
    notifier: RecordingNotifier,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    app.state.identity_notifier = notifier  # type: ignore[attr-defined]
    runtime.install(runtime.RunRuntime(db.sessions, BackendRouter(backend)))
    name = samba_dc.create_user()
    upn = f"{name}@{DOMAIN}"
    client_id, contact_id = await make_client(
        db,
        keyring,
        tenant_a.id,
        stack={"identity_provider": "active_directory", "ad_domain": DOMAIN},
        secrets={"ad.url": samba_dc.url, "ad.bind_user": f"Administrator@{REALM}", "ad.bind_password": ADMIN_PASSWORD},
        contact_email=upn,
    )
    responses: list[str] = []
    run_id = await start(
        db, tenant_a.id, "identity-reset", client_id, context={"contact": {"email": upn}}, playbook=load_text(RESET)
    )
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "awaiting_approval", run.error
    [approval] = run.approvals

    # the technician verifies the caller: a code to the e-mail on record, read back on the phone
    started = await http.post(
        "/api/v1/identity/verifications/otp",
        json={
            "client_id": str(client_id),
            "contact_id": str(contact_id),
            "user": upn,
            "method": "otp_email",
            "run_id": str(run_id),
        },
        headers=tenant_a.headers,
    )
    responses.append(started.text)
    code = re.search(r"\b(\d{6})\b", notifier.last(upn).body).group(1)  # type: ignore[union-attr]
    checked = await http.post(
        f"/api/v1/identity/verifications/{started.json()['verification_id']}/check",
        json={"code": code},
        headers=tenant_a.headers,
    )
    responses.append(checked.text)
    assert checked.json()["verified"] is True

    await decide(db, tenant_a.id, approval.id)
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "succeeded", run.error
    reset = next(s for s in run.steps if s.step_id == "reset")
    assert reset.approver == "approver@msp.example"
    assert reset.output["delivery"] == f"one-time link sent by email to {upn[0]}***@{DOMAIN}"
    detail = await http.get(f"/api/v1/runs/{run_id}", headers=tenant_a.headers)
    events = await http.get("/api/v1/audit/events?limit=200", headers=tenant_a.headers)
    responses += [detail.text, events.text]
    assert "identity.password_reset" in events.text

    # the user opens the link once
    link = re.search(r"/api/v1/v/(\S+)", notifier.last(upn).body)
    assert link is not None
    view = await http.get(f"/api/v1/v/{link.group(1)}")
    assert view.status_code == 200 and view.headers["cache-control"] == "no-store"
    password = re.search(r'monospace">([^<]+)</p>', view.text).group(1)  # type: ignore[union-attr]
    assert samba_dc.can_bind(name, password)
    again = await http.get(f"/api/v1/v/{link.group(1)}")
    responses.append(again.text)
    assert again.status_code == 410
    assert not samba_dc.can_bind(name, "not-" + USER_PASSWORD)

    # the scan: nothing written anywhere holds the temporary password
    captured = capsys.readouterr()
    written = {
        "database": await _dump_database(db),
        "logs": caplog.text + captured.out + captured.err,
        "http responses": "\n".join(responses),
        "messages": "\n".join(m.body for m in notifier.sent),
    }
    assert len(written["database"]) > 1000 and "identity.password_reset" in written["database"]
    for where, content in written.items():
        assert password not in content, f"the temporary password leaked into {where}"


CHANGES = """
id: identity-changes
title: Access changes
version: 1.0.0
inputs:
  user: {type: email, source: contact, field: email}
  group: {type: string, source: ticket, field: group}
tools: [add_group_member, remove_group_member, disable_account, lookup_user]
steps:
  - {id: add, tool: add_group_member, args: {user: "{{ inputs.user }}", group: "{{ inputs.group }}"}}
  - {id: check, tool: lookup_user, args: {user: "{{ inputs.user }}"}}
  - {id: remove, tool: remove_group_member, args: {user: "{{ inputs.user }}", group: "{{ inputs.group }}"}}
  - {id: disable, tool: disable_account, requires_approval: true, args: {user: "{{ inputs.user }}"}}
"""


async def _approve_until_done(db: Database, tenant: TenantFixture, run_id: uuid.UUID) -> RunDetail:
    """Approve each step that waits for a technician, as they come."""
    run = await show(db, tenant.id, run_id)
    for _ in range(6):
        pending = [a for a in run.approvals if a.status == "pending"]
        if not pending:
            break
        await decide(db, tenant.id, pending[0].id)
        await run_worker(db)
        run = await show(db, tenant.id, run_id)
    return run


async def _ad_client(db: Database, keyring: Keyring, tenant: TenantFixture, dc: SambaDC, email: str) -> uuid.UUID:
    client_id, _ = await make_client(
        db,
        keyring,
        tenant.id,
        stack={"identity_provider": "active_directory", "ad_domain": DOMAIN},
        secrets={"ad.url": dc.url, "ad.bind_user": f"Administrator@{REALM}", "ad.bind_password": ADMIN_PASSWORD},
        contact_email=email,
    )
    return client_id


async def test_lockout_playbook_unlocks_after_attestation_and_approval(
    db: Database, keyring: Keyring, tenant_a: TenantFixture, samba_dc: SambaDC, backend: IdentityBackend
) -> None:
    notification = RecordingBackend("notification")
    runtime.install(runtime.RunRuntime(db.sessions, BackendRouter(backend, notification)))
    name = samba_dc.create_user()
    upn = f"{name}@{DOMAIN}"
    client_id = await _ad_client(db, keyring, tenant_a, samba_dc, upn)
    for _ in range(3):
        samba_dc.can_bind(name, "wrong")
    run_id = await start(db, tenant_a.id, "account-lockout", client_id, context={"contact": {"email": upn}})
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "awaiting_approval", run.error
    assert next(s for s in run.steps if s.step_id == "lookup").output["locked"] is True
    await attest(db, tenant_a.id, client_id, upn, run_id)
    run = await _approve_until_done(db, tenant_a, run_id)
    assert run.status == "succeeded", run.error
    assert [s.step_id for s in run.steps if s.status == "succeeded"] == ["lookup", "unlock", "tell_user", "verify"]
    assert samba_dc.can_bind(name, USER_PASSWORD)


async def test_a_run_waiting_for_verification_resumes_when_the_caller_is_verified(
    db: Database, keyring: Keyring, tenant_a: TenantFixture, samba_dc: SambaDC, backend: IdentityBackend
) -> None:
    """Approved first, verified afterwards: the verification itself must set the run going again."""
    notification = RecordingBackend("notification")
    runtime.install(runtime.RunRuntime(db.sessions, BackendRouter(backend, notification)))
    name = samba_dc.create_user()
    upn = f"{name}@{DOMAIN}"
    client_id = await _ad_client(db, keyring, tenant_a, samba_dc, upn)
    for _ in range(3):
        samba_dc.can_bind(name, "wrong")
    run_id = await start(db, tenant_a.id, "account-lockout", client_id, context={"contact": {"email": upn}})
    await run_worker(db)
    run = await _approve_until_done(db, tenant_a, run_id)
    assert run.status == "awaiting_input", run.error  # approved, but the caller is not verified yet
    assert not samba_dc.can_bind(name, USER_PASSWORD)
    await attest(db, tenant_a.id, client_id, upn, run_id)
    await run_worker(db)
    run = await _approve_until_done(db, tenant_a, run_id)
    assert run.status == "succeeded", run.error
    assert samba_dc.can_bind(name, USER_PASSWORD)


async def test_group_changes_and_disable_run_through_the_executor(
    db: Database, keyring: Keyring, tenant_a: TenantFixture, samba_dc: SambaDC, backend: IdentityBackend
) -> None:
    runtime.install(runtime.RunRuntime(db.sessions, BackendRouter(backend)))
    name = samba_dc.create_user()
    upn = f"{name}@{DOMAIN}"
    group = samba_dc.create_group(f"Projects {uuid.uuid4().hex[:6]}")
    client_id = await _ad_client(db, keyring, tenant_a, samba_dc, upn)
    context = {"contact": {"email": upn}, "ticket": {"group": group}}
    run_id = await start(db, tenant_a.id, "identity-changes", client_id, context=context, playbook=load_text(CHANGES))
    await run_worker(db)
    run = await show(db, tenant_a.id, run_id)
    assert run.status == "awaiting_approval", run.error  # changes wait for a technician by default
    run = await _approve_until_done(db, tenant_a, run_id)
    assert run.status == "succeeded", run.error
    assert group in next(s for s in run.steps if s.step_id == "check").output["groups"]
    assert not samba_dc.can_bind(name, USER_PASSWORD)  # disabled
    looked = (await run_tool(backend, tenant_a.id, client_id, "lookup_user", run_id, user=name)).output
    assert looked["enabled"] is False and group not in looked["groups"]
