"""Triage tables (stored results with history, pgvector ticket embeddings, technician intent
labels, per-tenant intent models and tenant-added intents) and the API schemas over them.

Kept free of scikit-learn imports: the schema registry and the CLI import this module.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Float, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from mspclaw.database.base import Base, IdMixin, TenantMixin, TimestampMixin
from mspclaw.triage.embeddings import DEFAULT_DIM

#: Width of the default offline backend's vectors, the ones the HNSW index covers. The column
#: itself is unsized: each row records its backend, and only rows of one backend are compared.
EMBEDDING_DIM = DEFAULT_DIM
INDEXED_BACKEND = f"hashing-v1-{EMBEDDING_DIM}"


class TriageRecord(IdMixin, TenantMixin, Base):
    """One triage of one ticket version; history is kept (newest wins for display)."""

    __tablename__ = "triage_results"
    __table_args__ = (
        # Idempotency of the automatic job: one result per (ticket, vendor updated-at).
        UniqueConstraint("ticket_id", "ticket_updated_at"),
        Index("ix_triage_results_ticket_created", "ticket_id", "created_at"),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    ticket_updated_at: Mapped[datetime] = mapped_column()
    intent: Mapped[str] = mapped_column(String(63))
    confidence: Mapped[float] = mapped_column(Float)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    urgency: Mapped[int] = mapped_column(Integer)
    priority: Mapped[str] = mapped_column(String(20))
    urgency_factors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    language: Mapped[str] = mapped_column(String(10))
    model_version: Mapped[str] = mapped_column(String(100))
    #: "shipped" (the cold-start model) or "tenant" (trained on this tenant's labels)
    model_source: Mapped[str] = mapped_column(String(20))
    context: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    similar: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    duplicates: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    #: technicians recommended for an open ticket (skills, load, history), best first
    routing: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    created_at: Mapped[datetime] = mapped_column()


class TicketEmbedding(TenantMixin, Base):
    """A ticket's text embedding; searched by cosine distance within one tenant."""

    __tablename__ = "ticket_embeddings"
    __table_args__ = (
        # Approximate nearest neighbours for the default backend's rows (migration 0013); rows of
        # another backend are compared exactly, within one tenant.
        Index(
            "ix_ticket_embeddings_hnsw_default",
            text(f"(embedding::vector({EMBEDDING_DIM})) vector_cosine_ops"),
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_where=text(f"backend = '{INDEXED_BACKEND}'"),
        ),
    )

    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    backend: Mapped[str] = mapped_column(String(100))
    #: unsized: each backend has its own width, recorded with ``backend``
    embedding: Mapped[list[float]] = mapped_column(Vector())
    ticket_updated_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()


class IntentLabel(IdMixin, TimestampMixin, TenantMixin, Base):
    """The intent a technician confirmed or corrected for a ticket: a training label."""

    __tablename__ = "triage_intent_labels"
    __table_args__ = (UniqueConstraint("ticket_id"),)

    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    intent: Mapped[str] = mapped_column(String(63), index=True)
    #: the normalised text the label applies to, so retraining needs no re-normalisation
    text: Mapped[str] = mapped_column(Text)
    predicted_intent: Mapped[str | None] = mapped_column(String(63))
    labelled_by: Mapped[str] = mapped_column(String(320))


class TenantIntentModel(IdMixin, TenantMixin, Base):
    """A tenant's trained intent classifier (a joblib pickle written only by this code)."""

    __tablename__ = "triage_tenant_models"

    version: Mapped[str] = mapped_column(String(100))
    model: Mapped[bytes] = mapped_column(LargeBinary)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    examples: Mapped[int] = mapped_column(Integer)
    trained_at: Mapped[datetime] = mapped_column(index=True)


class TenantIntent(IdMixin, TimestampMixin, TenantMixin, Base):
    """An intent a tenant added to the built-in taxonomy."""

    __tablename__ = "triage_tenant_intents"
    __table_args__ = (UniqueConstraint("tenant_id", "intent_id"),)

    intent_id: Mapped[str] = mapped_column(String(63))
    label: Mapped[str] = mapped_column(String(200))


class TriageSettings(IdMixin, TimestampMixin, TenantMixin, Base):
    """A tenant's triage settings: the confidence below which the answer is ``unsure``."""

    __tablename__ = "triage_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    #: None: the model's own threshold
    threshold: Mapped[float | None] = mapped_column(Float)


