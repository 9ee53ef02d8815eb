"""Routes: what the loop decided for a ticket, where it sends escalations (notification targets,
deliveries), per-connection write-back settings, end-user feedback, and success statistics.

``/feedback/{token}`` is unauthenticated on purpose: the end user's signed, expiring link from the
public reply. GET only shows the question (link scanners open links); POST records the answer.
"""

from __future__ import annotations

import html
import uuid
from datetime import UTC, datetime
from typing import get_args

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from mspclaw.api.deps import Ctx, context, get_db, get_keyring
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.audit.service import Actor
from mspclaw.database.session import tenant_session
from mspclaw.errors import Conflict, NotFound
from mspclaw.loop import feedback, flows, notify, stats
from mspclaw.loop.models import (
    ConnectionLoopSettings,
    FeedbackAnswer,
    FeedbackCreate,
    FeedbackRead,
    LoopAction,
    LoopActionRead,
    NotificationRead,
    NotifyTargetRead,
    NotifyTargetSet,
)
from mspclaw.runs.models import Run
from mspclaw.sync import service as connections

router = APIRouter(tags=["Loop"])


@router.get("/loop/actions", response_model=list[LoopActionRead], responses=PROBLEM_RESPONSES)
async def list_actions(
    ctx: Ctx = Depends(context("tickets.read")),
    ticket_id: uuid.UUID | None = Query(None, description="Only this ticket's decisions."),
    limit: int = Query(100, ge=1, le=500),
) -> list[LoopActionRead]:
    """The loop's decisions, newest first."""
    query = select(LoopAction).order_by(LoopAction.created_at.desc()).limit(limit)
    if ticket_id is not None:
        query = query.where(LoopAction.ticket_id == ticket_id)
    return [LoopActionRead.model_validate(a) for a in (await ctx.session.scalars(query)).all()]


@router.post("/loop/actions/{action_id}/start", response_model=LoopActionRead, responses=PROBLEM_RESPONSES)
async def start_suggestion(action_id: uuid.UUID, ctx: Ctx = Depends(context("runs.start"))) -> LoopActionRead:
    """Start the playbook the loop suggested for a ticket (as you; approvals still apply)."""
    action = await flows.accept_suggestion(ctx.session, principal=ctx.principal, action_id=action_id)
    read = LoopActionRead.model_validate(action)
    await ctx.commit()
    return read


@router.get("/stats", response_model=stats.Stats, responses=PROBLEM_RESPONSES)
async def get_stats(
    ctx: Ctx = Depends(context("runs.read")),
    since: datetime | None = Query(
        None, description="Only runs created at or after this time (ISO 8601; UTC if no zone)."
    ),
) -> stats.Stats:
    """Success rates per playbook and per client: outcomes, auto vs approved, feedback, median time to resolution."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return await stats.compute(ctx.session, since=since)


# ---------------------------------------------------------------- notification targets


@router.post("/loop/notify-targets", response_model=NotifyTargetRead, responses=PROBLEM_RESPONSES)
async def set_notify_target(
    body: NotifyTargetSet, response: Response, ctx: Ctx = Depends(context("loop.configure"))
) -> NotifyTargetRead:
    """Create or replace (by name) where escalations and SLA warnings go; the URL is kept in the vault only."""
    target, created = await notify.set_target(ctx.session, ctx.keyring, data=body)
    await ctx.audit(
        "loop.notify_target_set",
        target_type="notify_target",
        target_id=target.id,
        after={
            "name": target.name,
            "scheme": target.scheme,
            "technician_email": target.technician_email,
            "events": target.events,
            "enabled": target.enabled,
        },
    )
    await ctx.commit()
    response.status_code = 201 if created else 200
    return NotifyTargetRead.model_validate(target)


@router.get("/loop/notify-targets", response_model=list[NotifyTargetRead], responses=PROBLEM_RESPONSES)
async def list_notify_targets(ctx: Ctx = Depends(context("loop.configure"))) -> list[NotifyTargetRead]:
    """The tenant's notification targets (scheme only: the URL never leaves the vault)."""
    return [NotifyTargetRead.model_validate(t) for t in await notify.list_targets(ctx.session)]


