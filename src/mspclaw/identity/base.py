"""The one identity interface every directory backend implements, and its errors.

A ``Directory`` speaks one vendor protocol (LDAP, Graph, Admin SDK, IAM) for one client;
the identity tool backend maps catalog tools onto these operations.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, Field

from mspclaw.errors import MSPclawError


class IdentityError(MSPclawError):
    """The directory refused or failed an operation (message says which and why)."""

    code = "identity_error"
    status_code = 502


class IdentityNotConfigured(MSPclawError):
    """The client has no identity provider (or its credentials) configured."""

    code = "identity_not_configured"
    status_code = 409


class DirectoryUnsupported(MSPclawError):
    """The directory's API cannot do this operation (e.g. licences in on-prem AD)."""

    code = "identity_unsupported"
    status_code = 400


class UserNotFound(MSPclawError):
    """No account matches the user reference in this directory."""

    code = "identity_user_not_found"
    status_code = 404


class DirectoryUser(BaseModel):
    """What a lookup returns, in the same shape for every directory."""

    id: str
    user: str
    display_name: str | None = None
    enabled: bool
    locked: bool = False
    groups: list[str] = Field(default_factory=list)
    mfa_methods: list[str] = Field(default_factory=list)
    licenses: list[str] = Field(default_factory=list)
    manager: str | None = None
    forwarding_to: str | None = None
    password_last_set: str | None = None
    access_keys_active: int | None = None


class Directory(Protocol):
    """One client's directory. Operations raise UserNotFound / IdentityError / DirectoryUnsupported."""

    provider: str

    async def lookup_user(self, user: str) -> DirectoryUser: ...

    async def reset_password(self, user: str, password: str, *, force_change: bool) -> None: ...

    async def unlock_account(self, user: str) -> None: ...

    async def set_enabled(self, user: str, enabled: bool) -> None: ...

    async def add_group_member(self, user: str, group: str) -> None: ...

    async def remove_group_member(self, user: str, group: str) -> None: ...

    async def revoke_sessions(self, user: str) -> None: ...

    async def require_mfa_reregistration(self, user: str) -> int: ...

    async def set_license(self, user: str, sku: str, assigned: bool) -> None: ...

    async def set_mail_forwarding(self, user: str, forward_to: str | None, keep_copy: bool = True) -> None: ...

    async def aclose(self) -> None: ...


def unsupported(provider: str, operation: str, why: str) -> DirectoryUnsupported:
    """The error for an operation a provider's API does not offer."""
    return DirectoryUnsupported(
        f"{operation} is not available for {provider}: {why}", detail={"provider": provider, "operation": operation}
    )
