"""Ticket embeddings in pgvector: storing them, the top-k similar resolved tickets of one
tenant (with how they were resolved) and near-duplicate open tickets that could be merged.

Every query names the tenant explicitly, on top of the session's tenant scope, because the
automatic triage job runs in a system session.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Uuid, and_, bindparam, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import TextClause

from mspclaw.config import get_settings
from mspclaw.database.base import utcnow
from mspclaw.tickets.models import Ticket
from mspclaw.tickets.service import OPEN_STATUSES
from mspclaw.triage.embeddings import EmbeddingBackend, get_backend
from mspclaw.triage.models import (
    EMBEDDING_DIM,
    INDEXED_BACKEND,
    DuplicateProposal,
    SimilarTicket,
    TicketEmbedding,
)

RESOLVED_STATUSES = ("resolved", "closed")
TOP_K = 5
#: Cosine similarity from which two open tickets of the same requester are proposed as one.
DUPLICATE_THRESHOLD = 0.8
DUPLICATE_WINDOW = timedelta(hours=48)
RESOLUTION_CHARS = 600

_BACKENDS: dict[tuple[str, str, int], EmbeddingBackend] = {}


def backend() -> EmbeddingBackend:
    """The configured embedding backend (``MSPCLAW_EMBEDDING_*``), loaded once per process.

    Rows of other backends stay in the table but are never compared with its vectors.
    """
    settings = get_settings()
    key = (settings.embedding_backend, settings.embedding_model, settings.embedding_dim)
    found = _BACKENDS.get(key)
    if found is None:
        found = _BACKENDS[key] = get_backend(key[0], model=key[1], dim=key[2])
    return found


def embed(text_: str) -> list[float]:
    """One text's embedding with the configured backend."""
    return backend().embed([text_])[0]


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
        backend=backend().name,
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


#: The hot path of every triage, as plain SQL: built and compiled once per backend, not per call
#: (the ORM statement cost ~10x the query itself on a loaded box). Both tables are filtered by
#: the tenant explicitly, so it is as scoped as an ORM query in a tenant session. The ANN
#: search runs in the inner query; per-row lookups only run for its k rows. For the default
#: backend the distance is written exactly as the partial HNSW index's expression, with the
#: backend as a literal, so the planner can use that index; other backends are compared exactly.
_SIMILAR_TEMPLATE = """
    SELECT top.*,
           (SELECT n.body FROM ticket_notes n
             WHERE n.ticket_id = top.id AND n.tenant_id = :tenant
             ORDER BY n.vendor_created_at DESC NULLS LAST, n.created_at DESC LIMIT 1) AS last_note,
           (SELECT l.intent FROM triage_intent_labels l
             WHERE l.ticket_id = top.id AND l.tenant_id = :tenant) AS label
      FROM (SELECT t.id, t.number, t.subject, t.status, t.assignee, t.raw,
                   {distance} AS distance
              FROM ticket_embeddings e JOIN tickets t ON t.id = e.ticket_id
             WHERE e.tenant_id = :tenant AND t.tenant_id = :tenant
               AND {backend} AND t.deleted_at IS NULL
               AND t.status IN ('resolved', 'closed')
               AND e.ticket_id IS DISTINCT FROM :exclude
             ORDER BY {distance}
             LIMIT :k) AS top
     ORDER BY top.distance
"""
_SIMILAR_SQL: dict[str, TextClause] = {}


def _similar_sql(backend_name: str) -> TextClause:
    found = _SIMILAR_SQL.get(backend_name)
    if found is None:
        if backend_name == INDEXED_BACKEND:
            distance = f"(e.embedding::vector({EMBEDDING_DIM})) <=> CAST(:vector AS vector({EMBEDDING_DIM}))"
            where = f"e.backend = '{INDEXED_BACKEND}'"
        else:
            distance, where = "e.embedding <=> CAST(:vector AS vector)", "e.backend = :backend"
        found = _SIMILAR_SQL[backend_name] = text(
            _SIMILAR_TEMPLATE.format(distance=distance, backend=where)
        ).bindparams(bindparam("exclude", type_=Uuid()), bindparam("tenant", type_=Uuid()))
    return found


