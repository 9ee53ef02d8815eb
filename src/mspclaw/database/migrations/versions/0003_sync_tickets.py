"""sync: connections, cursors, webhook deliveries, script runs; tickets, notes, alerts, events

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-21 05:38:41.663968
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("sync",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "sync_connections",
        sa.Column("connector", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("config", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("secret_fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("mappings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("hook_path", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("poll_interval_seconds", sa.Integer(), nullable=False),
        sa.Column("overlap_seconds", sa.Integer(), nullable=False),
        sa.Column("stale_hours", sa.Integer(), nullable=False),
        sa.Column("reconcile_hours", sa.Integer(), nullable=False),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reconcile_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sync_connections_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_connections")),
        sa.UniqueConstraint("hook_path", name=op.f("uq_sync_connections_hook_path")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_sync_connections_tenant_id_name")),
    )
    op.create_index(op.f("ix_sync_connections_tenant_id"), "sync_connections", ["tenant_id"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("device_external_id", sa.String(length=200), nullable=True),
        sa.Column("client_external_id", sa.String(length=200), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raw_severity", sa.String(length=100), nullable=True),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("vendor_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sync_connections.id"],
            name=op.f("fk_alerts_connection_id_sync_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_alerts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("connection_id", "external_id", name=op.f("uq_alerts_connection_id_external_id")),
    )
    op.create_index(op.f("ix_alerts_tenant_id"), "alerts", ["tenant_id"], unique=False)
    op.create_table(
        "events",
        sa.Column("connection_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("subject_type", sa.String(length=30), nullable=False),
        sa.Column("subject_id", sa.UUID(), nullable=True),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sync_connections.id"],
            name=op.f("fk_events_connection_id_sync_connections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_events_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(op.f("ix_events_tenant_id"), "events", ["tenant_id"], unique=False)
    op.create_index("ix_events_tenant_kind_created", "events", ["tenant_id", "kind", "created_at"], unique=False)
    op.create_table(
        "sync_cursors",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("stream", sa.String(length=30), nullable=False),
        sa.Column("updated_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sync_connections.id"],
            name=op.f("fk_sync_cursors_connection_id_sync_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sync_cursors_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_cursors")),
        sa.UniqueConstraint("connection_id", "stream", name=op.f("uq_sync_cursors_connection_id_stream")),
    )
    op.create_index(op.f("ix_sync_cursors_tenant_id"), "sync_cursors", ["tenant_id"], unique=False)
    op.create_table(
        "sync_directory",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("client_external_id", sa.String(length=200), nullable=True),
        sa.Column("client_id", sa.UUID(), nullable=True),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_sync_directory_client_id_clients"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sync_connections.id"],
            name=op.f("fk_sync_directory_connection_id_sync_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sync_directory_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_directory")),
        sa.UniqueConstraint(
            "connection_id", "kind", "external_id", name=op.f("uq_sync_directory_connection_id_kind_external_id")
        ),
    )
    op.create_index(op.f("ix_sync_directory_tenant_id"), "sync_directory", ["tenant_id"], unique=False)
    op.create_table(
        "sync_script_runs",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("device_external_id", sa.String(length=200), nullable=False),
        sa.Column("script", sa.String(length=300), nullable=False),
        sa.Column("args", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("handle", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("polls", sa.Integer(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sync_connections.id"],
            name=op.f("fk_sync_script_runs_connection_id_sync_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sync_script_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_script_runs")),
    )
    op.create_index(op.f("ix_sync_script_runs_tenant_id"), "sync_script_runs", ["tenant_id"], unique=False)
    op.create_table(
        "sync_unmapped_values",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("example_external_id", sa.String(length=200), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sync_connections.id"],
            name=op.f("fk_sync_unmapped_values_connection_id_sync_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sync_unmapped_values_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_unmapped_values")),
        sa.UniqueConstraint(
            "connection_id", "field", "value", name=op.f("uq_sync_unmapped_values_connection_id_field_value")
        ),
    )
    op.create_index(op.f("ix_sync_unmapped_values_tenant_id"), "sync_unmapped_values", ["tenant_id"], unique=False)
    op.create_table(
        "sync_webhook_deliveries",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("event_key", sa.String(length=300), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sync_connections.id"],
            name=op.f("fk_sync_webhook_deliveries_connection_id_sync_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_sync_webhook_deliveries_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_webhook_deliveries")),
        sa.UniqueConstraint(
            "connection_id", "event_key", name=op.f("uq_sync_webhook_deliveries_connection_id_event_key")
        ),
    )
    op.create_index(
        op.f("ix_sync_webhook_deliveries_tenant_id"), "sync_webhook_deliveries", ["tenant_id"], unique=False
    )
    op.create_table(
        "tickets",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("raw_status", sa.String(length=200), nullable=True),
        sa.Column("priority", sa.String(length=20), nullable=True),
        sa.Column("raw_priority", sa.String(length=200), nullable=True),
        sa.Column("client_id", sa.UUID(), nullable=True),
        sa.Column("client_external_id", sa.String(length=200), nullable=True),
        sa.Column("contact_external_id", sa.String(length=200), nullable=True),
        sa.Column("assignee", sa.String(length=200), nullable=True),
        sa.Column("queue", sa.String(length=200), nullable=True),
        sa.Column("vendor_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("vendor_updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stale_reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_tickets_client_id_clients"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sync_connections.id"],
            name=op.f("fk_tickets_connection_id_sync_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_tickets_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("connection_id", "external_id", name=op.f("uq_tickets_connection_id_external_id")),
    )
    op.create_index(op.f("ix_tickets_tenant_id"), "tickets", ["tenant_id"], unique=False)
    op.create_index(
        "ix_tickets_tenant_status_updated", "tickets", ["tenant_id", "status", "vendor_updated_at"], unique=False
    )
    op.create_table(
        "ticket_notes",
        sa.Column("connection_id", sa.UUID(), nullable=False),
        sa.Column("ticket_id", sa.UUID(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("ticket_external_id", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("vendor_created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["sync_connections.id"],
            name=op.f("fk_ticket_notes_connection_id_sync_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ticket_notes_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_notes_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_notes")),
        sa.UniqueConstraint("connection_id", "external_id", name=op.f("uq_ticket_notes_connection_id_external_id")),
    )
    op.create_index(op.f("ix_ticket_notes_tenant_id"), "ticket_notes", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_ticket_notes_ticket_id"), "ticket_notes", ["ticket_id"], unique=False)


def downgrade() -> None:
    for table in (
        "ticket_notes",
        "tickets",
        "sync_webhook_deliveries",
        "sync_unmapped_values",
        "sync_script_runs",
        "sync_directory",
        "sync_cursors",
        "events",
        "alerts",
        "sync_connections",
    ):
        op.drop_table(table)
