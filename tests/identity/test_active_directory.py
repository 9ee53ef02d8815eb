"""Identity tools against a real Samba Active Directory domain controller over LDAPS."""

from __future__ import annotations

import uuid

import pytest

from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.identity import delivery
from mspclaw.identity.backend import IdentityBackend
from mspclaw.vault.keys import Keyring
from tests.conftest import TenantFixture
from tests.identity.conftest import ADMIN_PASSWORD, DOMAIN, REALM, USER_PASSWORD, SambaDC, make_client
from tests.identity.helpers import attest, run_tool


@pytest.fixture
async def ad_client(db: Database, keyring: Keyring, tenant_a: TenantFixture, samba_dc: SambaDC) -> uuid.UUID:
    client_id, _ = await make_client(
        db,
        keyring,
        tenant_a.id,
        stack={"identity_provider": "active_directory", "ad_domain": DOMAIN},
        secrets={"ad.url": samba_dc.url, "ad.bind_user": f"Administrator@{REALM}", "ad.bind_password": ADMIN_PASSWORD},
    )
    return client_id


async def test_reset_password_sets_a_secret_only_the_one_time_view_holds(
    db: Database,
    keyring: Keyring,
    tenant_a: TenantFixture,
    samba_dc: SambaDC,
    backend: IdentityBackend,
    ad_client: uuid.UUID,
) -> None:
    user, run = samba_dc.create_user(), uuid.uuid4()
    await attest(db, tenant_a.id, ad_client, user, run)
    out = await run_tool(
        backend, tenant_a.id, ad_client, "reset_password", run, user=user, require_change_at_next_sign_in=False
    )
    assert out.ok, out.error
    assert "temporary_password" not in out.output and out.output["provider"] == "active_directory"
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        _, password = await delivery.open_for_technician(
            session, keyring, view_id=uuid.UUID(out.output["secret_view_id"])
        )
    assert samba_dc.can_bind(user, password)
    async with tenant_session(db.sessions, tenant_a.id) as session, session.begin():
        with pytest.raises(delivery.SecretGone):
            await delivery.open_for_technician(session, keyring, view_id=uuid.UUID(out.output["secret_view_id"]))


async def test_reset_with_forced_change_marks_the_password_expired(
    db: Database, tenant_a: TenantFixture, samba_dc: SambaDC, backend: IdentityBackend, ad_client: uuid.UUID
) -> None:
    user, run = samba_dc.create_user(), uuid.uuid4()
    await attest(db, tenant_a.id, ad_client, user, run)
    assert (await run_tool(backend, tenant_a.id, ad_client, "reset_password", run, user=user)).ok
    looked = await run_tool(backend, tenant_a.id, ad_client, "lookup_user", run, user=user)
    assert looked.output["password_last_set"] is None  # pwdLastSet=0: must change at next sign-in


async def test_three_wrong_binds_lock_and_unlock_account_clears_it(
    db: Database, tenant_a: TenantFixture, samba_dc: SambaDC, backend: IdentityBackend, ad_client: uuid.UUID
) -> None:
    user, run = samba_dc.create_user(), uuid.uuid4()
    for _ in range(3):
        assert not samba_dc.can_bind(user, "wrong-password")
    assert not samba_dc.can_bind(user, USER_PASSWORD)  # locked: even the right password is refused
    assert (await run_tool(backend, tenant_a.id, ad_client, "lookup_user", run, user=user)).output["locked"] is True
    await attest(db, tenant_a.id, ad_client, user, run)
    out = await run_tool(backend, tenant_a.id, ad_client, "unlock_account", run, user=user)
    assert out.ok, out.error
    assert (await run_tool(backend, tenant_a.id, ad_client, "lookup_user", run, user=user)).output["locked"] is False
    assert samba_dc.can_bind(user, USER_PASSWORD)


async def test_disable_and_enable_account(
    tenant_a: TenantFixture, samba_dc: SambaDC, backend: IdentityBackend, ad_client: uuid.UUID
) -> None:
    user, run = samba_dc.create_user(), uuid.uuid4()
    assert (await run_tool(backend, tenant_a.id, ad_client, "disable_account", run, user=user)).ok
    assert not samba_dc.can_bind(user, USER_PASSWORD)
    assert (await run_tool(backend, tenant_a.id, ad_client, "lookup_user", run, user=user)).output["enabled"] is False
    assert (await run_tool(backend, tenant_a.id, ad_client, "enable_account", run, user=user)).ok
    assert samba_dc.can_bind(user, USER_PASSWORD)


async def test_group_add_and_remove(
    tenant_a: TenantFixture, samba_dc: SambaDC, backend: IdentityBackend, ad_client: uuid.UUID
) -> None:
    user, run = samba_dc.create_user(), uuid.uuid4()
    group = samba_dc.create_group(f"Finance {uuid.uuid4().hex[:6]}")
    for _ in range(2):  # adding twice is fine: the wanted state already holds
        assert (await run_tool(backend, tenant_a.id, ad_client, "add_group_member", run, user=user, group=group)).ok
    assert group in (await run_tool(backend, tenant_a.id, ad_client, "lookup_user", run, user=user)).output["groups"]
    assert (await run_tool(backend, tenant_a.id, ad_client, "remove_group_member", run, user=user, group=group)).ok
    assert (
        group not in (await run_tool(backend, tenant_a.id, ad_client, "lookup_user", run, user=user)).output["groups"]
    )


async def test_unverified_caller_cannot_reset_and_password_stays(
    tenant_a: TenantFixture, samba_dc: SambaDC, backend: IdentityBackend, ad_client: uuid.UUID
) -> None:
    user = samba_dc.create_user()
    out = await run_tool(backend, tenant_a.id, ad_client, "reset_password", uuid.uuid4(), user=user)
    assert not out.ok and "verified first" in (out.error or "")
    assert samba_dc.can_bind(user, USER_PASSWORD)


async def test_unknown_user_and_unsupported_operation_fail_clearly(
    tenant_a: TenantFixture, samba_dc: SambaDC, backend: IdentityBackend, ad_client: uuid.UUID
) -> None:
    missing = await run_tool(backend, tenant_a.id, ad_client, "lookup_user", uuid.uuid4(), user="nobody-here")
    assert not missing.ok and "no Active Directory user 'nobody-here'" in (missing.error or "")
    revoke = await run_tool(
        backend, tenant_a.id, ad_client, "revoke_sessions", uuid.uuid4(), user=samba_dc.create_user()
    )
    assert not revoke.ok and "not available for active_directory" in (revoke.error or "")
