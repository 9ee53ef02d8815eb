"""Caller verification: one-time codes to the contact on record, attempt limits, expiry,
technician attestation and device push — through the HTTP API where a technician would use it."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
import pytest
from mspclaw_agent.protocol import ApprovalRequest, ApprovalResponse
from sqlalchemy import select, update

from mspclaw.audit.models import AuditEvent
from mspclaw.audit.service import Actor
from mspclaw.database.base import utcnow
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.identity import verification
from mspclaw.identity.models import Verification
from mspclaw.identity.notify import RecordingNotifier
from mspclaw.tenancy.models import Contact, Device
from mspclaw.tenancy.policy import ClientPolicy
from mspclaw.tools import get_tool
from mspclaw.vault.keys import Keyring
from tests.conftest import TenantFixture
from tests.identity.conftest import make_client
from tests.identity.helpers import TECH

ALICE = "alice@contoso.example"
STACK = {"identity_provider": "entra", "entra_tenant_id": "t"}


@pytest.fixture
def recorder(app: object) -> RecordingNotifier:
    notifier = RecordingNotifier()
    app.state.identity_notifier = notifier  # type: ignore[attr-defined]
    return notifier


async def _client(
    db: Database, keyring: Keyring, tenant: TenantFixture, email: str = ALICE, **policy: object
) -> tuple[uuid.UUID, uuid.UUID]:
    return await make_client(
        db, keyring, tenant.id, stack=STACK, secrets={}, policy=policy, contact_email=email, contact_phone="+15550100"
    )


async def _start(
    http: httpx.AsyncClient, tenant: TenantFixture, client: uuid.UUID, contact: uuid.UUID, run: uuid.UUID, **extra: str
) -> httpx.Response:
    body = {"client_id": str(client), "contact_id": str(contact), "user": ALICE, "run_id": str(run)}
    return await http.post(
        "/api/v1/identity/verifications/otp", json={"method": "otp_email", **body, **extra}, headers=tenant.headers
    )


async def _check(http: httpx.AsyncClient, tenant: TenantFixture, vid: str, code: str) -> dict[str, object]:
    r = await http.post(f"/api/v1/identity/verifications/{vid}/check", json={"code": code}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _code(recorder: RecordingNotifier, to: str) -> str:
    found = re.search(r"\b(\d{6})\b", recorder.last(to).body)
    assert found
    return found.group(1)


async def test_code_goes_to_the_address_on_record_and_verifies_that_user_in_that_run(
    db: Database, keyring: Keyring, tenant_a: TenantFixture, http: httpx.AsyncClient, recorder: RecordingNotifier
) -> None:
    client, contact = await _client(db, keyring, tenant_a)
    run = uuid.uuid4()
    started = await _start(http, tenant_a, client, contact, run)
    assert started.status_code == 200, started.text
    assert started.json()["sent_to"] == "a***@contoso.example"
    vid, code = started.json()["verification_id"], _code(recorder, ALICE)
    wrong = "000000" if code != "000000" else "111111"
    assert await _check(http, tenant_a, vid, wrong) == {
        "verification_id": vid,
        "status": "pending",
        "verified": False,
        "attempts_left": 4,
    }
    assert (await _check(http, tenant_a, vid, code))["verified"] is True
    async with tenant_session(db.sessions, tenant_a.id) as session:
        assert await verification.is_verified(session, run_id=run, user=ALICE)
        assert await verification.is_verified(session, run_id=run, user=ALICE.upper())
        assert not await verification.is_verified(session, run_id=uuid.uuid4(), user=ALICE)
        assert not await verification.is_verified(session, run_id=run, user="bob@contoso.example")
        stored = await session.scalar(select(Verification).where(Verification.id == uuid.UUID(vid)))
        assert stored is not None and code not in (stored.code_hash or "")


async def test_an_address_from_the_ticket_is_refused_and_sms_uses_the_number_on_record(
    db: Database, keyring: Keyring, tenant_a: TenantFixture, http: httpx.AsyncClient, recorder: RecordingNotifier
) -> None:
    client, contact = await _client(db, keyring, tenant_a)
    hijack = await _start(http, tenant_a, client, contact, uuid.uuid4(), send_to="attacker@evil.example")
    assert hijack.status_code == 422
    sms = await _start(http, tenant_a, client, contact, uuid.uuid4(), method="otp_sms")
    assert sms.status_code == 200 and sms.json()["sent_to"] == "***00"
    assert [m.to for m in recorder.sent] == ["+15550100"]


async def test_five_wrong_codes_lock_the_verification_and_expired_codes_fail(
    db: Database, keyring: Keyring, tenant_a: TenantFixture, http: httpx.AsyncClient, recorder: RecordingNotifier
) -> None:
    client, contact = await _client(db, keyring, tenant_a)
    vid = (await _start(http, tenant_a, client, contact, uuid.uuid4())).json()["verification_id"]
    code = _code(recorder, ALICE)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        last = await _check(http, tenant_a, vid, wrong)
    assert last["status"] == "failed"
    assert (await _check(http, tenant_a, vid, code))["verified"] is False  # the right code is too late now

    vid = (await _start(http, tenant_a, client, contact, uuid.uuid4())).json()["verification_id"]
    code = _code(recorder, ALICE)
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        past = utcnow() - timedelta(seconds=1)
        await session.execute(update(Verification).where(Verification.id == uuid.UUID(vid)).values(expires_at=past))
    assert (await _check(http, tenant_a, vid, code))["status"] == "expired"


async def test_other_peoples_contacts_and_disallowed_methods_are_refused(
    db: Database, keyring: Keyring, tenant_a: TenantFixture, http: httpx.AsyncClient, recorder: RecordingNotifier
) -> None:
    client, contact = await _client(db, keyring, tenant_a)
    body = {"client_id": str(client), "contact_id": str(contact), "user": "bob@contoso.example", "method": "otp_email"}
    mismatch = await http.post("/api/v1/identity/verifications/otp", json=body, headers=tenant_a.headers)
    assert mismatch.status_code == 400 and "not the user" in mismatch.json()["message"]
    carol = "carol@contoso.example"
    strict, strict_contact = await _client(
        db, keyring, tenant_a, carol, verification_methods=["technician_attestation"]
    )
    refused = await _start(http, tenant_a, strict, strict_contact, uuid.uuid4(), user=carol)
    assert refused.status_code == 403
    assert recorder.sent == []


async def test_attestation_needs_a_technician_and_a_reason_and_is_audited(
    db: Database, keyring: Keyring, tenant_a: TenantFixture, http: httpx.AsyncClient
) -> None:
    client, _ = await _client(db, keyring, tenant_a)
    run = uuid.uuid4()
    body = {"client_id": str(client), "user": ALICE, "run_id": str(run), "reason": "known voice, called back"}
    by_key = await http.post("/api/v1/identity/verifications/attest", json=body, headers=tenant_a.headers)
    assert by_key.status_code == 400  # an API key is not a person who heard the caller
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        with pytest.raises(verification.VerificationError):
            await verification.attest(session, client_id=client, user=ALICE, run_id=run, technician=TECH, reason="ok")
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        await verification.attest(
            session, client_id=client, user=ALICE, run_id=run, technician=TECH, reason="met her at the front desk"
        )
    async with tenant_session(db.sessions, tenant_a.id) as session:
        assert await verification.is_verified(session, run_id=run, user=ALICE)
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "identity.verification_attested"))
        assert event is not None and event.actor_name == TECH.name
        assert event.detail is not None and event.detail["reason"] == "met her at the front desk"


async def test_push_goes_only_to_the_users_own_device(db: Database, keyring: Keyring, tenant_a: TenantFixture) -> None:
    client, contact = await _client(db, keyring, tenant_a)
    asked: list[tuple[str, ApprovalRequest]] = []
    answer = "approved"

    async def ask(device_id: str, request: ApprovalRequest) -> ApprovalResponse:
        asked.append((device_id, request))
        return ApprovalResponse(request_id=request.request_id, status=answer)  # type: ignore[arg-type]

    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        other = Contact(client_id=client, name="Someone else", email="eve@contoso.example")
        session.add(other)
        await session.flush()
        own = Device(client_id=client, contact_id=contact, hostname="alice-laptop")
        foreign = Device(client_id=client, contact_id=other.id, hostname="eve-laptop")
        session.add_all([own, foreign])
        await session.flush()
    actor = Actor.system()
    run = uuid.uuid4()
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        with pytest.raises(verification.VerificationError):
            await verification.request_push(
                session,
                ask,
                client_id=client,
                contact_id=contact,
                device_id=foreign.id,
                user=ALICE,
                run_id=run,
                actor=actor,
            )
    assert asked == []
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        row = await verification.request_push(
            session, ask, client_id=client, contact_id=contact, device_id=own.id, user=ALICE, run_id=run, actor=actor
        )
    assert row.status == "verified" and asked[0][0] == str(own.id)
    answer = "denied"
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        row = await verification.request_push(
            session,
            ask,
            client_id=client,
            contact_id=contact,
            device_id=own.id,
            user=ALICE,
            run_id=uuid.uuid4(),
            actor=actor,
        )
    assert row.status == "failed"


def test_which_tools_need_verification() -> None:
    default = ClientPolicy()
    assert verification.verification_required(get_tool("reset_password"), default)
    assert verification.verification_required("unlock_account", default)
    assert verification.verification_required("require_mfa_reregistration", default)
    assert not verification.verification_required("lookup_user", default)
    assert not verification.verification_required("reset_password", ClientPolicy(require_verification=False))


async def test_pending_verification_is_the_executors_gate(
    db: Database, keyring: Keyring, tenant_a: TenantFixture
) -> None:
    client, _ = await _client(db, keyring, tenant_a)
    run, policy = uuid.uuid4(), ClientPolicy()
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        args = {"user": ALICE}
        assert (
            await verification.pending_verification(session, tool="lookup_user", args=args, policy=policy, run_id=run)
            is None
        )
        waiting = await verification.pending_verification(
            session, tool="reset_password", args=args, policy=policy, run_id=run
        )
        assert waiting is not None and "caller verification of alice@contoso.example" in waiting
        await verification.attest(
            session, client_id=client, user=ALICE, run_id=run, technician=TECH, reason="known voice on a call-back"
        )
        assert (
            await verification.pending_verification(
                session, tool="reset_password", args=args, policy=policy, run_id=run
            )
            is None
        )
