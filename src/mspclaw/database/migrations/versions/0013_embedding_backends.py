"""triage: ticket embeddings of any backend's width; the ANN index covers the default backend

The column was ``vector(256)``, so only the offline hashing backend could be stored. It is now
an unsized ``vector``: each row records its backend, queries compare only rows of the
configured backend, and the HNSW index becomes a partial index on the default backend's rows.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-21 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("0005",)

# The default backend (hashing-v1-256) is written out in full below: a migration must not
# change if the application's default ever does.


def upgrade() -> None:
    op.drop_index("ix_ticket_embeddings_hnsw", table_name="ticket_embeddings")
    op.execute("ALTER TABLE ticket_embeddings ALTER COLUMN embedding TYPE vector")
    op.execute(
        "CREATE INDEX ix_ticket_embeddings_hnsw_default ON ticket_embeddings "
        "USING hnsw ((embedding::vector(256)) vector_cosine_ops) "
        "WITH (m = 16, ef_construction = 64) WHERE backend = 'hashing-v1-256'"
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_embeddings_hnsw_default", table_name="ticket_embeddings")
    # Vectors of another width cannot live in vector(256); they are re-made by re-embedding.
    op.execute("DELETE FROM ticket_embeddings WHERE vector_dims(embedding) <> 256")
    op.execute("ALTER TABLE ticket_embeddings ALTER COLUMN embedding TYPE vector(256)")
    op.execute(
        "CREATE INDEX ix_ticket_embeddings_hnsw ON ticket_embeddings "
        "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
    )
