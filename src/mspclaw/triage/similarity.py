"""Ticket embeddings in pgvector: storing them, the top-k similar resolved tickets of one
tenant (with how they were resolved) and near-duplicate open tickets that could be merged.

Every query names the tenant explicitly, on top of the session's tenant scope, because the
automatic triage job runs in a system session.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from mspclaw.database.base import utcnow
from mspclaw.tickets.models import Ticket, TicketNote
from mspclaw.tickets.service import OPEN_STATUSES
from mspclaw.triage.embeddings import EmbeddingBackend, HashingEmbedding
from mspclaw.triage.models import EMBEDDING_DIM, DuplicateProposal, IntentLabel, SimilarTicket, TicketEmbedding

RESOLVED_STATUSES = ("resolved", "closed")
TOP_K = 5
#: Cosine similarity from which two open tickets of the same requester are proposed as one.
DUPLICATE_THRESHOLD = 0.8
DUPLICATE_WINDOW = timedelta(hours=48)
RESOLUTION_CHARS = 600

_BACKEND: EmbeddingBackend = HashingEmbedding(EMBEDDING_DIM)


def backend() -> EmbeddingBackend:
    """The embedding backend whose vectors the table holds (the offline default)."""
    return _BACKEND


def embed(text_: str) -> list[float]:
    """One text's embedding with the stored backend."""
    return _BACKEND.embed([text_])[0]


async def store_embedding(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    ticket_id: uuid.UUID,
    vector: list[float],
    ticket_updated_at: datetime,
) -> None:
    """Insert or replace a ticket's embedding (an older ticket version never overwrites)."""
    stmt = pg_insert(TicketEmbedding).values(
        ticket_id=ticket_id,
        tenant_id=tenant_id,
        backend=_BACKEND.name,
        embedding=vector,
        ticket_updated_at=ticket_updated_at,
        updated_at=utcnow(),
    )
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["ticket_id"],
        set_={
            "embedding": excluded.embedding,
            "backend": excluded.backend,
            "ticket_updated_at": excluded.ticket_updated_at,
            "updated_at": excluded.updated_at,
        },
        where=TicketEmbedding.ticket_updated_at <= excluded.ticket_updated_at,
    )
    await session.execute(stmt)


async def _iterative_scan(session: AsyncSession) -> None:
    # With a tenant/status filter an HNSW scan would stop after ef_search candidates and
    # could return fewer than k rows; pgvector >= 0.8 keeps scanning until k rows pass.
    await session.execute(text("SET LOCAL hnsw.iterative_scan = 'relaxed_order'"))


async def similar_resolved(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    vector: list[float],
    k: int = TOP_K,
    exclude: uuid.UUID | None = None,
) -> list[SimilarTicket]:
    """The ``k`` resolved tickets of ``tenant_id`` nearest ``vector`` by cosine distance."""
    await _iterative_scan(session)
    distance = TicketEmbedding.embedding.cosine_distance(vector)
    stmt = (
        select(Ticket.id, Ticket.number, Ticket.subject, Ticket.status, Ticket.assignee, distance.label("distance"))
        .join(Ticket, Ticket.id == TicketEmbedding.ticket_id)
        .where(
            TicketEmbedding.tenant_id == tenant_id,
            Ticket.tenant_id == tenant_id,
            Ticket.status.in_(RESOLVED_STATUSES),
            Ticket.deleted_at.is_(None),
            TicketEmbedding.backend == _BACKEND.name,
        )
        .order_by(distance)
        .limit(k)
    )
    if exclude is not None:
        stmt = stmt.where(TicketEmbedding.ticket_id != exclude)
    rows = sorted((await session.execute(stmt)).all(), key=lambda r: r.distance)
    if not rows:
        return []
    ids = [r.id for r in rows]
    resolutions = await _resolutions(session, tenant_id=tenant_id, ticket_ids=ids)
    labels = dict(
        (
            await session.execute(
                select(IntentLabel.ticket_id, IntentLabel.intent).where(
                    IntentLabel.tenant_id == tenant_id, IntentLabel.ticket_id.in_(ids)
                )
            )
        ).all()
    )
    return [
        SimilarTicket(
            ticket_id=r.id,
            number=r.number,
            subject=r.subject,
            status=r.status,
            similarity=round(1.0 - float(r.distance), 4),
            resolution=resolutions.get(r.id),
            assignee=r.assignee,
            resolved_intent=labels.get(r.id),
        )
        for r in rows
    ]


