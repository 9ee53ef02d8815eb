"""Pick and build a client's directory from its ``stack`` and its vault secrets.

Secret names are per client: ``identity:<client id>:<key>`` (e.g. ``ad.bind_password``);
``REQUIRED_SECRETS`` lists them per provider and docs/identity.md explains each.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.errors import NotFound
from mspclaw.identity.active_directory import ActiveDirectory, ADSettings
from mspclaw.identity.aws_iam import AWSIAM, AWSSettings
from mspclaw.identity.base import Directory, IdentityNotConfigured
from mspclaw.identity.google import DIRECTORY_URL, TOKEN_URL, GoogleSettings, GoogleWorkspace
from mspclaw.identity.graph import GRAPH_URL, LOGIN_URL, GraphSettings, MicrosoftGraph
from mspclaw.tenancy.policy import ClientStack
from mspclaw.vault import service as vault
from mspclaw.vault.keys import Keyring

PROVIDERS = ("entra", "active_directory", "google_workspace", "aws_iam")
#: the stack field each provider needs
STACK_FIELD = {
    "entra": "entra_tenant_id",
    "active_directory": "ad_domain",
    "google_workspace": "google_customer_id",
    "aws_iam": "aws_account_id",
}
REQUIRED_SECRETS = {
    "entra": ("entra.client_id", "entra.client_secret"),
    "active_directory": ("ad.url", "ad.bind_user", "ad.bind_password"),
    "google_workspace": ("google.client_id", "google.client_secret", "google.refresh_token"),
    "aws_iam": ("aws.access_key_id", "aws.secret_access_key"),
}


def secret_name(client_id: uuid.UUID, key: str) -> str:
    """The vault name of one identity secret of one client."""
    return f"identity:{client_id}:{key}"


@dataclass(frozen=True)
class IdentityEndpoints:
    """Vendor URLs (simulators in tests) and TLS strictness for AD."""

    graph_url: str = GRAPH_URL
    login_url: str = LOGIN_URL
    google_directory_url: str = DIRECTORY_URL
    google_token_url: str = TOKEN_URL
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    #: only tests turn this off (a self-signed DC certificate); production pins ad.ca_pem instead
    ad_verify_tls: bool = True


async def resolve_directory(
    session: AsyncSession,
    ring: Keyring,
    *,
    client_id: uuid.UUID,
    client_name: str,
    stack: ClientStack,
    endpoints: IdentityEndpoints,
) -> Directory:
    """The client's directory, or IdentityNotConfigured naming exactly what to set."""
    provider = stack.identity_provider
    if provider is None:
        raise IdentityNotConfigured(
            f"client {client_name!r} has no identity provider configured: set stack.identity_provider to one of "
            f"{', '.join(PROVIDERS)} (and its id field), then store its credentials in the vault",
            detail={"client_id": str(client_id)},
        )
    anchor = getattr(stack, STACK_FIELD[provider])
    if not anchor:
        raise IdentityNotConfigured(
            f"client {client_name!r} uses {provider} but stack.{STACK_FIELD[provider]} is not set",
            detail={"client_id": str(client_id), "missing": f"stack.{STACK_FIELD[provider]}"},
        )
    values: dict[str, str] = {}
    for key in REQUIRED_SECRETS[provider]:
        try:
            values[key] = await vault.get_value(session, ring, name=secret_name(client_id, key))
        except NotFound:
            raise IdentityNotConfigured(
                f"client {client_name!r} uses {provider} but the vault has no secret {secret_name(client_id, key)!r}",
                detail={"client_id": str(client_id), "missing": secret_name(client_id, key)},
            ) from None
    if provider == "active_directory":
        try:
            ca_pem: str | None = await vault.get_value(session, ring, name=secret_name(client_id, "ad.ca_pem"))
        except NotFound:
            ca_pem = None  # validated against the system trust store instead
        return ActiveDirectory(
            ADSettings(
                url=values["ad.url"],
                domain=str(anchor),
                bind_user=values["ad.bind_user"],
                bind_password=values["ad.bind_password"],
                ca_pem=ca_pem,
                verify_tls=endpoints.ad_verify_tls,
            )
        )
    if provider == "entra":
        return MicrosoftGraph(
            GraphSettings(
                tenant_id=str(anchor),
                client_id=values["entra.client_id"],
                client_secret=values["entra.client_secret"],
                graph_url=endpoints.graph_url,
                login_url=endpoints.login_url,
            )
        )
    if provider == "google_workspace":
        return GoogleWorkspace(
            GoogleSettings(
                customer_id=str(anchor),
                client_id=values["google.client_id"],
                client_secret=values["google.client_secret"],
                refresh_token=values["google.refresh_token"],
                directory_url=endpoints.google_directory_url,
                token_url=endpoints.google_token_url,
            )
        )
    return AWSIAM(
        AWSSettings(
            access_key_id=values["aws.access_key_id"],
            secret_access_key=values["aws.secret_access_key"],
            region=endpoints.aws_region,
            endpoint_url=endpoints.aws_endpoint_url,
        )
    )
