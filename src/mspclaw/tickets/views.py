"""Read-only routes over the normalised mirror: tickets, notes, alerts, internal events."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query

from mspclaw.api.deps import Ctx, Paging, context
from mspclaw.api.problems import PROBLEM_RESPONSES
from mspclaw.tickets import service
from mspclaw.tickets.models import AlertRead, EventRead, NoteRead, TicketRead

router = APIRouter(tags=["Tickets"], responses=PROBLEM_RESPONSES)


@router.get("/tickets", response_model=list[TicketRead])
async def list_tickets(
    status: str | None = Query(None, description="Normalised status (new, open, waiting, resolved, closed)."),
    connection_id: uuid.UUID | None = Query(None),
    include_deleted: bool = Query(False),
    paging: Paging = Depends(),
    ctx: Ctx = Depends(context("tickets.read")),
) -> list[TicketRead]:
    """Mirrored tickets, most recently updated first."""
    rows = await service.list_tickets(
        ctx.session,
        limit=paging.limit,
        offset=paging.offset,
        status=status,
        connection_id=connection_id,
        include_deleted=include_deleted,
    )
    return [TicketRead.model_validate(t) for t in rows]


@router.get("/tickets/{object_id}", response_model=TicketRead)
async def get_ticket(object_id: uuid.UUID, ctx: Ctx = Depends(context("tickets.read"))) -> TicketRead:
    """One ticket with its raw vendor payload."""
    return TicketRead.model_validate(await service.get_ticket(ctx.session, ticket_id=object_id))


@router.get("/tickets/{object_id}/notes", response_model=list[NoteRead])
async def list_ticket_notes(object_id: uuid.UUID, ctx: Ctx = Depends(context("tickets.read"))) -> list[NoteRead]:
    """A ticket's notes, oldest first."""
    return [NoteRead.model_validate(n) for n in await service.list_notes(ctx.session, ticket_id=object_id)]


@router.get("/alerts", response_model=list[AlertRead])
async def list_alerts(
    open_only: bool = Query(False, alias="open"),
    paging: Paging = Depends(),
    ctx: Ctx = Depends(context("tickets.read")),
) -> list[AlertRead]:
    """Mirrored RMM alerts, newest first."""
    rows = await service.list_alerts(ctx.session, limit=paging.limit, offset=paging.offset, open_only=open_only)
    return [AlertRead.model_validate(a) for a in rows]


@router.get("/alerts/{object_id}", response_model=AlertRead)
async def get_alert(object_id: uuid.UUID, ctx: Ctx = Depends(context("tickets.read"))) -> AlertRead:
    """One alert."""
    return AlertRead.model_validate(await service.get_alert(ctx.session, alert_id=object_id))


@router.get("/events", response_model=list[EventRead])
async def list_events(
    kind: str | None = Query(None, description="e.g. ticket.created, note.added, alert.raised, ticket.stale"),
    paging: Paging = Depends(),
    ctx: Ctx = Depends(context("tickets.read")),
) -> list[EventRead]:
    """Internal events emitted by the sync engine, newest first."""
    rows = await service.list_events(ctx.session, limit=paging.limit, offset=paging.offset, kind=kind)
    return [EventRead.model_validate(e) for e in rows]