def _literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{v:.7g}" for v in vector) + "]"


async def similar_resolved(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    vector: list[float],
    k: int = TOP_K,
    exclude: uuid.UUID | None = None,
) -> list[SimilarTicket]:
    """The ``k`` resolved tickets of ``tenant_id`` nearest ``vector`` by cosine distance, with
    their last note and any technician label, in one round trip."""
    name = backend().name
    params: dict[str, Any] = {"tenant": tenant_id, "vector": _literal(vector), "exclude": exclude, "k": k}
    if name != INDEXED_BACKEND:
        params["backend"] = name
    await _iterative_scan(session)
    rows = await session.execute(_similar_sql(name), params)
    return [
        SimilarTicket(
            ticket_id=r.id,
            number=r.number,
            subject=r.subject,
            status=r.status,
            similarity=round(1.0 - float(r.distance), 4),
            resolution=_resolution(r.raw or {}, r.last_note),
            assignee=r.assignee,
            resolved_intent=r.label,
        )
        for r in rows.all()
    ]


def _resolution(raw: dict[str, Any], last_note: str | None) -> str | None:
    """How a ticket was resolved: a resolution field in the vendor payload, else its last note."""
    text_ = _raw_resolution(raw) or (" ".join(last_note.split()) if last_note else None)
    return text_[:RESOLUTION_CHARS] if text_ else None


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
            TicketEmbedding.backend == backend().name,
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


# --- switching backend ------------------------------------------------------------------------

#: tickets embedded per call and committed per transaction by ``reembed``
REEMBED_BATCH = 256


async def embedding_status(session: AsyncSession, *, tenant_id: uuid.UUID) -> dict[str, Any]:
    """The configured backend, how many live tickets it has embedded, and rows of other backends."""
    configured = backend()
    current = configured.name
    live = await session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.tenant_id == tenant_id, Ticket.deleted_at.is_(None))
    )
    rows = await session.execute(
        select(TicketEmbedding.backend, func.count())
        .join(Ticket, Ticket.id == TicketEmbedding.ticket_id)
        .where(TicketEmbedding.tenant_id == tenant_id, Ticket.deleted_at.is_(None))
        .group_by(TicketEmbedding.backend)
        .order_by(TicketEmbedding.backend)
    )
    by_backend = {name: int(count) for name, count in rows.all()}
    embedded = by_backend.get(current, 0)
    return {
        "backend": current,
        "dimension": configured.dim,
        "live_tickets": int(live or 0),
        "embedded": embedded,
        "missing": int(live or 0) - embedded,
        "other_backends": {k: v for k, v in by_backend.items() if k != current},
    }


async def reembed_batch(
    session: AsyncSession, *, tenant_id: uuid.UUID, after: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Embed the next batch (by id, after ``after``) of live tickets that have no vector of the
    configured backend; returns their ids (empty when none is left). One transaction per call:
    an interrupted re-embed keeps what it finished and the next run carries on."""
    from mspclaw.triage.normalise import normalise_ticket

    current = backend()
    has_current = (
        select(TicketEmbedding.ticket_id)
        .where(TicketEmbedding.ticket_id == Ticket.id, TicketEmbedding.backend == current.name)
        .exists()
    )
    stmt = (
        select(Ticket.id, Ticket.subject, Ticket.description, Ticket.vendor_updated_at)
        .where(Ticket.tenant_id == tenant_id, Ticket.deleted_at.is_(None), ~has_current)
        .order_by(Ticket.id)
        .limit(REEMBED_BATCH)
    )
    if after is not None:
        stmt = stmt.where(Ticket.id > after)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return []
    vectors = current.embed([normalise_ticket(r.subject, r.description or "").text for r in rows])
    for row, vector in zip(rows, vectors, strict=True):
        await store_embedding(
            session, tenant_id=tenant_id, ticket_id=row.id, vector=vector, ticket_updated_at=row.vendor_updated_at
        )
    return [r.id for r in rows]
