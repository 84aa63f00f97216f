"""online evaluation: evaluation_results, evaluation_online_claims, evaluation_online_state

Revision ID: evaluation_0001
Revises:
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "evaluation_0001"
down_revision = None
branch_labels = ("evaluation",)
depends_on = "0001"

# Self-contained: this revision never changes, whatever the models become.
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evaluation_results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("execution_id", sa.String(length=49), nullable=False),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("agent_name", sa.String(length=255), nullable=True),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("execution_time", TIME, nullable=False),
        sa.Column("evaluated_at", TIME, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("score_value", sa.Float(), nullable=True),
        sa.Column("score_label", sa.String(length=64), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("error_type", sa.String(length=255), nullable=True),
        sa.Column("evaluator", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_results")),
        sa.UniqueConstraint("execution_id", "name", name=op.f("uq_evaluation_results_execution_id_name")),
    )
    op.create_index(op.f("ix_evaluation_results_agent_name_name_execution_time"), "evaluation_results",
                    ["agent_name", "name", "execution_time"])
    op.create_index(op.f("ix_evaluation_results_execution_time"), "evaluation_results", ["execution_time"])
    op.create_index(op.f("ix_evaluation_results_trace_id_span_id"), "evaluation_results", ["trace_id", "span_id"])
    op.create_table(
        "evaluation_online_claims",
        sa.Column("execution_id", sa.String(length=49), nullable=False),
        sa.Column("agent_name", sa.String(length=255), nullable=True),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("execution_time", TIME, nullable=False),
        sa.Column("sampled", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("execution_id", name=op.f("pk_evaluation_online_claims")),
    )
    op.create_index(op.f("ix_evaluation_online_claims_execution_time"), "evaluation_online_claims", ["execution_time"])
    op.create_index(op.f("ix_evaluation_online_claims_status_claimed_at"), "evaluation_online_claims",
                    ["status", "claimed_at"])
    op.create_table(
        "evaluation_online_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("watermark", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_evaluation_online_state")),
    )


def downgrade() -> None:
    op.drop_table("evaluation_online_state")
    op.drop_index(op.f("ix_evaluation_online_claims_status_claimed_at"), table_name="evaluation_online_claims")
    op.drop_index(op.f("ix_evaluation_online_claims_execution_time"), table_name="evaluation_online_claims")
    op.drop_table("evaluation_online_claims")
    op.drop_index(op.f("ix_evaluation_results_trace_id_span_id"), table_name="evaluation_results")
    op.drop_index(op.f("ix_evaluation_results_execution_time"), table_name="evaluation_results")
    op.drop_index(op.f("ix_evaluation_results_agent_name_name_execution_time"), table_name="evaluation_results")
    op.drop_table("evaluation_results")
