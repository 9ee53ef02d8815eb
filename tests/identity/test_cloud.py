"""Identity tools against the Graph and Google Directory simulators (real HTTP) and moto_server."""

from __future__ import annotations

import uuid

import boto3
import pytest

from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.identity import delivery
from mspclaw.identity.backend import IdentityBackend
from mspclaw.identity.simulators import (
    SimulatorState,
    add_google_group,
    add_google_user,
    add_graph_group,
    add_graph_user,
)
from mspclaw.vault.keys import Keyring
from tests.conftest import TenantFixture
from tests.identity.conftest import GRAPH_TENANT, make_client
from tests.identity.helpers import attest, run_tool

GRAPH_SECRETS = {"entra.client_id": "graph-app-id", "entra.client_secret": "graph-app-secret"}
GOOGLE_SECRETS = {
    "google.client_id": "google-client-id",
    "google.client_secret": "google-client-secret",
    "google.refresh_token": "google-refresh-token",
}


async def _reveal(db: Database, keyring: Keyring, tenant_id: uuid.UUID, view_id: str) -> str:
    async with tenant_session(db.sessions, tenant_id) as session, session.begin():
        return (await delivery.open_for_technician(session, keyring, view_id=uuid.UUID(view_id)))[1]


# ---------------------------------------------------------------- Microsoft Graph


@pytest.fixture
async def entra_client(db: Database, keyring: Keyring, tenant_a: TenantFixture) -> uuid.UUID:
    stack = {"identity_provider": "entra", "entra_tenant_id": GRAPH_TENANT}
    return (await make_client(db, keyring, tenant_a.id, stack=stack, secrets=GRAPH_SECRETS))[0]


async def test_graph_reset_disable_revoke_and_mfa(
    db: Database,
    keyring: Keyring,
    tenant_a: TenantFixture,
    backend: IdentityBackend,
    entra_client: uuid.UUID,
    graph_sim: tuple[str, SimulatorState],
) -> None:
    _, state = graph_sim
    upn = f"dana.{uuid.uuid4().hex[:6]}@contoso.example"
    user = add_graph_user(state, upn, mfa=2)
    run = uuid.uuid4()
    await attest(db, tenant_a.id, entra_client, upn, run)

    reset = await run_tool(backend, tenant_a.id, entra_client, "reset_password", run, user=upn)
    assert reset.ok, reset.error
    assert user["password"] == await _reveal(db, keyring, tenant_a.id, reset.output["secret_view_id"])
    assert user["forceChangePasswordNextSignIn"] is True

    assert (await run_tool(backend, tenant_a.id, entra_client, "disable_account", run, user=upn)).ok
    assert user["accountEnabled"] is False
    assert (await run_tool(backend, tenant_a.id, entra_client, "enable_account", run, user=upn)).ok
    assert user["accountEnabled"] is True
    assert (await run_tool(backend, tenant_a.id, entra_client, "revoke_sessions", run, user=upn)).ok
    assert user["signInSessionsValidFromDateTime"]

    mfa = await run_tool(backend, tenant_a.id, entra_client, "require_mfa_reregistration", run, user=upn)
    assert mfa.ok and mfa.output["methods_removed"] == 2
    assert user["methods"] == []


async def test_graph_groups_licences_and_forwarding(
    tenant_a: TenantFixture, backend: IdentityBackend, entra_client: uuid.UUID, graph_sim: tuple[str, SimulatorState]
) -> None:
    _, state = graph_sim
    upn = f"erin.{uuid.uuid4().hex[:6]}@contoso.example"
    user = add_graph_user(state, upn)
    group = add_graph_group(state, f"Sales {uuid.uuid4().hex[:6]}")
    if not state.skus:
        state.skus.append({"skuId": str(uuid.uuid4()), "skuPartNumber": "SPE_E3"})
    run = uuid.uuid4()

    async def call(tool: str, **args: str) -> dict[str, object]:
        out = await run_tool(backend, tenant_a.id, entra_client, tool, run, user=upn, **args)
        assert out.ok, out.error
        return out.output

    await call("add_group_member", group=group["displayName"])
    await call("add_group_member", group=group["displayName"])  # already a member: still fine
    assert user["id"] in group["members"]
    await call("assign_license", sku="SPE_E3")
    await call("set_mail_forwarding", forward_to="archive@contoso.example")
    looked = await call("lookup_user")
    assert looked["groups"] == [group["displayName"]]
    assert looked["licenses"] == ["SPE_E3"]
    assert looked["forwarding_to"] == "archive@contoso.example"
    await call("remove_group_member", group=group["displayName"])
    await call("remove_license", sku="SPE_E3")
    await call("clear_mail_forwarding")
    looked = await call("lookup_user")
    assert looked["groups"] == [] and looked["licenses"] == [] and looked["forwarding_to"] is None


async def test_graph_wrong_client_secret_is_refused_by_the_token_endpoint(
    db: Database, keyring: Keyring, tenant_a: TenantFixture, backend: IdentityBackend
) -> None:
    stack = {"identity_provider": "entra", "entra_tenant_id": GRAPH_TENANT}
    secrets = {**GRAPH_SECRETS, "entra.client_secret": "stolen-guess"}
    client_id, _ = await make_client(db, keyring, tenant_a.id, stack=stack, secrets=secrets)
    out = await run_tool(backend, tenant_a.id, client_id, "lookup_user", uuid.uuid4(), user="x@contoso.example")
    assert not out.ok and "token endpoint refused" in (out.error or "")
    assert "stolen-guess" not in (out.error or "")


