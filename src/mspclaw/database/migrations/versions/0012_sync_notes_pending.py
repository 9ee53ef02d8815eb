"""sync: tickets whose notes a poll still has to read (carried from poll to poll)

Revision ID: 0012
Revises: 0009
Create Date: 2026-11-21 09:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("0003",)


def upgrade() -> None:
    op.add_column(
        "sync_cursors",
        sa.Column(
            "pending",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("sync_cursors", "pending")
