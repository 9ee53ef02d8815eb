"""runs: runs, run_steps, approvals, questions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 05:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import SchemaItem

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("runs",)
depends_on: str | Sequence[str] | None = None


def _common(table: str) -> list[SchemaItem]:
    """id, timestamps and tenant columns every table has (IdMixin, TimestampMixin, TenantMixin)."""
    return [
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=f"fk_{table}_tenant_id_tenants", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
    ]


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE")


def _index(table: str, column: str) -> None:
    op.create_index(f"ix_{table}_{column}", table, [column], unique=False)


def upgrade() -> None:
    jsonb = postgresql.JSONB(astext_type=sa.Text())
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "runs",
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("device_id", sa.UUID(), nullable=True),
        sa.Column("ticket_ref", sa.String(length=200), nullable=True),
        sa.Column("context", jsonb, nullable=False),
        sa.Column("playbook_id", sa.String(length=100), nullable=False),
        sa.Column("playbook_version", sa.String(length=40), nullable=False),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column("playbook", jsonb, nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("requested_by_type", sa.String(length=30), nullable=False),
        sa.Column("requested_by_id", sa.String(length=100), nullable=True),
        sa.Column("requested_by_name", sa.String(length=320), nullable=True),
        sa.Column("requester_permissions", jsonb, nullable=False),
        sa.Column("author", sa.String(length=320), nullable=True),
        sa.Column("inputs", jsonb, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("started_at", tz, nullable=True),
        sa.Column("finished_at", tz, nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["clients.id"], name="fk_runs_client_id_clients", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_runs_device_id_devices", ondelete="SET NULL"),
        *_common("runs"),
    )
    for column in ("client_id", "playbook_id", "status", "tenant_id"):
        _index("runs", column)

    op.create_table(
        "approvals",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("step_id", sa.String(length=100), nullable=False),
        sa.Column("tool", sa.String(length=100), nullable=False),
        sa.Column("args", jsonb, nullable=False),
        sa.Column("args_hash", sa.String(length=64), nullable=False),
        sa.Column("risk", sa.String(length=20), nullable=False),
        sa.Column("reasons", jsonb, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", tz, nullable=False),
        sa.Column("expires_at", tz, nullable=False),
        sa.Column("decided_at", tz, nullable=True),
        sa.Column("decided_by", sa.String(length=320), nullable=True),
        sa.Column("decided_by_id", sa.String(length=100), nullable=True),
        sa.Column("decider_permissions", jsonb, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        _run_fk("approvals"),
        *_common("approvals"),
    )
    for column in ("run_id", "status", "tenant_id"):
        _index("approvals", column)

    op.create_table(
        "run_steps",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("step_id", sa.String(length=100), nullable=False),
        sa.Column("tool", sa.String(length=100), nullable=False),
        sa.Column("tool_version", sa.String(length=40), nullable=True),
        sa.Column("risk", sa.String(length=20), nullable=False),
        sa.Column("args", jsonb, nullable=False),
        sa.Column("args_hash", sa.String(length=64), nullable=True),
        sa.Column("backend", sa.String(length=30), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("output", jsonb, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("approval_id", sa.UUID(), nullable=True),
        sa.Column("approver", sa.String(length=320), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("started_at", tz, nullable=True),
        sa.Column("finished_at", tz, nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        _run_fk("run_steps"),
        sa.ForeignKeyConstraint(
            ["approval_id"], ["approvals.id"], name="fk_run_steps_approval_id_approvals", ondelete="SET NULL"
        ),
        sa.UniqueConstraint("idempotency_key", name="uq_run_steps_idempotency_key"),
        sa.UniqueConstraint("run_id", "phase", "step_id", name="uq_run_steps_run_id_phase_step_id"),
        *_common("run_steps"),
    )
    for column in ("run_id", "tenant_id"):
        _index("run_steps", column)

    op.create_table(
        "questions",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("input_name", sa.String(length=100), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("answer", jsonb, nullable=True),
        sa.Column("asked_at", tz, nullable=False),
        sa.Column("expires_at", tz, nullable=False),
        sa.Column("answered_at", tz, nullable=True),
        sa.Column("answered_by", sa.String(length=320), nullable=True),
        _run_fk("questions"),
        sa.UniqueConstraint("run_id", "input_name", name="uq_questions_run_id_input_name"),
        *_common("questions"),
    )
    for column in ("run_id", "tenant_id"):
        _index("questions", column)


def downgrade() -> None:
    for table in ("questions", "run_steps", "approvals", "runs"):
        op.drop_table(table)
