"""analytics: per-minute and per-hour rollup tables and their watermarks

Revision ID: analytics_0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "analytics_0001"
down_revision = None
branch_labels = ("analytics",)
depends_on = "0001"

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _measures() -> list[sa.Column]:
    return [
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("success_count", sa.BigInteger(), nullable=False),
        sa.Column("duration_count", sa.BigInteger(), nullable=False),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.Column("duration_hist", JSON_TYPE, nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "rollup_executions",
        sa.Column("width_s", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_name", sa.String(length=255), nullable=False),
        sa.Column("service_name", sa.String(length=255), nullable=False),
        *_measures(),
        sa.PrimaryKeyConstraint("width_s", "bucket", "agent_name", "service_name", name=op.f("pk_rollup_executions")),
    )
    op.create_table(
        "rollup_llm",
        sa.Column("width_s", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_name", sa.String(length=255), nullable=False),
        sa.Column("service_name", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        *_measures(),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("total_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "width_s", "bucket", "agent_name", "service_name", "provider", "model", name=op.f("pk_rollup_llm")
        ),
    )
    op.create_table(
        "rollup_tools",
        sa.Column("width_s", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_name", sa.String(length=255), nullable=False),
        sa.Column("service_name", sa.String(length=255), nullable=False),
        sa.Column("tool_name", sa.String(length=255), nullable=False),
        *_measures(),
        sa.PrimaryKeyConstraint("width_s", "bucket", "agent_name", "service_name", "tool_name", name=op.f("pk_rollup_tools")),
    )
    op.create_table(
        "rollup_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rollup_state")),
    )


def downgrade() -> None:
    for name in ("rollup_state", "rollup_tools", "rollup_llm", "rollup_executions"):
        op.drop_table(name)
