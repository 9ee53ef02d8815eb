"""triage: stored results, pgvector ticket embeddings (HNSW, cosine), intent labels,
per-tenant intent models, tenant-added intents and tenant triage settings

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-21 06:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import SchemaItem

revision: str = "0005"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("triage",)
# The tables reference tickets (revision 0003, branch "sync").
depends_on: str | Sequence[str] | None = "0003"

EMBEDDING_DIM = 256


def _tenant(table: str) -> list[SchemaItem]:
    return [
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
        ),
    ]


def _ticket(table: str) -> list[SchemaItem]:
    return [
        sa.Column("ticket_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f(f"fk_{table}_ticket_id_tickets"), ondelete="CASCADE"
        ),
    ]


def _timestamps() -> list[SchemaItem]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "triage_results",
        sa.Column("id", sa.UUID(), nullable=False),
        *_tenant("triage_results"),
        *_ticket("triage_results"),
        sa.Column("ticket_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("intent", sa.String(length=63), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("candidates", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("urgency", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=False),
        sa.Column("urgency_factors", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("language", sa.String(length=10), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("model_source", sa.String(length=20), nullable=False),
        sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("similar", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("duplicates", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("routing", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_results")),
        sa.UniqueConstraint(
            "ticket_id", "ticket_updated_at", name=op.f("uq_triage_results_ticket_id_ticket_updated_at")
        ),
    )
    op.create_index(op.f("ix_triage_results_tenant_id"), "triage_results", ["tenant_id"])
    op.create_index("ix_triage_results_ticket_created", "triage_results", ["ticket_id", "created_at"])

    op.create_table(
        "ticket_embeddings",
        *_ticket("ticket_embeddings"),
        *_tenant("ticket_embeddings"),
        sa.Column("backend", sa.String(length=100), nullable=False),
        sa.Column("embedding", Vector(EMBEDDING_DIM), nullable=False),
        sa.Column("ticket_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_ticket_embeddings")),
    )
    op.create_index(op.f("ix_ticket_embeddings_tenant_id"), "ticket_embeddings", ["tenant_id"])
    op.create_index(
        "ix_ticket_embeddings_hnsw",
        "ticket_embeddings",
        ["embedding"],
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )

    op.create_table(
        "triage_intent_labels",
        sa.Column("id", sa.UUID(), nullable=False),
        *_tenant("triage_intent_labels"),
        *_ticket("triage_intent_labels"),
        sa.Column("intent", sa.String(length=63), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("predicted_intent", sa.String(length=63), nullable=True),
        sa.Column("labelled_by", sa.String(length=320), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_intent_labels")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_triage_intent_labels_ticket_id")),
    )
    op.create_index(op.f("ix_triage_intent_labels_tenant_id"), "triage_intent_labels", ["tenant_id"])
    op.create_index(op.f("ix_triage_intent_labels_intent"), "triage_intent_labels", ["intent"])

    op.create_table(
        "triage_tenant_models",
        sa.Column("id", sa.UUID(), nullable=False),
        *_tenant("triage_tenant_models"),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("model", sa.LargeBinary(), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("examples", sa.Integer(), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_tenant_models")),
    )
    op.create_index(op.f("ix_triage_tenant_models_tenant_id"), "triage_tenant_models", ["tenant_id"])
    op.create_index(op.f("ix_triage_tenant_models_trained_at"), "triage_tenant_models", ["trained_at"])

    op.create_table(
        "triage_tenant_intents",
        sa.Column("id", sa.UUID(), nullable=False),
        *_tenant("triage_tenant_intents"),
        sa.Column("intent_id", sa.String(length=63), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_tenant_intents")),
        sa.UniqueConstraint("tenant_id", "intent_id", name=op.f("uq_triage_tenant_intents_tenant_id_intent_id")),
    )
    op.create_index(op.f("ix_triage_tenant_intents_tenant_id"), "triage_tenant_intents", ["tenant_id"])

    op.create_table(
        "triage_settings",
        sa.Column("id", sa.UUID(), nullable=False),
        *_tenant("triage_settings"),
        sa.Column("threshold", sa.Float(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_triage_settings_tenant_id")),
    )
    op.create_index(op.f("ix_triage_settings_tenant_id"), "triage_settings", ["tenant_id"])


def downgrade() -> None:
    for table in (
        "triage_settings",
        "triage_tenant_intents",
        "triage_tenant_models",
        "triage_intent_labels",
        "ticket_embeddings",
        "triage_results",
    ):
        op.drop_table(table)
