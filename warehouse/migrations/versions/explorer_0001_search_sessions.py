"""explorer: full-text index on captured content, root-span index for the trace list, session and user indexes

Revision ID: explorer_0001
Revises:
Create Date: 2026-12-07

- spans: ``ix_spans_root_start_time`` (partial: root spans only) for the trace list, newest first;
- agent_executions: ``(conversation_id, timestamp)`` and ``(user_id, timestamp)`` for sessions and users;
- the content index of ``warehouse/fts.py``: on SQLite the ``spans_fts`` FTS5 table, ``spans_fts_keys`` and
  the triggers that keep them in step (filled from the spans already stored); on PostgreSQL the GIN
  expression index ``ix_spans_content_fts`` (built over the stored rows by CREATE INDEX).

A later SQLite revision that rebuilds ``spans`` (``batch_alter_table``) drops its triggers with the old table:
it must re-create them (``fts.create_sqlite_fts(conn, rebuild=True)``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from agentotel.warehouse import fts

revision = "explorer_0001"
down_revision = None
branch_labels = ("explorer",)
depends_on = "0001"  # (not 0002: the core head stays listed; 0002 keeps indexes through its batch rebuild)


def upgrade() -> None:
    bind = op.get_bind()
    op.create_index("ix_spans_root_start_time", "spans", ["start_time"], unique=False,
                    sqlite_where=sa.text("parent_span_id IS NULL"), postgresql_where=sa.text("parent_span_id IS NULL"))
    op.create_index("ix_agent_executions_conversation_id_timestamp", "agent_executions",
                    ["conversation_id", "timestamp"], unique=False)
    op.create_index("ix_agent_executions_user_id_timestamp", "agent_executions", ["user_id", "timestamp"],
                    unique=False)
    if bind.dialect.name == "sqlite":
        fts.create_sqlite_fts(bind)
    elif bind.dialect.name == "postgresql":
        op.execute(fts.PG_CREATE)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        fts.drop_sqlite_fts(bind)
    elif bind.dialect.name == "postgresql":
        op.execute(fts.PG_DROP)
    op.drop_index("ix_agent_executions_user_id_timestamp", table_name="agent_executions")
    op.drop_index("ix_agent_executions_conversation_id_timestamp", table_name="agent_executions")
    op.drop_index("ix_spans_root_start_time", table_name="spans")
