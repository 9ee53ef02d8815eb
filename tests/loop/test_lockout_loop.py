""" "User locked out" through the whole loop against a real Samba AD domain controller.

The user really locks themselves out (three wrong binds); they open a ticket in the ConnectWise
simulator as a contact on record. The loop syncs, triages (account_lockout), matches the built-in
account-lockout playbook and starts it. The client policy lets only read steps run unattended and
requires caller verification: the technician approves the unlock, sends a one-time code to the
e-mail on record (delivered by apprise to a loopback receiver), submits the code the user read
out, approves the message to the user — and the account is really unlocked, the user is told,
and the note and the resolved status land back in the simulator.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mspclaw.config import Settings
from mspclaw.connectors.connectwise.simulator import ConnectWiseSimulator
from mspclaw.connectors.models import TicketCreate
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.identity.backend import IdentityBackend
from mspclaw.identity.notify import AppriseNotifier
from mspclaw.identity.resolver import IdentityEndpoints, secret_name
from mspclaw.loop.delivery import UserMessageBackend
from mspclaw.runs import runtime as runs_runtime
from mspclaw.sync import service as connections
from mspclaw.sync.runtime import SyncRuntime
from mspclaw.tools import BackendRouter
from mspclaw.vault import service as vault
from mspclaw.vault.keys import KeyringProvider
from tests.conftest import TenantFixture
from tests.identity import conftest as identity
from tests.identity.conftest import ADMIN_PASSWORD, DOMAIN, REALM, USER_PASSWORD, SambaDC
from tests.loop.helpers import Receiver, drive, loop_actions, runs_of, setup_loop
from tests.sync.conftest import run_jobs


@pytest.fixture(scope="module")
def samba_dc() -> Iterator[SambaDC]:
    """The real DC: the one the identity tests already started in this session, else our own.

    Only one DC can listen on 127.0.0.1:389/636/88; a second session fixture would wait for the
    first one's ports taken and fail. Ours is module-scoped, so it is gone before the identity tests start.
    """
    running = SambaDC(url="ldaps://127.0.0.1:636", folder=Path(tempfile.gettempdir()))
    try:
        running.admin().unbind()
    except Exception:
        yield from identity.samba_dc.__wrapped__()  # type: ignore[attr-defined]
        # kpasswd and the global catalog close last; a DC started right after needs them free too
        identity._wait_ports_free((*identity.SAMBA_PORTS, 464, 3268, 3269))
    else:
        yield running


#: auto-run, but only read steps unattended, and the caller verified before any credential change
LOCKOUT_POLICY = {"auto_run": True, "unattended_risks": ["read"], "require_verification": True}


async def _approve_pending(http: httpx.AsyncClient, tenant: TenantFixture, rt: SyncRuntime, run_id: str) -> str:
    """A technician approves what the run waits for; returns the tool approved."""
    pending = (await http.get("/api/v1/approvals?status=pending", headers=tenant.headers)).json()
    [approval] = [a for a in (pending["items"] if isinstance(pending, dict) else pending) if a["run_id"] == run_id]
    decided = await http.post(
        f"/api/v1/approvals/{approval['id']}/approve", headers=tenant.headers, json={"reason": "caller on the phone"}
    )
    assert decided.status_code == 200, decided.text
    await run_jobs(rt)
    return str(approval["tool"])


async def _run(http: httpx.AsyncClient, tenant: TenantFixture, run_id: str) -> dict[str, Any]:
    return dict((await http.get(f"/api/v1/runs/{run_id}", headers=tenant.headers)).json())


async def test_a_locked_out_user_is_verified_unlocked_and_the_ticket_resolved(
    rt: SyncRuntime,
    db: Database,
    settings: Settings,
    app: Any,
    http: httpx.AsyncClient,
    tenant_a: TenantFixture,
    psa: tuple[ConnectWiseSimulator, str],
    receiver: Receiver,
    samba_dc: SambaDC,
) -> None:
    sim, url = psa
    h = tenant_a.headers
    name = samba_dc.create_user("lock")
    upn = f"{name}@{DOMAIN}"
    for _ in range(3):
        assert not samba_dc.can_bind(name, "wrong-password")
    assert not samba_dc.can_bind(name, USER_PASSWORD), "the account should be locked by the failed binds"

    # e-mail to users (codes, "you are unlocked") goes through apprise to the loopback receiver
    mail = AppriseNotifier(email=f"json://{receiver.hostport}/mail?+X-To={{to}}")
    app.state.identity_notifier = mail
    keyring = KeyringProvider(settings.master_key, settings.data_dir).current()
    identity = IdentityBackend(
        db.sessions, lambda: keyring, mail, endpoints=IdentityEndpoints(ad_verify_tls=False)
    )  # the test DC's certificate is self-signed
    runs_runtime.install(runs_runtime.RunRuntime(db.sessions, BackendRouter(identity, UserMessageBackend(mail))))

    # the requester is a contact on record in the PSA (and in MSPclaw, for verification)
    company = next(iter(sim.companies))
    pid = next(p for p, c in sim.contacts.items() if c["company"]["id"] == company)
    sim.contacts[pid]["communicationItems"][0]["value"] = upn
    setup = await setup_loop(http, tenant_a, rt, sim, url, LOCKOUT_POLICY)
    patched = await http.patch(
        f"/api/v1/clients/{setup.client_id}",
        headers=h,
        json={"stack": {"identity_provider": "active_directory", "ad_domain": DOMAIN}},
    )
    assert patched.status_code == 200, patched.text
    contact = await http.post(
        "/api/v1/contacts", headers=h, json={"client_id": setup.client_id, "name": "Locked User", "email": upn}
    )
    assert contact.status_code == 201, contact.text
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        client_id = uuid.UUID(setup.client_id)
        for key, value in {
            "ad.url": samba_dc.url,
            "ad.bind_user": f"Administrator@{REALM}",
            "ad.bind_password": ADMIN_PASSWORD,
        }.items():
            await vault.put(session, keyring, name=secret_name(client_id, key), value=value)

    # the user opens the ticket (the PSA's REST API, as its portal would)
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        connection = await connections.get(session, connection_id=uuid.UUID(setup.connection_id))
        assert connection is not None
        connector = await connections.open_connector(session, rt.keyring(), connection)
        try:
            created = await connector.create_ticket(  # type: ignore[attr-defined]
                TicketCreate(
                    subject="I'm locked out of my account",
                    description="It says my account is locked after I mistyped my password.",
                    client_external_id=str(company),
                    contact_external_id=str(pid),
                )
            )
        finally:
            await connector.aclose()
    external_id = created.external_id
    before = sim.admin_ticket(external_id)["status"]["name"]

    await drive(rt, setup.connection_id, rounds=3)
    [run] = await runs_of(http, tenant_a)
    assert run["playbook_id"] == "account-lockout"
    assert [a["kind"] for a in await loop_actions(http, tenant_a)] == ["started"]
    detail = await _run(http, tenant_a, run["id"])
    lookup = next(s for s in detail["steps"] if s["step_id"] == "lookup")
    assert lookup["status"] == "succeeded" and lookup["output"]["locked"] is True  # read from the DC
    assert detail["status"] == "awaiting_approval", detail

    # the unlock is a change and a credential change: the technician first verifies the caller with a
    # one-time code to the e-mail address on record, which the user reads out on the phone
    started = await http.post(
        "/api/v1/identity/verifications/otp",
        headers=h,
        json={
            "client_id": setup.client_id,
            "contact_id": contact.json()["id"],
            "user": upn,
            "method": "otp_email",
            "run_id": run["id"],
        },
    )
    assert started.status_code in (200, 201), started.text
    [code_mail] = receiver.at("mail")
    assert code_mail.headers["x-to"] == upn  # the address on record, never one from the ticket
    code = re.search(r"\b(\d{6})\b", code_mail.body["message"])
    assert code is not None, code_mail.body
    wrong = "000000" if code.group(1) != "000000" else "111111"
    missed = await http.post(
        f"/api/v1/identity/verifications/{started.json()['verification_id']}/check", headers=h, json={"code": wrong}
    )
    assert missed.json()["verified"] is False
    checked = await http.post(
        f"/api/v1/identity/verifications/{started.json()['verification_id']}/check",
        headers=h,
        json={"code": code.group(1)},
    )
    assert checked.status_code == 200 and checked.json()["verified"] is True, checked.text
    await run_jobs(rt)
    assert not samba_dc.can_bind(name, USER_PASSWORD)  # still locked: the unlock waits for its approval

    # then approves the unlock: unlocked for real; telling the user is a change too, approved as well
    assert await _approve_pending(http, tenant_a, rt, run["id"]) == "unlock_account"
    assert samba_dc.can_bind(name, USER_PASSWORD)
    assert (await _run(http, tenant_a, run["id"]))["status"] == "awaiting_approval"
    assert await _approve_pending(http, tenant_a, rt, run["id"]) == "notify_user"
    done = await _run(http, tenant_a, run["id"])
    assert done["status"] == "succeeded", done
    assert [s["step_id"] for s in done["steps"] if s["status"] == "succeeded"] == [
        "lookup",
        "unlock",
        "tell_user",
        "verify",
    ]
    assert next(s for s in done["steps"] if s["step_id"] == "verify")["output"]["locked"] is False
    told = receiver.at("mail")[-1]
    assert told.headers["x-to"] == upn and "unlocked" in told.body["message"]

    # the note and the status are back in the PSA
    kinds = [a["kind"] for a in await loop_actions(http, tenant_a)]
    assert sorted(kinds) == ["started", "written_back"], kinds
    notes = [str(n.get("text")) for n in sim.admin_notes(external_id)]
    assert any("MSPclaw resolved this with playbook account-lockout" in n and "unlock_account" in n for n in notes)
    after = sim.admin_ticket(external_id)["status"]["name"]
    assert after != before and after == "Completed"
    events = (await http.get("/api/v1/audit/events?limit=500", headers=h)).json()["items"]
    actions = {e["action"] for e in events}
    assert {"identity.verification_started", "identity.verification_succeeded", "loop.written_back"} <= actions
