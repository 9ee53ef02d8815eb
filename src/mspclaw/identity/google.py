"""Google Workspace through the Admin SDK Directory API (directory/v1) with plain httpx.

Auth is OAuth 2.0 with the refresh-token grant of an admin-consented OAuth client; shapes
follow the Directory reference: users.update (password, changePasswordAtNextLogin,
suspended), users.signOut, twoStepVerification.turnOff, members.insert / members.delete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from mspclaw.identity.base import DirectoryUser, IdentityError, UserNotFound, unsupported
from mspclaw.identity.oauth import TokenSource, call

DIRECTORY_URL = "https://admin.googleapis.com/admin/directory/v1"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret


@dataclass(frozen=True)
class GoogleSettings:
    """The OAuth client and refresh token an admin granted; URLs change only for tests."""

    customer_id: str
    client_id: str
    client_secret: str
    refresh_token: str
    directory_url: str = DIRECTORY_URL
    token_url: str = TOKEN_URL


class GoogleWorkspace:
    """One Workspace customer."""

    provider = "google_workspace"

    def __init__(self, settings: GoogleSettings, http: httpx.AsyncClient | None = None) -> None:
        self._http = http or httpx.AsyncClient(timeout=30)
        self._owns_http = http is None
        self._base = settings.directory_url.rstrip("/")
        self._customer = settings.customer_id
        self._tokens = TokenSource(
            self._http,
            settings.token_url,
            {
                "grant_type": "refresh_token",
                "client_id": settings.client_id,
                "client_secret": settings.client_secret,
                "refresh_token": settings.refresh_token,
            },
        )

    async def _req(
        self, method: str, path: str, *, json: Any = None, params: Any = None, what: str = "", ok: tuple[int, ...] = ()
    ) -> Any:
        response = await call(self._http, self._tokens, method, self._base + path, json=json, params=params)
        if response.status_code in ok:
            return None
        if response.status_code == 404:
            raise UserNotFound(f"Google Workspace: {what or path} not found", detail={"path": path})
        if response.status_code >= 400:
            error = (response.json().get("error") or {}) if response.content else {}
            raise IdentityError(
                f"Google refused {what or path}: {error.get('message') or response.status_code}",
                detail={"status": response.status_code},
            )
        return response.json() if response.content else None

    @staticmethod
    def _u(user: str) -> str:
        return "/users/" + quote(user, safe="@")

    async def lookup_user(self, user: str) -> DirectoryUser:
        data = await self._req("GET", self._u(user), what=f"user {user}")
        groups = await self._req("GET", "/groups", params={"userKey": data["primaryEmail"]})
        return DirectoryUser(
            id=data["id"],
            user=data["primaryEmail"],
            display_name=(data.get("name") or {}).get("fullName"),
            enabled=not data.get("suspended", False),
            groups=sorted(g["email"] for g in groups.get("groups", [])),
            mfa_methods=["2sv"] if data.get("isEnrolledIn2Sv") else [],
        )

    async def reset_password(self, user: str, password: str, *, force_change: bool) -> None:
        body = {"password": password, "changePasswordAtNextLogin": force_change}
        await self._req("PUT", self._u(user), json=body, what="password reset")

    async def unlock_account(self, user: str) -> None:
        raise unsupported(self.provider, "unlock_account", "Workspace accounts are not locked out by failed sign-ins")

    async def set_enabled(self, user: str, enabled: bool) -> None:
        await self._req("PUT", self._u(user), json={"suspended": not enabled}, what="account state")

    async def add_group_member(self, user: str, group: str) -> None:
        # 409 "Member already exists": the wanted state, so not an error
        await self._req(
            "POST", f"/groups/{quote(group, safe='@')}/members", json={"email": user, "role": "MEMBER"}, ok=(409,)
        )

    async def remove_group_member(self, user: str, group: str) -> None:
        await self._req("DELETE", f"/groups/{quote(group, safe='@')}/members/{quote(user, safe='@')}", what="member")

    async def revoke_sessions(self, user: str) -> None:
        await self._req("POST", f"{self._u(user)}/signOut", what="sign-out")

    async def require_mfa_reregistration(self, user: str) -> int:
        data = await self._req("GET", self._u(user), what=f"user {user}")
        if not data.get("isEnrolledIn2Sv"):
            return 0
        await self._req("POST", f"{self._u(user)}/twoStepVerification/turnOff", what="2-step verification")
        return 1

    async def set_license(self, user: str, sku: str, assigned: bool) -> None:
        raise unsupported(self.provider, "licences", "Workspace licences use the Enterprise License Manager API")

    async def set_mail_forwarding(self, user: str, forward_to: str | None, keep_copy: bool = True) -> None:
        raise unsupported(self.provider, "mail forwarding", "forwarding is a Gmail API setting per mailbox")

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
