"""Console pages: sign in (password + optional TOTP), sign out, and the dashboard; the loop's pages
(tickets, approvals) come from ``loop_pages`` under the same router."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from mspclaw.api.deps import SESSION_COOKIE, get_db, get_keyring
from mspclaw.audit import service as audit
from mspclaw.auth import service as auth
from mspclaw.auth.models import Technician
from mspclaw.console import loop_pages
from mspclaw.console.session import signed_in
from mspclaw.console.templating import templates
from mspclaw.database.base import utcnow
from mspclaw.database.session import tenant_session
from mspclaw.errors import MSPclawError
from mspclaw.tenancy.models import Client, Tenant

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "mspclaw_login_csrf"


def _cookie_args(request: Request) -> dict[str, Any]:
    settings = request.app.state.settings
    return {"httponly": True, "samesite": "strict", "secure": settings.cookies_secure, "path": "/"}


def _login_page(
    request: Request,
    error: str | None = None,
    email: str = "",
    status: int = 200,
    totp: bool = False,
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = templates.TemplateResponse(
        request,
        "login.html",
        {"csrf": token, "error": error, "email": email, "totp": totp},
        status_code=status,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=1800, **_cookie_args(request))
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request) -> HTMLResponse:
    return _login_page(request)


@router.post("/login", response_model=None)
async def login_submit(
    request: Request,
    email: str = Form(""),
    password: str = Form(""),
    totp: str = Form(""),
    csrf: str = Form(""),
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf):
        return _login_page(request, "Your sign-in form expired; please try again.", email, 400)
    settings = request.app.state.settings
    db = get_db(request)
    async with tenant_session(db.sessions, None) as session:
        try:
            tech = await auth.authenticate_password(
                session,
                email=email,
                password=password,
                totp_code=totp.strip() or None,
                keyring=get_keyring(request),
                max_failures=settings.login_max_failures,
                lockout_minutes=settings.login_lockout_minutes,
            )
        except auth.TotpRequired as exc:
            await session.commit()
            return _login_page(request, exc.message, email, 401, totp=True)
        except MSPclawError as exc:
            await session.commit()  # keep the failure count
            return _login_page(request, exc.message, email, exc.status_code)
        _login, token = await auth.create_login_session(session, tech=tech, hours=settings.session_hours)
        await audit.record(
            session,
            actor=auth.technician_principal(tech).actor,
            action="technician.login",
            target_type="technician",
            target_id=tech.id,
            tenant_id=tech.tenant_id,
            request_id=getattr(request.state, "request_id", None),
        )
        await session.commit()
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_hours * 3600, **_cookie_args(request))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout", response_model=None)
async def logout(request: Request, csrf: str = Form("")) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    db = get_db(request)
    if token:
        async with tenant_session(db.sessions, None) as session:
            found = await auth.resolve_login_session(session, token=token)
            if found is not None:
                login, tech = found
                if not secrets.compare_digest(login.csrf_token, csrf):
                    return RedirectResponse("/", status_code=303)
                login.revoked_at = utcnow()
                await audit.record(
                    session,
                    actor=auth.technician_principal(tech).actor,
                    action="technician.logout",
                    target_type="technician",
                    target_id=tech.id,
                    tenant_id=tech.tenant_id,
                )
                await session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/", response_model=None)
async def dashboard(request: Request) -> Response:
    me = await signed_in(request)
    if me is None:
        return RedirectResponse("/login", status_code=303)
    login, tech = me.login, me.technician
    async with tenant_session(get_db(request).sessions, tech.tenant_id) as session:
        tenant = await session.get(Tenant, tech.tenant_id)
        clients = (await session.scalars(select(Client).order_by(Client.name).limit(200))).all()
        technicians = (await session.scalars(select(Technician).order_by(Technician.email).limit(200))).all()
    return templates.TemplateResponse(
        request,
        "dashboard.html",
        {
            "me": tech,
            "tenant": tenant,
            "clients": clients,
            "technicians": technicians,
            "csrf": login.csrf_token,
        },
    )


router.include_router(loop_pages.router)
