"""Routes for caller verification, the technician's one-time reveal, and the user's view link.

``GET /v/{token}`` is the only unauthenticated route: whoever holds the link sees the secret
once; every later request (and every expired or unknown link) gets 410 Gone.
"""

from __future__ import annotations

import html
import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from mspclaw.api.deps import Ctx, context, get_db, get_keyring
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.audit import service as audit
from mspclaw.database.session import tenant_session
from mspclaw.identity import delivery, verification

router = APIRouter(tags=["Identity"])
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


class OtpStart(BaseModel):
    """Where the code goes is never a field: only the contact's own record decides."""

    model_config = ConfigDict(extra="forbid")

    client_id: uuid.UUID
    contact_id: uuid.UUID
    user: str = Field(min_length=1, max_length=256)
    method: Literal["otp_sms", "otp_email"]
    run_id: uuid.UUID | None = None


class OtpStarted(BaseModel):
    verification_id: uuid.UUID
    sent_to: str
    expires_at: str


class OtpCode(BaseModel):
    code: str = Field(min_length=4, max_length=12)


class Attestation(BaseModel):
    client_id: uuid.UUID
    user: str = Field(min_length=1, max_length=256)
    run_id: uuid.UUID | None = None
    reason: str = Field(min_length=10, max_length=2000)


class PushStart(BaseModel):
    client_id: uuid.UUID
    contact_id: uuid.UUID
    device_id: uuid.UUID
    user: str = Field(min_length=1, max_length=256)
    run_id: uuid.UUID | None = None


class VerificationRead(BaseModel):
    verification_id: uuid.UUID
    method: str
    status: str


class Revealed(BaseModel):
    user: str
    temporary_password: str


@router.post("/identity/verifications/otp", response_model=OtpStarted, responses=PROBLEM_RESPONSES)
async def start_otp(data: OtpStart, request: Request, ctx: Ctx = Depends(context("identity.write"))) -> OtpStarted:
    """Send a one-time code to the contact's phone or e-mail on record."""
    row, shown = await verification.start_otp(
        ctx.session,
        ctx.keyring,
        getattr(request.app.state, "identity_notifier", None),
        client_id=data.client_id,
        contact_id=data.contact_id,
        user=data.user,
        method=data.method,
        run_id=data.run_id,
        actor=ctx.principal.actor,
    )
    await ctx.commit()
    return OtpStarted(verification_id=row.id, sent_to=shown, expires_at=row.expires_at.isoformat())


@router.post(
    "/identity/verifications/{verification_id}/check", response_model=verification.OtpCheck, responses=PROBLEM_RESPONSES
)
async def check_otp(
    verification_id: uuid.UUID, data: OtpCode, ctx: Ctx = Depends(context("identity.write"))
) -> verification.OtpCheck:
    """Check the code the caller read out (each try counts, even a wrong one)."""
    result = await verification.check_otp(
        ctx.session, ctx.keyring, verification_id=verification_id, code=data.code, actor=ctx.principal.actor
    )
    await ctx.commit()
    return result


@router.post("/identity/verifications/attest", response_model=VerificationRead, responses=PROBLEM_RESPONSES)
async def attest(data: Attestation, ctx: Ctx = Depends(context("identity.write"))) -> VerificationRead:
    """A signed-in technician vouches for the caller, with the reason recorded."""
    row = await verification.attest(
        ctx.session,
        client_id=data.client_id,
        user=data.user,
        run_id=data.run_id,
        technician=ctx.principal.actor,
        reason=data.reason,
    )
    await ctx.commit()
    return VerificationRead(verification_id=row.id, method=row.method, status=row.status)


@router.post("/identity/verifications/push", response_model=VerificationRead, responses=PROBLEM_RESPONSES)
async def push(data: PushStart, request: Request, ctx: Ctx = Depends(context("identity.write"))) -> VerificationRead:
    """Ask the user to confirm on their own enrolled device, through the agent."""
    row = await verification.request_push(
        ctx.session,
        request.app.state.gateway.request_approval,
        client_id=data.client_id,
        contact_id=data.contact_id,
        device_id=data.device_id,
        user=data.user,
        run_id=data.run_id,
        actor=ctx.principal.actor,
    )
    await ctx.commit()
    return VerificationRead(verification_id=row.id, method=row.method, status=row.status)


@router.get("/identity/secret-views/{view_id}", response_model=Revealed, responses=PROBLEM_RESPONSES)
async def reveal(view_id: uuid.UUID, ctx: Ctx = Depends(context("identity.write"))) -> Revealed:
    """Show a temporary password to the technician once (then it is gone for everyone)."""
    row, plain = await delivery.open_for_technician(ctx.session, ctx.keyring, view_id=view_id)
    detail = {"via": "technician", "secret_view_id": str(row.id)}
    await ctx.audit("identity.secret_viewed", target_type="identity_user", target_id=row.user_ref, detail=detail)
    await ctx.commit()
    return Revealed(user=row.user_ref, temporary_password=plain)


_PAGE = """<!doctype html><html><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>{title}</title></head><body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">
<h1>{title}</h1>{body}</body></html>"""


@router.get("/v/{token}", response_class=HTMLResponse, include_in_schema=False)
async def view_secret(token: str, request: Request) -> HTMLResponse:
    """The user's one-time link: the temporary password once, then 410 Gone."""
    db = get_db(request)
    async with tenant_session(db.sessions, None) as session, session.begin():
        try:
            row, plain = await delivery.open_by_token(session, get_keyring(request), token=token[:200])
        except delivery.SecretGone as exc:
            gone = _PAGE.format(title="Link no longer valid", body=f"<p>{html.escape(exc.message)}</p>")
            return HTMLResponse(gone, status_code=410, headers=_NO_STORE)
        await audit.record(
            session,
            actor=audit.Actor("user", None, row.user_ref),
            action="identity.secret_viewed",
            target_type="identity_user",
            target_id=row.user_ref,
            detail={"via": "link", "secret_view_id": str(row.id)},
            tenant_id=row.tenant_id,
        )
    body = (
        f"<p>Temporary password for <b>{html.escape(row.user_ref)}</b>:</p>"
        f'<p style="font-size:1.6rem;font-family:monospace">{html.escape(plain)}</p>'
        "<p>This page will not show it again. You will be asked to choose a new password when you sign in.</p>"
    )
    return HTMLResponse(_PAGE.format(title="Your temporary password", body=body), headers=_NO_STORE)
