"""Microsoft Entra ID / Microsoft 365 through Microsoft Graph v1.0 with plain httpx.

App-only auth: the client-credentials grant against the client tenant's token endpoint.
Shapes follow the Graph reference: PATCH /users/{id} (passwordProfile, accountEnabled),
POST /users/{id}/revokeSignInSessions, groups/{id}/members/$ref, the typed
/authentication/*Methods collections, assignLicense, and inbox message rules for forwarding
(mailboxSettings has no forwarding field).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from mspclaw.identity.base import DirectoryUser, IdentityError, UserNotFound, unsupported
from mspclaw.identity.oauth import TokenSource, call

GRAPH_URL = "https://graph.microsoft.com/v1.0"
LOGIN_URL = "https://login.microsoftonline.com"
FORWARD_RULE = "MSPclaw forwarding"
# @odata.type of a registered method -> its collection under /users/{id}/authentication
METHOD_COLLECTIONS = {
    "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod": "microsoftAuthenticatorMethods",
    "#microsoft.graph.phoneAuthenticationMethod": "phoneMethods",
    "#microsoft.graph.fido2AuthenticationMethod": "fido2Methods",
    "#microsoft.graph.softwareOathAuthenticationMethod": "softwareOathMethods",
    "#microsoft.graph.emailAuthenticationMethod": "emailMethods",
    "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod": "windowsHelloForBusinessMethods",
    "#microsoft.graph.temporaryAccessPassAuthenticationMethod": "temporaryAccessPassMethods",
}


@dataclass(frozen=True)
class GraphSettings:
    """The app registration in the client's tenant; the URLs change only for tests."""

    tenant_id: str
    client_id: str
    client_secret: str
    graph_url: str = GRAPH_URL
    login_url: str = LOGIN_URL


