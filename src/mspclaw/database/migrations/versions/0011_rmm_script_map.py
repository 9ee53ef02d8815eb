"""rmm script backend: per-connection tool -> script map, idempotent tool calls

Revision ID: 0011
Revises: 0009
Create Date: 2026-11-21 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("0003",)


def _tenant(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def _connection(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["connection_id"],
        ["sync_connections.id"],
        name=f"fk_{table}_connection_id_sync_connections",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "rmm_script_maps",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("tools", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("rmm_script_maps"),
        _connection("rmm_script_maps"),
        sa.UniqueConstraint("tenant_id", "connection_id", name="uq_rmm_script_maps_tenant_id"),
    )
    op.create_index("ix_rmm_script_maps_tenant_id", "rmm_script_maps", ["tenant_id"])
    op.create_table(
        "rmm_tool_calls",
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("tool", sa.String(length=100), nullable=False),
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("device_external_id", sa.String(length=200), nullable=False),
        sa.Column("script_run_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("rmm_tool_calls"),
        _connection("rmm_tool_calls"),
        sa.ForeignKeyConstraint(
            ["script_run_id"],
            ["sync_script_runs.id"],
            name="fk_rmm_tool_calls_script_run_id_sync_script_runs",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_rmm_tool_calls_tenant_id"),
    )
    op.create_index("ix_rmm_tool_calls_tenant_id", "rmm_tool_calls", ["tenant_id"])
    op.create_index("ix_rmm_tool_calls_script_run_id", "rmm_tool_calls", ["script_run_id"])


def downgrade() -> None:
    for table in ("rmm_tool_calls", "rmm_script_maps"):
        op.drop_table(table)
