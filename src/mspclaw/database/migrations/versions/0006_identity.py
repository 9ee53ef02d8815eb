"""identity: caller verifications and one-time secret views

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-21 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = ("identity",)
depends_on: str | Sequence[str] | None = None


def _common() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "identity_verifications",
        sa.Column("client_id", sa.UUID(), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("user_ref", sa.String(length=256), nullable=False),
        sa.Column("contact_id", sa.UUID(), nullable=True),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_by", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        *_common(),
        sa.ForeignKeyConstraint(
            ["client_id"], ["clients.id"], name=op.f("fk_identity_verifications_client_id_clients"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_identity_verifications_contact_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_identity_verifications_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_verifications")),
    )
    op.create_index(op.f("ix_identity_verifications_client_id"), "identity_verifications", ["client_id"], unique=False)
    op.create_index(op.f("ix_identity_verifications_tenant_id"), "identity_verifications", ["tenant_id"], unique=False)
    op.create_index(
        "ix_identity_verifications_run_user", "identity_verifications", ["run_id", "user_ref"], unique=False
    )
    op.create_table(
        "identity_secret_views",
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("user_ref", sa.String(length=256), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("viewed_via", sa.String(length=16), nullable=True),
        *_common(),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_identity_secret_views_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_secret_views")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_identity_secret_views_token_hash")),
    )
    op.create_index(op.f("ix_identity_secret_views_tenant_id"), "identity_secret_views", ["tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_table("identity_secret_views")
    op.drop_table("identity_verifications")