# ---------------------------------------------------------------- Google Workspace


async def test_google_reset_suspend_and_groups(
    db: Database,
    keyring: Keyring,
    tenant_a: TenantFixture,
    backend: IdentityBackend,
    google_sim: tuple[str, SimulatorState],
) -> None:
    _, state = google_sim
    stack = {"identity_provider": "google_workspace", "google_customer_id": "C01abc234"}
    client_id, _ = await make_client(db, keyring, tenant_a.id, stack=stack, secrets=GOOGLE_SECRETS)
    email = f"fay.{uuid.uuid4().hex[:6]}@fabrikam.example"
    user = add_google_user(state, email, two_sv=True)
    group = add_google_group(state, f"team-{uuid.uuid4().hex[:6]}@fabrikam.example")
    run = uuid.uuid4()
    await attest(db, tenant_a.id, client_id, email, run)

    reset = await run_tool(backend, tenant_a.id, client_id, "reset_password", run, user=email)
    assert reset.ok, reset.error
    assert user["password"] == await _reveal(db, keyring, tenant_a.id, reset.output["secret_view_id"])
    assert user["changePasswordAtNextLogin"] is True
    assert (await run_tool(backend, tenant_a.id, client_id, "disable_account", run, user=email)).ok
    assert user["suspended"] is True
    assert (await run_tool(backend, tenant_a.id, client_id, "enable_account", run, user=email)).ok
    assert user["suspended"] is False
    assert (
        await run_tool(backend, tenant_a.id, client_id, "add_group_member", run, user=email, group=group["email"])
    ).ok
    looked = await run_tool(backend, tenant_a.id, client_id, "lookup_user", run, user=email)
    assert looked.output["groups"] == [group["email"]]
    assert (
        await run_tool(backend, tenant_a.id, client_id, "remove_group_member", run, user=email, group=group["email"])
    ).ok
    assert email not in group["members"]
    mfa = await run_tool(backend, tenant_a.id, client_id, "require_mfa_reregistration", run, user=email)
    assert mfa.ok and user["isEnrolledIn2Sv"] is False
    assert (await run_tool(backend, tenant_a.id, client_id, "revoke_sessions", run, user=email)).ok
    assert user["signedOutAt"]


# ---------------------------------------------------------------- AWS IAM (moto_server)


async def test_iam_console_password_keys_and_groups(
    db: Database, keyring: Keyring, tenant_a: TenantFixture, backend: IdentityBackend, moto_url: str
) -> None:
    iam = boto3.client(
        "iam", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    name = f"gus-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=name)
    iam.create_group(GroupName=f"{name}-admins")
    iam.add_user_to_group(UserName=name, GroupName=f"{name}-admins")
    key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    stack = {"identity_provider": "aws_iam", "aws_account_id": "123456789012"}
    secrets = {"aws.access_key_id": "test", "aws.secret_access_key": "test"}
    client_id, _ = await make_client(db, keyring, tenant_a.id, stack=stack, secrets=secrets)
    run = uuid.uuid4()
    await attest(db, tenant_a.id, client_id, name, run)

    reset = await run_tool(backend, tenant_a.id, client_id, "reset_password", run, user=name)
    assert reset.ok, reset.error  # no console password yet: create_login_profile
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["UserName"] == name
    again = await run_tool(backend, tenant_a.id, client_id, "reset_password", run, user=name)
    assert again.ok, again.error  # now update_login_profile (moto keeps the flag only on update)
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is True

    removed = await run_tool(
        backend, tenant_a.id, client_id, "remove_group_member", run, user=name, group=f"{name}-admins"
    )
    assert removed.ok and iam.list_groups_for_user(UserName=name)["Groups"] == []
    disabled = await run_tool(backend, tenant_a.id, client_id, "disable_account", run, user=name)
    assert disabled.ok, disabled.error
    keys = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(key, "Inactive")]
    looked = await run_tool(backend, tenant_a.id, client_id, "lookup_user", run, user=name)
    assert looked.output["enabled"] is False and looked.output["access_keys_active"] == 0
    missing = await run_tool(backend, tenant_a.id, client_id, "lookup_user", run, user="no-such-user")
    assert not missing.ok


# ---------------------------------------------------------------- resolver


async def test_client_without_identity_provider_gets_a_message_naming_what_to_set(
    db: Database, keyring: Keyring, tenant_a: TenantFixture, backend: IdentityBackend
) -> None:
    bare, _ = await make_client(db, keyring, tenant_a.id, stack={}, secrets={})
    out = await run_tool(backend, tenant_a.id, bare, "lookup_user", uuid.uuid4(), user="a@b.example")
    assert not out.ok and "set stack.identity_provider" in (out.error or "")
    half, _ = await make_client(
        db, keyring, tenant_a.id, stack={"identity_provider": "entra", "entra_tenant_id": "t"}, secrets={}
    )
    out = await run_tool(backend, tenant_a.id, half, "lookup_user", uuid.uuid4(), user="a@b.example")
    assert not out.ok and f"identity:{half}:entra.client_id" in (out.error or "")
