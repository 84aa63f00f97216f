"""interop: exact log order for GenAI content events, and an index to link metric points to spans

Revision ID: interop_0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "interop_0001"
down_revision = None
branch_labels = ("interop",)
depends_on = "0001"


def upgrade() -> None:
    with op.batch_alter_table("logs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_unix_nano", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index("ix_metrics_trace_id_span_id", ["trace_id", "span_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_metrics_trace_id_span_id")
    with op.batch_alter_table("logs", schema=None) as batch_op:
        batch_op.drop_column("seq")
        batch_op.drop_column("time_unix_nano")
