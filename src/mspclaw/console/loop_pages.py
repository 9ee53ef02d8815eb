"""Console pages for the closed loop: the tickets list, one ticket (triage, playbook, run steps,
notes written back) and the approvals inbox where a technician approves or rejects a step.

Decisions go through ``runs.flows.decide_approval`` — the function the API uses — so the same
permission check (``runs.approve``), four-eyes rule, expiry and audit event apply.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from mspclaw.api.deps import get_db
from mspclaw.console import queries
from mspclaw.console.session import SignedIn, signed_in
from mspclaw.console.templating import templates
from mspclaw.database.session import tenant_session
from mspclaw.errors import MSPclawError
from mspclaw.loop import flows as loop_flows
from mspclaw.runs import flows
from mspclaw.runs import service as runs
from mspclaw.runs.models import TERMINAL
from mspclaw.tenancy.models import Tenant

router = APIRouter(include_in_schema=False)
DECIDED = {"approved": "Approved: the run continues.", "denied": "Rejected: the run stops and escalates."}


def _page(
    request: Request, me: SignedIn, tenant: Tenant | None, name: str, status: int = 200, **values: Any
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"me": me.technician, "tenant": tenant, "csrf": me.csrf, "terminal": TERMINAL, **values},
        status_code=status,
    )


def _not_found(request: Request, me: SignedIn, tenant: Tenant | None, what: str) -> HTMLResponse:
    return _page(request, me, tenant, "not_found.html", status=404, what=what)


def _safe_next(value: str) -> str:
    """Only our own pages are valid places to return to after a decision."""
    if value == "/approvals" or (value.startswith("/tickets/") and "//" not in value and "\\" not in value):
        return value
    return "/approvals"


@router.get("/tickets", response_model=None)
async def tickets_page(request: Request) -> Response:
    me = await signed_in(request)
    if me is None:
        return RedirectResponse("/login", status_code=303)
    async with tenant_session(get_db(request).sessions, me.technician.tenant_id) as session:
        tenant = await session.get(Tenant, me.technician.tenant_id)
        rows = await queries.ticket_rows(session)
        waiting = len(await runs.list_approvals(session, status="pending", limit=200))
    return _page(request, me, tenant, "tickets.html", rows=rows, waiting=waiting)


async def _ticket(
    request: Request,
    me: SignedIn,
    ticket_id: str,
    *,
    flash: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    async with tenant_session(get_db(request).sessions, me.technician.tenant_id) as session:
        tenant = await session.get(Tenant, me.technician.tenant_id)
        try:
            page = await queries.ticket_page(session, ticket_id=uuid.UUID(ticket_id))
        except (ValueError, MSPclawError):
            return _not_found(request, me, tenant, f"ticket {ticket_id}")
    busy = any(r.status not in TERMINAL for r in page.runs) or not page.actions
    accepted = {a.key.removeprefix("accept:") for a in page.actions if a.key.startswith("accept:")}
    return _page(
        request,
        me,
        tenant,
        "ticket.html",
        status=status,
        page=page,
        refresh=busy and not page.pending and not error,
        flash=flash,
        error=error,
        here=f"/tickets/{page.ticket.id}",
        accepted=accepted,
        can_start="runs.start" in me.principal.permissions,
    )


@router.get("/tickets/{ticket_id}", response_model=None)
async def ticket_page(request: Request, ticket_id: str, decided: str = "", started: str = "") -> Response:
    me = await signed_in(request)
    if me is None:
        return RedirectResponse("/login", status_code=303)
    flash = DECIDED.get(decided) or (f"Started {started}: its steps appear below as they run." if started else None)
    return await _ticket(request, me, ticket_id, flash=flash)


@router.post("/tickets/{ticket_id}/suggestions/{action_id}/start", response_model=None)
async def start_suggestion(request: Request, ticket_id: str, action_id: str, csrf: str = Form("")) -> Response:
    """Start the playbook the loop suggested (``loop.flows.accept_suggestion``, as the API does)."""
    me = await signed_in(request)
    if me is None:
        return RedirectResponse("/login", status_code=303)
    if not secrets.compare_digest(me.csrf, csrf):
        return await _ticket(
            request, me, ticket_id, error="This form expired; reload the page and try again.", status=403
        )
    try:
        parsed = uuid.UUID(action_id)
    except ValueError:
        return await _ticket(request, me, ticket_id, error=f"suggestion {action_id} not found", status=404)
    async with tenant_session(get_db(request).sessions, me.technician.tenant_id) as session:
        try:
            action = await loop_flows.accept_suggestion(session, principal=me.principal, action_id=parsed)
            playbook = action.playbook_id or "the playbook"
            await session.commit()
        except MSPclawError as exc:
            await session.rollback()
            return await _ticket(request, me, ticket_id, error=exc.message, status=exc.status_code)
    return RedirectResponse(f"/tickets/{ticket_id}?started={playbook}", status_code=303)


async def _approvals(
    request: Request, me: SignedIn, *, error: str | None = None, flash: str | None = None, status: int = 200
) -> HTMLResponse:
    async with tenant_session(get_db(request).sessions, me.technician.tenant_id) as session:
        tenant = await session.get(Tenant, me.technician.tenant_id)
        rows = await queries.pending_approvals(session)
    can_approve = "runs.approve" in me.principal.permissions
    return _page(
        request,
        me,
        tenant,
        "approvals.html",
        status=status,
        rows=rows,
        error=error,
        flash=flash,
        can_approve=can_approve,
        refresh=not rows,  # watch for the next request; never reload a form being filled in
    )


@router.get("/approvals", response_model=None)
async def approvals_page(request: Request, decided: str = "") -> Response:
    me = await signed_in(request)
    if me is None:
        return RedirectResponse("/login", status_code=303)
    return await _approvals(request, me, flash=DECIDED.get(decided))


async def _decide(
    request: Request, approval_id: str, *, approve: bool, csrf: str, reason: str, next_page: str
) -> Response:
    me = await signed_in(request)
    if me is None:
        return RedirectResponse("/login", status_code=303)
    if not secrets.compare_digest(me.csrf, csrf):
        return await _approvals(request, me, error="This form expired; reload the page and try again.", status=403)
    try:
        parsed = uuid.UUID(approval_id)
    except ValueError:
        return await _approvals(request, me, error=f"approval {approval_id} not found", status=404)
    async with tenant_session(get_db(request).sessions, me.technician.tenant_id) as session:
        try:
            await flows.decide_approval(
                session,
                principal=me.principal,
                approval_id=parsed,
                approve=approve,
                reason=reason.strip()[:2000] or None,
            )
            await session.commit()
        except MSPclawError as exc:
            await session.rollback()
            return await _approvals(request, me, error=exc.message, status=exc.status_code)
    outcome = "approved" if approve else "denied"
    return RedirectResponse(f"{_safe_next(next_page)}?decided={outcome}", status_code=303)


@router.post("/approvals/{approval_id}/approve", response_model=None)
async def approve(
    request: Request, approval_id: str, csrf: str = Form(""), reason: str = Form(""), next: str = Form("/approvals")
) -> Response:
    return await _decide(request, approval_id, approve=True, csrf=csrf, reason=reason, next_page=next)


@router.post("/approvals/{approval_id}/deny", response_model=None)
async def deny(
    request: Request, approval_id: str, csrf: str = Form(""), reason: str = Form(""), next: str = Form("/approvals")
) -> Response:
    return await _decide(request, approval_id, approve=False, csrf=csrf, reason=reason, next_page=next)
