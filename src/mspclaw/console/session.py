"""The signed-in technician of a console request (session cookie), shared by every page."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from mspclaw.api.deps import SESSION_COOKIE, get_db
from mspclaw.auth import service as auth
from mspclaw.auth.models import LoginSession, Technician
from mspclaw.auth.principal import Principal
from mspclaw.database.session import tenant_session


@dataclass
class SignedIn:
    """Who is looking at the page, and the session's CSRF token for its forms."""

    login: LoginSession
    technician: Technician

    @property
    def csrf(self) -> str:
        return self.login.csrf_token

    @property
    def principal(self) -> Principal:
        return auth.technician_principal(self.technician)


async def signed_in(request: Request) -> SignedIn | None:
    """The technician behind the session cookie, or None (not signed in, expired, revoked)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    async with tenant_session(get_db(request).sessions, None) as session:
        found = await auth.resolve_login_session(session, token=token)
    if found is None:
        return None
    login, tech = found
    return SignedIn(login, tech)
