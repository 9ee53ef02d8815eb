"""Request context: who is calling, a session bound to their tenant, and audit in one place.

Routes declare the permission they need with ``Depends(context("clients.write"))`` and get a
:class:`Ctx`; nothing else authenticates, authorises or scopes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.audit import service as audit
from mspclaw.auth import service as auth
from mspclaw.auth.principal import Principal
from mspclaw.config import Settings
from mspclaw.database.core import Database
from mspclaw.database.session import tenant_session
from mspclaw.errors import PermissionDenied, Unauthenticated
from mspclaw.vault.keys import Keyring, KeyringProvider

SESSION_COOKIE = "mspclaw_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_keyring(request: Request) -> Keyring:
    provider: KeyringProvider = request.app.state.keys
    return provider.current()


async def authenticate(request: Request) -> Principal:
    """The caller's principal from a Bearer API key or a console session cookie."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    db = get_db(request)
    header = request.headers.get("authorization", "")
    principal: Principal | None = None
    async with tenant_session(db.sessions, None) as session:
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated("use 'Authorization: Bearer <API key>'")
            principal = await auth.resolve_api_key(session, presented=token.strip())
            if principal is None:
                raise Unauthenticated("the API key is unknown, revoked or expired")
        else:
            cookie = request.cookies.get(SESSION_COOKIE)
            if cookie:
                found = await auth.resolve_login_session(session, token=cookie)
                if found is not None:
                    login, tech = found
                    if request.method not in SAFE_METHODS and request.headers.get(CSRF_HEADER) != login.csrf_token:
                        raise PermissionDenied("missing or wrong CSRF token (send the X-CSRF-Token header)")
                    principal = auth.technician_principal(tech)
        await session.commit()
    if principal is None:
        raise Unauthenticated("sign in, or send 'Authorization: Bearer <API key>'")
    request.state.principal = principal
    return principal


@dataclass
class Ctx:
    """Everything a route needs: principal, tenant-bound session, request id, keyring."""

    principal: Principal
    session: AsyncSession
    request_id: str
    request: Request

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.principal.tenant_id

    @property
    def keyring(self) -> Keyring:
        return get_keyring(self.request)

    async def audit(
        self,
        action: str,
        *,
        target_type: str | None = None,
        target_id: Any = None,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Record an audit event in this request's transaction."""
        await audit.record(
            self.session,
            actor=self.principal.actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            before=before,
            after=after,
            detail=detail,
            request_id=self.request_id,
        )

    async def commit(self) -> None:
        await self.session.commit()


def context(permission: str) -> Callable[..., Any]:
    """Dependency factory: authenticate, require ``permission``, open a tenant-bound session."""

    async def dependency(request: Request, principal: Principal = Depends(authenticate)) -> AsyncIterator[Ctx]:
        principal.require(permission)
        db = get_db(request)
        async with tenant_session(db.sessions, principal.tenant_id) as session:
            try:
                yield Ctx(principal, session, getattr(request.state, "request_id", ""), request)
            finally:
                if session.in_transaction():
                    await session.rollback()

    dependency.__name__ = f"context_{permission.replace('.', '_')}"
    return dependency


class Paging:
    """``limit``/``offset`` query parameters shared by every list route."""

    def __init__(
        self,
        limit: int = Query(50, ge=1, le=500, description="Items per page (1-500)."),
        offset: int = Query(0, ge=0, le=10_000_000, description="Items to skip."),
    ) -> None:
        self.limit = limit
        self.offset = offset
