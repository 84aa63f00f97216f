"""the design document's Core Tables: agent_executions.duration_ms and metadata, its indexes

``agent_executions.duration`` is renamed ``duration_ms`` (values kept; they were milliseconds already), a
``metadata`` JSON column (JSONB on PostgreSQL) is added, and the indexes ``agent_executions(agent_id,
timestamp)`` and ``metrics(execution_id, metric_name)`` are created; the latter replaces
``metrics(execution_id)``, its leading column.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Self-contained: this revision never changes, whatever the models become.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("agent_executions", schema=None) as batch_op:  # SQLite: the table is rebuilt
        batch_op.alter_column("duration", new_column_name="duration_ms", existing_type=sa.Float(), existing_nullable=True)
        batch_op.add_column(sa.Column("metadata", JSON_TYPE, nullable=True))
        batch_op.create_index("ix_agent_executions_agent_id_timestamp", ["agent_id", "timestamp"], unique=False)
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index("ix_metrics_execution_id_metric_name", ["execution_id", "metric_name"], unique=False)
        batch_op.drop_index("ix_metrics_execution_id")


def downgrade() -> None:
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index("ix_metrics_execution_id", ["execution_id"], unique=False)
        batch_op.drop_index("ix_metrics_execution_id_metric_name")
    with op.batch_alter_table("agent_executions", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_executions_agent_id_timestamp")
        batch_op.drop_column("metadata")
        batch_op.alter_column("duration_ms", new_column_name="duration", existing_type=sa.Float(), existing_nullable=True)
