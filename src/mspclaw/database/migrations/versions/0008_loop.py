"""loop: what the closed loop decided per ticket and run

Revision ID: 0008
Revises: 0001
Create Date: 2026-11-21 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("loop",)
depends_on: str | Sequence[str] | None = ("0003",)


def upgrade() -> None:
    op.create_table(
        "loop_actions",
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=True),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("playbook_id", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_loop_actions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_loop_actions_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loop_actions")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_loop_actions_tenant_id")),
    )
    op.create_index(op.f("ix_loop_actions_tenant_id"), "loop_actions", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_loop_actions_ticket_id"), "loop_actions", ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_loop_actions_ticket_id"), table_name="loop_actions")
    op.drop_index(op.f("ix_loop_actions_tenant_id"), table_name="loop_actions")
    op.drop_table("loop_actions")
