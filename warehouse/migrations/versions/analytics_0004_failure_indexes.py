"""analytics: partial indexes on failed executions, model calls and tool calls

Revision ID: analytics_0004
Revises: analytics_0003
Create Date: 2026-12-07

"An agent's / a model's / a tool's failed executions in a window" (``warehouse.failures``) read only the
failed rows: (agent, time), (time), (model as named by the rollups, time) and (tool, time), each restricted
to ``NOT success`` (PostgreSQL) / ``success = 0`` (SQLite, as SQLAlchemy renders ``~success`` there).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "analytics_0004"
down_revision = "analytics_0003"
branch_labels = None
depends_on = None

INDEXES: tuple[tuple[str, str, list[str | sa.TextClause]], ...] = (
    ("ix_agent_executions_failed_agent", "agent_executions", ["agent_name", "timestamp"]),
    ("ix_agent_executions_failed", "agent_executions", ["timestamp"]),
    ("ix_llm_calls_failed_model", "llm_calls", [sa.text("coalesce(response_model, request_model)"), "start_time"]),
    ("ix_tool_calls_failed_tool", "tool_calls", ["tool_name", "start_time"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, postgresql_where=sa.text("NOT success"),
                        sqlite_where=sa.text("success = 0"))


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