# --- API schemas ------------------------------------------------------------------------


class TriageRequest(BaseModel):
    """Ad-hoc text to triage."""

    model_config = ConfigDict(extra="forbid")

    subject: str = Field("", max_length=2_000)
    body: str = Field("", max_length=100_000)
    client_id: uuid.UUID | None = None


class CandidateRead(BaseModel):
    """One candidate intent with its calibrated probability."""

    intent: str
    probability: float


class FactorRead(BaseModel):
    """One thing that raised or lowered the urgency score, with its evidence."""

    name: str
    points: int
    evidence: str


class SimilarTicket(BaseModel):
    """A resolved ticket of the same tenant close to the one triaged, and how it was resolved."""

    ticket_id: uuid.UUID
    number: str | None
    subject: str
    status: str | None
    similarity: float
    resolution: str | None
    assignee: str | None
    resolved_intent: str | None = None


class DuplicateProposal(BaseModel):
    """An open ticket that looks like the same request: a proposed merge."""

    ticket_id: uuid.UUID
    number: str | None
    subject: str
    similarity: float
    reason: str
    hours_apart: float


class RoutingSuggestion(BaseModel):
    """A technician recommended for the ticket, with the arithmetic behind the score."""

    technician_id: str
    name: str | None = None
    email: str | None = None
    score: float
    reasons: list[str]


class ClientContext(BaseModel):
    """What the technician needs to know about who asked, attached to a triage result."""

    client_id: uuid.UUID | None = None
    client_name: str | None = None
    policy_summary: list[str] = Field(default_factory=list)
    contact: dict[str, Any] | None = None
    devices: list[dict[str, Any]] = Field(default_factory=list)
    open_tickets_of_contact: list[dict[str, Any]] = Field(default_factory=list)
    recent_runs: list[dict[str, Any]] = Field(default_factory=list)


class TriageAnswer(BaseModel):
    """A triage result as the API returns it."""

    intent: str
    confidence: float
    candidates: list[CandidateRead]
    urgency: int
    priority: str
    urgency_factors: list[FactorRead]
    language: str
    model_version: str
    model_source: str
    similar: list[SimilarTicket]
    context: ClientContext


class TicketTriageRead(TriageAnswer):
    """The latest stored triage of a ticket, its duplicates and how many results it has."""

    id: uuid.UUID
    ticket_id: uuid.UUID
    ticket_updated_at: datetime
    created_at: datetime
    duplicates: list[DuplicateProposal]
    routing: list[RoutingSuggestion]
    history: int
    confirmed_intent: str | None


class TriageSettingsUpdate(BaseModel):
    """Set (or clear, with null) the tenant's confidence threshold."""

    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(None, ge=0.0, le=1.0)


class TriageSettingsRead(BaseModel):
    """The tenant's threshold and the one in force (the model's when none is set)."""

    threshold: float | None
    effective_threshold: float


class IntentConfirm(BaseModel):
    """A technician's confirmation or correction of a ticket's intent."""

    model_config = ConfigDict(extra="forbid")

    intent: str = Field(min_length=1, max_length=63)


class IntentLabelRead(BaseModel):
    """A stored training label."""

    model_config = ConfigDict(from_attributes=True)

    ticket_id: uuid.UUID
    intent: str
    predicted_intent: str | None
    labelled_by: str
    updated_at: datetime


class TenantIntentCreate(BaseModel):
    """A tenant-added intent (snake_case id, human label)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=2, max_length=63)
    label: str = Field(min_length=1, max_length=200)


class IntentRead(BaseModel):
    """One intent of the tenant's taxonomy."""

    id: str
    label: str
    builtin: bool


class RetrainQueued(BaseModel):
    """Answer of the retrain route: the job was queued, or why the shipped model stays."""

    queued: bool
    job_id: int | None
    ready: bool
    label_counts: dict[str, int]
    requirement: str


class BackfillQueued(BaseModel):
    """Answer of the backfill route (not queued: a backfill is already waiting)."""

    queued: bool
    job_id: int | None
    limit: int


class TenantModelRead(BaseModel):
    """A tenant's trained model (without its bytes)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    version: str
    metrics: dict[str, Any]
    examples: int
    trained_at: datetime