@router.delete("/loop/notify-targets/{target_id}", response_model=NotifyTargetRead, responses=PROBLEM_RESPONSES)
async def delete_notify_target(target_id: uuid.UUID, ctx: Ctx = Depends(context("loop.configure"))) -> NotifyTargetRead:
    """Remove a target and its vault secret."""
    target = await notify.delete_target(ctx.session, target_id=target_id)
    read = NotifyTargetRead.model_validate(target)
    await ctx.audit("loop.notify_target_deleted", target_type="notify_target", target_id=target_id)
    await ctx.commit()
    return read


@router.post("/loop/notify-targets/{target_id}/test", response_model=NotificationRead, responses=PROBLEM_RESPONSES)
async def test_notify_target(target_id: uuid.UUID, ctx: Ctx = Depends(context("loop.configure"))) -> NotificationRead:
    """Send a test message now; the delivery record says whether it arrived at the service."""
    target = await notify.get_target_or_raise(ctx.session, target_id=target_id)
    delivery = await notify.send(
        ctx.session,
        ctx.keyring,
        target=target,
        event="test",
        message=notify.Message(
            "MSPclaw test notification", f"Escalations for this tenant will arrive here ({target.name})."
        ),
    )
    await ctx.commit()
    return NotificationRead.model_validate(delivery)


@router.get("/loop/notifications", response_model=list[NotificationRead], responses=PROBLEM_RESPONSES)
async def list_notifications(
    ctx: Ctx = Depends(context("tickets.read")),
    ticket_id: uuid.UUID | None = Query(None, description="Only this ticket's notifications."),
    limit: int = Query(100, ge=1, le=500),
) -> list[NotificationRead]:
    """Notification deliveries (sent, or failed with the reason), newest first."""
    rows = await notify.list_deliveries(ctx.session, ticket_id=ticket_id, limit=limit)
    return [NotificationRead.model_validate(d) for d in rows]


# ---------------------------------------------------------------- write-back settings per connection


@router.get(
    "/loop/connections/{connection_id}/settings", response_model=ConnectionLoopSettings, responses=PROBLEM_RESPONSES
)
async def get_connection_settings(
    connection_id: uuid.UUID, ctx: Ctx = Depends(context("connections.read"))
) -> ConnectionLoopSettings:
    """Whether the loop posts a public reply (with the feedback link) on this PSA connection."""
    await connections.get_or_raise(ctx.session, connection_id=connection_id)
    return await feedback.get_settings(ctx.session, connection_id=connection_id)


@router.put(
    "/loop/connections/{connection_id}/settings", response_model=ConnectionLoopSettings, responses=PROBLEM_RESPONSES
)
async def put_connection_settings(
    connection_id: uuid.UUID, body: ConnectionLoopSettings, ctx: Ctx = Depends(context("loop.configure"))
) -> ConnectionLoopSettings:
    """Turn the public reply and its feedback link on or off for this PSA connection."""
    await connections.get_or_raise(ctx.session, connection_id=connection_id)
    saved = await feedback.put_settings(ctx.session, connection_id=connection_id, data=body)
    await ctx.audit(
        "loop.connection_settings_set",
        target_type="connection",
        target_id=connection_id,
        after=saved.model_dump(),
    )
    await ctx.commit()
    return saved


# ---------------------------------------------------------------- feedback (API)


@router.post("/runs/{run_id}/feedback", response_model=FeedbackRead, responses=PROBLEM_RESPONSES)
async def post_feedback(
    run_id: uuid.UUID, body: FeedbackCreate, response: Response, ctx: Ctx = Depends(context("feedback.write"))
) -> FeedbackRead:
    """Record the end user's answer (from the agent's prompt, or a technician who asked them).

    "no" reopens the ticket in the PSA and escalates; the same answer twice is accepted once.
    """
    row, created = await flows.record_feedback(
        ctx.session,
        ctx.keyring,
        run_id=run_id,
        answer=body.answer,
        source=body.source,
        comment=body.comment,
        actor=ctx.principal.actor,
    )
    read = FeedbackRead.model_validate(row)
    await ctx.commit()
    response.status_code = 201 if created else 200
    return read


