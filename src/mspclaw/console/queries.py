"""Read-only views the console pages show: tickets with their newest triage, loop decision and
run; one ticket in full; the approval inbox. Sessions are tenant-bound, so every query here is
already limited to the signed-in technician's tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.loop.flows import latest_triage
from mspclaw.loop.models import LoopAction
from mspclaw.runs import service as runs
from mspclaw.runs.models import Approval, ApprovalRead, Run, RunDetail
from mspclaw.tenancy.models import Client
from mspclaw.tickets import service as tickets
from mspclaw.tickets.models import Ticket, TicketNote
from mspclaw.triage.models import TriageRecord


@dataclass
class TicketRow:
    """One line of the tickets list."""

    ticket: Ticket
    client: str | None
    triage: TriageRecord | None
    action: LoopAction | None
    run: Run | None


@dataclass
class TicketPage:
    """Everything the ticket page shows."""

    ticket: Ticket
    client: Client | None
    triage: TriageRecord | None
    actions: list[LoopAction]
    runs: list[RunDetail]
    notes: list[TicketNote]
    pending: list[ApprovalRead] = field(default_factory=list)


@dataclass
class ApprovalRow:
    """One pending approval with the run and ticket it belongs to."""

    approval: Approval
    run: Run
    client: str | None
    ticket: Ticket | None


async def _latest_triage(session: AsyncSession, ticket_ids: list[uuid.UUID]) -> dict[uuid.UUID, TriageRecord]:
    if not ticket_ids:
        return {}
    rows = await session.scalars(
        select(TriageRecord)
        .where(TriageRecord.ticket_id.in_(ticket_ids))
        .order_by(TriageRecord.ticket_id, TriageRecord.created_at.desc())
        .distinct(TriageRecord.ticket_id)
    )
    return {r.ticket_id: r for r in rows}


async def _latest_action(session: AsyncSession, ticket_ids: list[uuid.UUID]) -> dict[uuid.UUID, LoopAction]:
    if not ticket_ids:
        return {}
    rows = await session.scalars(
        select(LoopAction)
        .where(LoopAction.ticket_id.in_(ticket_ids))
        .order_by(LoopAction.ticket_id, LoopAction.created_at.desc())
        .distinct(LoopAction.ticket_id)
    )
    return {r.ticket_id: r for r in rows if r.ticket_id is not None}


async def _latest_run(session: AsyncSession, ticket_ids: list[uuid.UUID]) -> dict[str, Run]:
    if not ticket_ids:
        return {}
    refs = [str(t) for t in ticket_ids]
    rows = await session.scalars(
        select(Run)
        .where(Run.ticket_ref.in_(refs))
        .order_by(Run.ticket_ref, Run.created_at.desc())
        .distinct(Run.ticket_ref)
    )
    return {str(r.ticket_ref): r for r in rows}


async def _client_names(session: AsyncSession, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return {c.id: c.name for c in await session.scalars(select(Client).where(Client.id.in_(ids)))}


async def ticket_rows(session: AsyncSession, *, limit: int = 100) -> list[TicketRow]:
    """Recently updated tickets with their newest triage, loop decision and run."""
    found = await tickets.list_tickets(session, limit=limit, offset=0)
    ids = [t.id for t in found]
    triage = await _latest_triage(session, ids)
    actions = await _latest_action(session, ids)
    run_by_ticket = await _latest_run(session, ids)
    names = await _client_names(session, {t.client_id for t in found if t.client_id})
    return [
        TicketRow(
            ticket=t,
            client=names.get(t.client_id) if t.client_id else None,
            triage=triage.get(t.id),
            action=actions.get(t.id),
            run=run_by_ticket.get(str(t.id)),
        )
        for t in found
    ]


async def ticket_page(session: AsyncSession, *, ticket_id: uuid.UUID) -> TicketPage:
    """One ticket: triage, every loop decision, its runs in full and the notes in the PSA."""
    ticket = await tickets.get_ticket(session, ticket_id=ticket_id)
    triage = await latest_triage(session, ticket.id)
    actions = list(
        await session.scalars(
            select(LoopAction).where(LoopAction.ticket_id == ticket.id).order_by(LoopAction.created_at)
        )
    )
    run_rows = list(await session.scalars(select(Run).where(Run.ticket_ref == str(ticket.id)).order_by(Run.created_at)))
    details = [await runs.detail(session, run=r) for r in run_rows]
    pending = [a for d in details for a in d.approvals if a.status == "pending"]
    client = await session.get(Client, ticket.client_id) if ticket.client_id else None
    return TicketPage(
        ticket=ticket,
        client=client,
        triage=triage,
        actions=actions,
        runs=details,
        notes=await tickets.list_notes(session, ticket_id=ticket.id),
        pending=pending,
    )


async def pending_approvals(session: AsyncSession) -> list[ApprovalRow]:
    """The approver's inbox: pending approvals, newest first, with run, client and ticket."""
    approvals = await runs.list_approvals(session, status="pending", limit=200)
    run_ids = {a.run_id for a in approvals}
    run_map = {r.id: r for r in await session.scalars(select(Run).where(Run.id.in_(run_ids)))} if run_ids else {}
    ticket_of: dict[uuid.UUID, uuid.UUID] = {}
    for r in run_map.values():
        try:
            ticket_of[r.id] = uuid.UUID(str(r.ticket_ref))
        except ValueError:
            continue  # a run started without a ticket (CLI/API)
    ticket_ids = set(ticket_of.values())
    ticket_map = (
        {t.id: t for t in await session.scalars(select(Ticket).where(Ticket.id.in_(ticket_ids)))} if ticket_ids else {}
    )
    names = await _client_names(session, {r.client_id for r in run_map.values()})
    return [
        ApprovalRow(
            approval=a,
            run=run_map[a.run_id],
            client=names.get(run_map[a.run_id].client_id),
            ticket=ticket_map.get(ticket_of[a.run_id]) if a.run_id in ticket_of else None,
        )
        for a in approvals
    ]
