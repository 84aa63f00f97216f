"""security: wrapped data keys of encrypted content, and the security audit log (logins, decryptions)

Revision ID: security_0001
Revises:
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "security_0001"
down_revision = None
branch_labels = ("content_security",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "content_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=255), nullable=False),
        sa.Column("wrapped_key", sa.Text(), nullable=False),
        sa.Column("master_fingerprint", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rewrapped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_keys")),
        sa.UniqueConstraint("project_id", name=op.f("uq_content_keys_project_id")),
    )
    op.create_table(
        "security_audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_audit_log")),
    )
    op.create_index(op.f("ix_security_audit_log_at"), "security_audit_log", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_security_audit_log_at"), table_name="security_audit_log")
    op.drop_table("security_audit_log")
    op.drop_table("content_keys")