async def _resolutions(
    session: AsyncSession, *, tenant_id: uuid.UUID, ticket_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """How each ticket was resolved: a resolution field in the vendor payload, else its last note."""
    # Newest first; the first note seen per ticket is its last word (k tickets, few notes).
    notes = await session.execute(
        select(TicketNote.ticket_id, TicketNote.body)
        .where(TicketNote.tenant_id == tenant_id, TicketNote.ticket_id.in_(ticket_ids))
        .order_by(TicketNote.vendor_created_at.desc().nulls_last(), TicketNote.created_at.desc())
    )
    found: dict[uuid.UUID, str] = {}
    for ticket_id, body in notes.all():
        if ticket_id is not None and body and ticket_id not in found:
            found[ticket_id] = " ".join(str(body).split())[:RESOLUTION_CHARS]
    raw_rows = await session.execute(
        select(Ticket.id, Ticket.raw).where(Ticket.tenant_id == tenant_id, Ticket.id.in_(ticket_ids))
    )
    for ticket_id, raw in raw_rows.all():
        resolution = _raw_resolution(raw or {})
        if resolution:
            found[ticket_id] = resolution[:RESOLUTION_CHARS]
    return found


def _raw_resolution(raw: dict[str, Any]) -> str | None:
    for key in ("resolution", "resolutionNotes", "resolution_notes", "solution"):
        value = raw.get(key)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return None


async def duplicates(
    session: AsyncSession,
    *,
    ticket: Ticket,
    vector: list[float],
    threshold: float = DUPLICATE_THRESHOLD,
    window: timedelta = DUPLICATE_WINDOW,
    limit: int = 5,
) -> list[DuplicateProposal]:
    """Open tickets of the same contact (or client) opened within ``window`` of ``ticket`` whose
    text is at least ``threshold`` similar: merge candidates, nearest first."""
    same_requester = []
    if ticket.contact_external_id:
        same_requester.append(Ticket.contact_external_id == ticket.contact_external_id)
    if ticket.client_id is not None:
        same_requester.append(Ticket.client_id == ticket.client_id)
    if not same_requester:
        return []
    opened = ticket.vendor_created_at or ticket.created_at
    other_opened = func.coalesce(Ticket.vendor_created_at, Ticket.created_at)
    distance = TicketEmbedding.embedding.cosine_distance(vector)
    await _iterative_scan(session)
    stmt = (
        select(
            Ticket.id,
            Ticket.number,
            Ticket.subject,
            Ticket.contact_external_id,
            other_opened.label("opened"),
            distance.label("distance"),
        )
        .join(Ticket, Ticket.id == TicketEmbedding.ticket_id)
        .where(
            TicketEmbedding.tenant_id == ticket.tenant_id,
            Ticket.tenant_id == ticket.tenant_id,
            Ticket.id != ticket.id,
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.deleted_at.is_(None),
            or_(*same_requester),
            and_(other_opened >= opened - window, other_opened <= opened + window),
            distance <= 1.0 - threshold,
        )
        .order_by(distance)
        .limit(limit)
    )
    proposals = []
    for r in (await session.execute(stmt)).all():
        same_contact = bool(ticket.contact_external_id) and r.contact_external_id == ticket.contact_external_id
        hours = abs((r.opened - opened).total_seconds()) / 3600
        proposals.append(
            DuplicateProposal(
                ticket_id=r.id,
                number=r.number,
                subject=r.subject,
                similarity=round(1.0 - float(r.distance), 4),
                reason=(
                    f"same {'contact' if same_contact else 'client'}, opened {hours:.1f} h apart, "
                    f"text {100 * (1.0 - float(r.distance)):.0f}% similar: propose merging"
                ),
                hours_apart=round(hours, 2),
            )
        )
    return sorted(proposals, key=lambda p: -p.similarity)