@router.get("/runs/{run_id}/feedback", response_model=list[FeedbackRead], responses=PROBLEM_RESPONSES)
async def list_feedback(run_id: uuid.UUID, ctx: Ctx = Depends(context("runs.read"))) -> list[FeedbackRead]:
    """Every answer recorded for a run."""
    if await ctx.session.get(Run, run_id) is None:
        raise NotFound(f"run {run_id} not found", detail={"id": str(run_id)})
    return [FeedbackRead.model_validate(f) for f in await feedback.answers_of(ctx.session, run_id=run_id)]


# ---------------------------------------------------------------- feedback (the end user's link)

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}
_PAGE = """<!doctype html><html><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem">
<h1>{title}</h1>{body}</body></html>"""
_LABELS = {"yes": "Yes, it is fixed", "partial": "Partly", "no": "No, it is not fixed"}
_THANKS = {
    "yes": "Thank you! We are glad it works again.",
    "partial": "Thank you. A technician will look at what is still not right.",
    "no": "Thank you for telling us. Your ticket is open again and a technician will contact you.",
}


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status, headers=_NO_STORE)


def _form(token: str, what: str) -> str:
    buttons = "".join(
        f'<button name="answer" value="{a}" style="font-size:1.1rem;margin:.3rem;padding:.5rem 1rem">'
        f"{html.escape(label)}</button>"
        for a, label in _LABELS.items()
    )
    return (
        f"<p>We worked on your request: {html.escape(what)}</p><p>Is the problem fixed?</p>"
        f'<form method="post" action="{html.escape(token)}">'
        '<p><textarea name="comment" rows="3" maxlength="2000" style="width:100%" '
        'placeholder="Anything we should know? (optional)"></textarea></p>'
        f"{buttons}</form>"
    )


@router.get("/feedback/{token}", response_class=HTMLResponse, include_in_schema=False)
async def feedback_page(token: str, request: Request) -> HTMLResponse:
    """The question, with one button per answer (opening the link records nothing)."""
    try:
        claims = feedback.verify_link(get_keyring(request), token[:500])
    except feedback.LinkInvalid as exc:
        return _page("Link no longer valid", f"<p>{html.escape(exc.message)}</p>", 410)
    async with tenant_session(get_db(request).sessions, claims.tenant_id) as session:
        run = await session.get(Run, claims.run_id)
        if run is None:
            return _page("Link no longer valid", "<p>This request no longer exists.</p>", 410)
        answered = [f for f in await feedback.answers_of(session, run_id=run.id) if f.source == "link"]
        what = run.note or str(run.playbook.get("title") or run.playbook_id)
    if answered:
        return _page("Thank you", f"<p>You already answered: <b>{html.escape(_LABELS[answered[0].answer])}</b>.</p>")
    return _page("Did this fix your problem?", _form(token, what))


@router.post("/feedback/{token}", response_class=HTMLResponse, include_in_schema=False)
async def feedback_answer(token: str, request: Request) -> HTMLResponse:
    """Record the end user's answer once; "no" reopens the ticket for a technician."""
    keyring = get_keyring(request)
    try:
        claims = feedback.verify_link(keyring, token[:500])
    except feedback.LinkInvalid as exc:
        return _page("Link no longer valid", f"<p>{html.escape(exc.message)}</p>", 410)
    form = await request.form()
    answer = str(form.get("answer") or request.query_params.get("answer") or "")
    comment = str(form.get("comment") or "").strip()[:2000] or None
    if answer not in get_args(FeedbackAnswer):
        return _page("Please choose an answer", "<p>Go back and press one of the buttons.</p>", 400)
    async with tenant_session(get_db(request).sessions, claims.tenant_id) as session, session.begin():
        try:
            await flows.record_feedback(
                session,
                keyring,
                run_id=claims.run_id,
                answer=answer,  # type: ignore[arg-type]  # checked against FeedbackAnswer above
                source="link",
                comment=comment,
                actor=Actor("user", None, "end user (feedback link)"),
            )
        except NotFound:
            return _page("Link no longer valid", "<p>This request no longer exists.</p>", 410)
        except Conflict as exc:
            first = str((exc.detail or {}).get("answer", ""))
            label = html.escape(_LABELS.get(first, first))
            return _page("Already answered", f"<p>You already answered: <b>{label}</b>. Reply to your ticket.</p>", 409)
    return _page("Thank you", f"<p>{html.escape(_THANKS[answer])}</p>")
