"""Local stand-ins for Microsoft Graph and the Google Admin SDK Directory API, for tests and demos.

Each is an ASGI app with in-memory state that follows the vendor's documented request and
response shapes (paths, bodies, status codes, error envelopes) and requires a bearer token
issued by its own OAuth token endpoint. Serve them with uvicorn and point the backends at them.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class SimulatorState:
    """Everything a simulator holds; tests read it to assert what the backend did."""

    client_id: str
    client_secret: str
    refresh_token: str = ""
    tokens: set[str] = field(default_factory=set)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    skus: list[dict[str, str]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)


def _bearer_ok(state: SimulatorState, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    return header.startswith("Bearer ") and header[7:] in state.tokens


def _issue(state: SimulatorState) -> dict[str, Any]:
    token = secrets.token_urlsafe(24)
    state.tokens.add(token)
    return {"token_type": "Bearer", "expires_in": 3599, "access_token": token}


# ---------------------------------------------------------------- Microsoft Graph


def _graph_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def graph_simulator(tenant_id: str, client_id: str, client_secret: str) -> tuple[FastAPI, SimulatorState]:
    """A Graph v1.0 + Entra token endpoint for one tenant; add users/groups via ``add_graph_user``."""
    state = SimulatorState(client_id=client_id, client_secret=client_secret)
    app = FastAPI()

    @app.middleware("http")
    async def auth(request: Request, call_next: Any) -> Response:
        state.requests.append((request.method, request.url.path))
        if request.url.path.startswith("/v1.0/") and not _bearer_ok(state, request):
            return _graph_error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
        response: Response = await call_next(request)
        return response

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request) -> JSONResponse:
        form = await request.form()
        if tenant != tenant_id:
            return JSONResponse({"error": "invalid_request", "error_description": "AADSTS90002: no tenant"}, 400)
        if (
            form.get("grant_type") != "client_credentials"
            or form.get("scope") != "https://graph.microsoft.com/.default"
        ):
            return JSONResponse({"error": "invalid_request", "error_description": "AADSTS900144: bad grant"}, 400)
        if form.get("client_id") != state.client_id or form.get("client_secret") != state.client_secret:
            return JSONResponse({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid secret."}, 401)
        return JSONResponse(_issue(state))

    def find(ref: str) -> dict[str, Any] | None:
        return state.users.get(ref) or next(
            (u for u in state.users.values() if u["userPrincipalName"].lower() == ref.lower()), None
        )

    def not_found(ref: str) -> JSONResponse:
        return _graph_error(404, "Request_ResourceNotFound", f"Resource '{ref}' does not exist.")

    @app.get("/v1.0/users/{ref}")
    async def get_user(ref: str) -> JSONResponse:
        user = find(ref)
        if user is None:
            return not_found(ref)
        public = ("id", "userPrincipalName", "displayName", "accountEnabled", "assignedLicenses")
        body = {k: user[k] for k in public}
        body["lastPasswordChangeDateTime"] = user["lastPasswordChangeDateTime"]
        return JSONResponse(body)

    @app.patch("/v1.0/users/{ref}")
    async def patch_user(ref: str, request: Request) -> Response:
        user = find(ref)
        if user is None:
            return not_found(ref)
        body = await request.json()
        if "passwordProfile" in body:
            profile = body["passwordProfile"]
            if len(profile.get("password", "")) < 8:
                return _graph_error(400, "Request_BadRequest", "The specified password does not comply.")
            user["password"] = profile["password"]
            user["forceChangePasswordNextSignIn"] = bool(profile.get("forceChangePasswordNextSignIn"))
            user["lastPasswordChangeDateTime"] = _now()
        if "accountEnabled" in body:
            user["accountEnabled"] = bool(body["accountEnabled"])
        return Response(status_code=204)

    @app.post("/v1.0/users/{ref}/revokeSignInSessions")
    async def revoke(ref: str) -> JSONResponse:
        user = find(ref)
        if user is None:
            return not_found(ref)
        user["signInSessionsValidFromDateTime"] = _now()
        return JSONResponse({"@odata.context": "$metadata#Edm.Boolean", "value": True})

    @app.get("/v1.0/users/{ref}/memberOf")
    async def member_of(ref: str) -> JSONResponse:
        user = find(ref)
        if user is None:
            return not_found(ref)
        value = [
            {"@odata.type": "#microsoft.graph.group", "id": g["id"], "displayName": g["displayName"]}
            for g in state.groups.values()
            if user["id"] in g["members"]
        ]
        return JSONResponse({"value": value})

    @app.get("/v1.0/users/{ref}/manager")
    async def manager(ref: str) -> JSONResponse:
        user = find(ref)
        boss = find(user["manager"]) if user and user.get("manager") else None
        if boss is None:
            return not_found("manager")
        return JSONResponse({"id": boss["id"], "userPrincipalName": boss["userPrincipalName"]})

    @app.get("/v1.0/users/{ref}/authentication/methods")
    async def methods(ref: str) -> JSONResponse:
        user = find(ref)
        if user is None:
            return not_found(ref)
        password = {"@odata.type": "#microsoft.graph.passwordAuthenticationMethod", "id": "28c10230-6103-485e-b985"}
        return JSONResponse({"value": [password, *user["methods"]]})

    @app.delete("/v1.0/users/{ref}/authentication/{collection}/{method_id}")
    async def delete_method(ref: str, collection: str, method_id: str) -> Response:
        user = find(ref)
        if user is None:
            return not_found(ref)
        kinds = {
            "phoneMethods": "phoneAuthenticationMethod",
            "microsoftAuthenticatorMethods": "microsoftAuthenticatorAuthenticationMethod",
            "fido2Methods": "fido2AuthenticationMethod",
            "softwareOathMethods": "softwareOathAuthenticationMethod",
            "emailMethods": "emailAuthenticationMethod",
        }
        suffix = "." + kinds.get(collection, "?")
        match = [m for m in user["methods"] if m["id"] == method_id and m["@odata.type"].endswith(suffix)]
        if not match:
            return not_found(method_id)
        user["methods"].remove(match[0])
        return Response(status_code=204)

    @app.get("/v1.0/groups")
    async def list_groups(request: Request) -> JSONResponse:
        flt = request.query_params.get("$filter", "")
        name = flt.split("eq '", 1)[1][:-1].replace("''", "'") if "eq '" in flt else None
        value = [
            {"id": g["id"], "displayName": g["displayName"]}
            for g in state.groups.values()
            if name is None or g["displayName"] == name
        ]
        return JSONResponse({"value": value})

    @app.post("/v1.0/groups/{gid}/members/$ref")
    async def add_member(gid: str, request: Request) -> Response:
        group = state.groups.get(gid)
        if group is None:
            return not_found(gid)
        ref = (await request.json()).get("@odata.id", "")
        uid = ref.rsplit("/", 1)[-1]
        if uid not in state.users:
            return not_found(uid)
        if uid in group["members"]:
            return _graph_error(400, "Request_BadRequest", "One or more added object references already exist.")
        group["members"].add(uid)
        return Response(status_code=204)

    @app.delete("/v1.0/groups/{gid}/members/{uid}/$ref")
    async def remove_member(gid: str, uid: str) -> Response:
        group = state.groups.get(gid)
        if group is None or uid not in group["members"]:
            return not_found(uid)
        group["members"].discard(uid)
        return Response(status_code=204)

    @app.get("/v1.0/subscribedSkus")
    async def subscribed() -> JSONResponse:
        return JSONResponse({"value": state.skus})

    @app.post("/v1.0/users/{ref}/assignLicense")
    async def assign_license(ref: str, request: Request) -> JSONResponse:
        user = find(ref)
        if user is None:
            return not_found(ref)
        body = await request.json()
        known = {s["skuId"] for s in state.skus}
        for lic in body.get("addLicenses", []):
            if lic["skuId"] not in known:
                return _graph_error(400, "Request_BadRequest", "License is not valid.")
            if all(a["skuId"] != lic["skuId"] for a in user["assignedLicenses"]):
                user["assignedLicenses"].append({"skuId": lic["skuId"], "disabledPlans": lic.get("disabledPlans", [])})
        remove = set(body.get("removeLicenses", []))
        user["assignedLicenses"] = [a for a in user["assignedLicenses"] if a["skuId"] not in remove]
        return await get_user(ref)

    @app.get("/v1.0/users/{ref}/mailFolders/inbox/messageRules")
    async def rules(ref: str) -> JSONResponse:
        user = find(ref)
        if user is None:
            return not_found(ref)
        return JSONResponse({"value": user["rules"]})

    @app.post("/v1.0/users/{ref}/mailFolders/inbox/messageRules")
    async def add_rule(ref: str, request: Request) -> JSONResponse:
        user = find(ref)
        if user is None:
            return not_found(ref)
        rule = {**(await request.json()), "id": secrets.token_urlsafe(8)}
        user["rules"].append(rule)
        return JSONResponse(rule, status_code=201)

    @app.delete("/v1.0/users/{ref}/mailFolders/inbox/messageRules/{rule_id}")
    async def delete_rule(ref: str, rule_id: str) -> Response:
        user = find(ref)
        if user is None or all(r["id"] != rule_id for r in user["rules"]):
            return not_found(rule_id)
        user["rules"] = [r for r in user["rules"] if r["id"] != rule_id]
        return Response(status_code=204)

    return app, state


def add_graph_user(state: SimulatorState, upn: str, *, mfa: int = 0, manager: str | None = None) -> dict[str, Any]:
    """Seed an enabled Entra user with ``mfa`` registered authenticator methods."""
    methods = [
        {"@odata.type": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod", "id": str(uuid.uuid4())}
        for _ in range(mfa)
    ]
    user: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "userPrincipalName": upn,
        "displayName": upn.split("@")[0].title(),
        "accountEnabled": True,
        "assignedLicenses": [],
        "lastPasswordChangeDateTime": None,
        "methods": methods,
        "rules": [],
        "manager": manager,
    }
    state.users[user["id"]] = user
    return user


def add_graph_group(state: SimulatorState, name: str) -> dict[str, Any]:
    """Seed a security group."""
    group: dict[str, Any] = {"id": str(uuid.uuid4()), "displayName": name, "members": set()}
    state.groups[group["id"]] = group
    return group


# ---------------------------------------------------------------- Google Directory API


def _google_error(status: int, message: str, reason: str = "notFound") -> JSONResponse:
    errors = [{"domain": "global", "reason": reason, "message": message}]
    return JSONResponse({"error": {"code": status, "message": message, "errors": errors}}, status_code=status)


def google_simulator(client_id: str, client_secret: str, refresh_token: str) -> tuple[FastAPI, SimulatorState]:
    """Directory API v1 under /admin/directory/v1 and an OAuth token endpoint at /token."""
    state = SimulatorState(client_id=client_id, client_secret=client_secret, refresh_token=refresh_token)
    app = FastAPI()
    base = "/admin/directory/v1"

    @app.middleware("http")
    async def auth(request: Request, call_next: Any) -> Response:
        state.requests.append((request.method, request.url.path))
        if request.url.path.startswith(base) and not _bearer_ok(state, request):
            return _google_error(401, "Request had invalid authentication credentials.", "authError")
        response: Response = await call_next(request)
        return response

    @app.post("/token")
    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, 400)
        if form.get("client_id") != state.client_id or form.get("client_secret") != state.client_secret:
            return JSONResponse({"error": "invalid_client", "error_description": "Unauthorized"}, 401)
        if form.get("refresh_token") != state.refresh_token:
            return JSONResponse({"error": "invalid_grant", "error_description": "Bad Request"}, 400)
        return JSONResponse({**_issue(state), "scope": "https://www.googleapis.com/auth/admin.directory.user"})

    def find(ref: str) -> dict[str, Any] | None:
        return state.users.get(ref) or next(
            (u for u in state.users.values() if u["primaryEmail"].lower() == ref.lower()), None
        )

    def public(user: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in user.items() if k != "password"} | {"kind": "admin#directory#user"}

    @app.get(base + "/users/{ref}")
    async def get_user(ref: str) -> JSONResponse:
        user = find(ref)
        return JSONResponse(public(user)) if user else _google_error(404, "Resource Not Found: userKey")

    @app.put(base + "/users/{ref}")
    async def update_user(ref: str, request: Request) -> JSONResponse:
        user = find(ref)
        if user is None:
            return _google_error(404, "Resource Not Found: userKey")
        body = await request.json()
        if "password" in body:
            if not 8 <= len(body["password"]) <= 100:
                return _google_error(400, "Invalid Password", "invalid")
            user["password"] = body["password"]
        for key in ("changePasswordAtNextLogin", "suspended"):
            if key in body:
                user[key] = bool(body[key])
        return JSONResponse(public(user))

    @app.post(base + "/users/{ref}/signOut")
    async def sign_out(ref: str) -> Response:
        user = find(ref)
        if user is None:
            return _google_error(404, "Resource Not Found: userKey")
        user["signedOutAt"] = _now()
        return Response(status_code=204)

    @app.post(base + "/users/{ref}/twoStepVerification/turnOff")
    async def turn_off(ref: str) -> Response:
        user = find(ref)
        if user is None:
            return _google_error(404, "Resource Not Found: userKey")
        user["isEnrolledIn2Sv"] = False
        return Response(status_code=204)

    @app.get(base + "/groups")
    async def groups(userKey: str) -> JSONResponse:
        found = [
            {"kind": "admin#directory#group", "id": g["id"], "email": g["email"], "name": g["name"]}
            for g in state.groups.values()
            if userKey.lower() in g["members"]
        ]
        return JSONResponse({"kind": "admin#directory#groups", "groups": found})

    def group_of(ref: str) -> dict[str, Any] | None:
        return state.groups.get(ref) or next((g for g in state.groups.values() if g["email"] == ref.lower()), None)

    @app.post(base + "/groups/{ref}/members")
    async def insert_member(ref: str, request: Request) -> JSONResponse:
        group = group_of(ref)
        if group is None:
            return _google_error(404, "Resource Not Found: groupKey")
        body = await request.json()
        email = str(body.get("email", "")).lower()
        if find(email) is None:
            return _google_error(404, "Resource Not Found: memberKey")
        if email in group["members"]:
            return _google_error(409, "Member already exists.", "duplicate")
        group["members"].add(email)
        member = {"kind": "admin#directory#member", "email": email, "role": body.get("role", "MEMBER")}
        return JSONResponse(member | {"type": "USER", "status": "ACTIVE"})

    @app.delete(base + "/groups/{ref}/members/{member}")
    async def delete_member(ref: str, member: str) -> Response:
        group = group_of(ref)
        if group is None or member.lower() not in group["members"]:
            return _google_error(404, "Resource Not Found: memberKey")
        group["members"].discard(member.lower())
        return Response(status_code=204)

    return app, state


def add_google_user(state: SimulatorState, email: str, *, two_sv: bool = False) -> dict[str, Any]:
    """Seed an active Workspace user."""
    user: dict[str, Any] = {
        "id": str(uuid.uuid4().int)[:21],
        "primaryEmail": email.lower(),
        "name": {"fullName": email.split("@")[0].title()},
        "suspended": False,
        "changePasswordAtNextLogin": False,
        "isEnrolledIn2Sv": two_sv,
        "password": None,
    }
    state.users[user["id"]] = user
    return user


def add_google_group(state: SimulatorState, email: str) -> dict[str, Any]:
    """Seed a group."""
    group: dict[str, Any] = {
        "id": uuid.uuid4().hex[:15],
        "email": email.lower(),
        "name": email.split("@")[0],
        "members": set(),
    }
    state.groups[group["id"]] = group
    return group