class MicrosoftGraph:
    """One Entra tenant."""

    provider = "entra"

    def __init__(self, settings: GraphSettings, http: httpx.AsyncClient | None = None) -> None:
        self._http = http or httpx.AsyncClient(timeout=30)
        self._owns_http = http is None
        self._base = settings.graph_url.rstrip("/")
        self._tokens = TokenSource(
            self._http,
            f"{settings.login_url.rstrip('/')}/{quote(settings.tenant_id)}/oauth2/v2.0/token",
            {
                "grant_type": "client_credentials",
                "client_id": settings.client_id,
                "client_secret": settings.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )

    async def _req(self, method: str, path: str, *, json: Any = None, params: Any = None, what: str = "") -> Any:
        response = await call(self._http, self._tokens, method, self._base + path, json=json, params=params)
        if response.status_code == 404:
            raise UserNotFound(f"Graph: {what or path} not found", detail={"path": path})
        if response.status_code >= 400:
            error = (response.json().get("error") or {}) if response.content else {}
            raise IdentityError(
                f"Graph refused {what or path}: {error.get('message') or response.status_code}",
                detail={"status": response.status_code, "code": error.get("code")},
            )
        return response.json() if response.content else None

    @staticmethod
    def _u(user: str) -> str:
        return "/users/" + quote(user, safe="@")

    async def _group_id(self, group: str) -> str:
        escaped = group.replace("'", "''")
        body = await self._req("GET", "/groups", params={"$filter": f"displayName eq '{escaped}'"}, what="group")
        if not body["value"]:
            raise UserNotFound(f"no Entra group named {group!r}", detail={"group": group})
        return str(body["value"][0]["id"])

    async def lookup_user(self, user: str) -> DirectoryUser:
        select = "id,userPrincipalName,displayName,accountEnabled,assignedLicenses,lastPasswordChangeDateTime"
        data = await self._req("GET", self._u(user), params={"$select": select}, what=f"user {user}")
        uid = data["id"]
        groups = await self._req("GET", f"/users/{uid}/memberOf")
        methods = await self._req("GET", f"/users/{uid}/authentication/methods")
        skus = {s["skuId"]: s["skuPartNumber"] for s in (await self._req("GET", "/subscribedSkus"))["value"]}
        try:
            manager = (await self._req("GET", f"/users/{uid}/manager")).get("userPrincipalName")
        except UserNotFound:
            manager = None
        rules = await self._req("GET", f"/users/{uid}/mailFolders/inbox/messageRules")
        forwarding = next(
            (
                r["actions"]["forwardTo"][0]["emailAddress"]["address"]
                for r in rules["value"]
                if r.get("displayName") == FORWARD_RULE and r.get("actions", {}).get("forwardTo")
            ),
            None,
        )
        return DirectoryUser(
            id=uid,
            user=data["userPrincipalName"],
            display_name=data.get("displayName"),
            enabled=bool(data.get("accountEnabled")),
            groups=sorted(g.get("displayName") or g["id"] for g in groups["value"]),
            mfa_methods=[
                m["@odata.type"].rsplit(".", 1)[-1] for m in methods["value"] if m["@odata.type"] in METHOD_COLLECTIONS
            ],
            licenses=sorted(skus.get(lic["skuId"], lic["skuId"]) for lic in data.get("assignedLicenses", [])),
            manager=manager,
            forwarding_to=forwarding,
            password_last_set=data.get("lastPasswordChangeDateTime"),
        )

    async def reset_password(self, user: str, password: str, *, force_change: bool) -> None:
        profile = {"password": password, "forceChangePasswordNextSignIn": force_change}
        await self._req("PATCH", self._u(user), json={"passwordProfile": profile}, what="password reset")

    async def unlock_account(self, user: str) -> None:
        raise unsupported(
            self.provider, "unlock_account", "Entra smart lockout clears itself; reset the password or revoke sessions"
        )

    async def set_enabled(self, user: str, enabled: bool) -> None:
        await self._req("PATCH", self._u(user), json={"accountEnabled": enabled}, what="account state")

    async def add_group_member(self, user: str, group: str) -> None:
        gid = await self._group_id(group)
        uid = (await self._req("GET", self._u(user), params={"$select": "id"}, what=f"user {user}"))["id"]
        ref = {"@odata.id": f"{GRAPH_URL}/directoryObjects/{uid}"}
        response = await call(self._http, self._tokens, "POST", f"{self._base}/groups/{gid}/members/$ref", json=ref)
        # Graph answers 400 "One or more added object references already exist": already a member
        if response.status_code == 400 and "already exist" in response.text:
            return
        if response.status_code >= 400:
            raise IdentityError(f"Graph refused the group change: {response.status_code}")

    async def remove_group_member(self, user: str, group: str) -> None:
        gid = await self._group_id(group)
        uid = (await self._req("GET", self._u(user), params={"$select": "id"}, what=f"user {user}"))["id"]
        await self._req("DELETE", f"/groups/{gid}/members/{uid}/$ref", what="group membership")

    async def revoke_sessions(self, user: str) -> None:
        await self._req("POST", f"{self._u(user)}/revokeSignInSessions", what="session revocation")

    async def require_mfa_reregistration(self, user: str) -> int:
        methods = await self._req("GET", f"{self._u(user)}/authentication/methods", what=f"user {user}")
        removed = 0
        for method in methods["value"]:
            collection = METHOD_COLLECTIONS.get(method["@odata.type"])
            if collection is None:
                continue  # the password method cannot be deleted, and is not MFA
            await self._req("DELETE", f"{self._u(user)}/authentication/{collection}/{method['id']}", what="method")
            removed += 1
        return removed

    async def set_license(self, user: str, sku: str, assigned: bool) -> None:
        skus = (await self._req("GET", "/subscribedSkus"))["value"]
        sku_id = next((s["skuId"] for s in skus if s["skuPartNumber"].lower() == sku.lower()), None)
        if sku_id is None:
            raise UserNotFound(f"the tenant has no subscription for licence {sku!r}", detail={"sku": sku})
        body = {"addLicenses": [{"skuId": sku_id, "disabledPlans": []}], "removeLicenses": []}
        if not assigned:
            body = {"addLicenses": [], "removeLicenses": [sku_id]}
        await self._req("POST", f"{self._u(user)}/assignLicense", json=body, what="licence change")

    async def set_mail_forwarding(self, user: str, forward_to: str | None, keep_copy: bool = True) -> None:
        rules_path = f"{self._u(user)}/mailFolders/inbox/messageRules"
        for rule in (await self._req("GET", rules_path, what=f"mailbox of {user}"))["value"]:
            if rule.get("displayName") == FORWARD_RULE:
                await self._req("DELETE", f"{rules_path}/{rule['id']}")
        if forward_to is None:
            return
        actions: dict[str, Any] = {
            "forwardTo": [{"emailAddress": {"address": forward_to}}],
            "stopProcessingRules": False,
        }
        if not keep_copy:
            actions["delete"] = True
        rule = {"displayName": FORWARD_RULE, "sequence": 1, "isEnabled": True, "conditions": {}, "actions": actions}
        await self._req("POST", rules_path, json=rule, what="forwarding rule")

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()
