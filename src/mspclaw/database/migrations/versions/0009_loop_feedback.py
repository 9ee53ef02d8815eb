"""loop feedback: notification targets and deliveries, end-user feedback, per-connection loop settings

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 08:20:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = ("0002", "0003")


def _tenant(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def upgrade() -> None:
    op.create_table(
        "loop_notify_targets",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scheme", sa.String(length=40), nullable=False),
        sa.Column("technician_email", sa.String(length=320), nullable=True),
        sa.Column("events", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secret_name", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("loop_notify_targets"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_loop_notify_targets_tenant_id"),
    )
    op.create_index("ix_loop_notify_targets_tenant_id", "loop_notify_targets", ["tenant_id"])
    op.create_table(
        "loop_notifications",
        sa.Column("target_id", sa.UUID(), nullable=True),
        sa.Column("target_name", sa.String(length=100), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=True),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("event", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("loop_notifications"),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["loop_notify_targets.id"],
            name="fk_loop_notifications_target_id_loop_notify_targets",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_loop_notifications_ticket_id_tickets", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_loop_notifications_tenant_id", "loop_notifications", ["tenant_id"])
    op.create_index("ix_loop_notifications_ticket_id", "loop_notifications", ["ticket_id"])
    op.create_table(
        "loop_feedback",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=True),
        sa.Column("client_id", sa.UUID(), nullable=True),
        sa.Column("playbook_id", sa.String(length=100), nullable=False),
        sa.Column("answer", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("loop_feedback"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_loop_feedback_run_id_runs", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name="fk_loop_feedback_ticket_id_tickets", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("tenant_id", "run_id", "source", name="uq_loop_feedback_tenant_id"),
    )
    op.create_index("ix_loop_feedback_tenant_id", "loop_feedback", ["tenant_id"])
    op.create_index("ix_loop_feedback_run_id", "loop_feedback", ["run_id"])
    op.create_table(
        "loop_connection_settings",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("public_reply", sa.Boolean(), nullable=False),
        sa.Column("feedback_link", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        *_tenant("loop_connection_settings"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sync_connections.id"],
            name="fk_loop_connection_settings_connection_id_sync_connections",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("tenant_id", "connection_id", name="uq_loop_connection_settings_tenant_id"),
    )
    op.create_index("ix_loop_connection_settings_tenant_id", "loop_connection_settings", ["tenant_id"])


def downgrade() -> None:
    for table in ("loop_connection_settings", "loop_feedback", "loop_notifications", "loop_notify_targets"):
        op.drop_table(table)
