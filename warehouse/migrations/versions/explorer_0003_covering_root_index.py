"""explorer: on PostgreSQL the root-span index carries each root's key and duration, so a trace list ranked by cost or duration reads no span rows

Revision ID: explorer_0003
Revises: explorer_0002
Create Date: 2026-12-07

The trace list sorted by cost, tokens or calls ranks every root span of the window by its run's totals
(``search.trace_totals``). With ``ix_spans_root_start_time`` on ``start_time`` alone, PostgreSQL fetched each
root's wide row from the heap to learn its key: at 1M spans over 24 hours, 106k pages and 1.5 s of a 3.2 s read.
Sorted by duration, the same (1.3 s). The index now INCLUDEs ``(trace_id, span_id, duration_ms)``, so the ranking
is an index-only scan and only the page's rows are read whole. SQLite is unchanged: its partial index already leads to the row by rowid, and its lists are smaller.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "explorer_0003"
down_revision = "explorer_0002"
branch_labels = None
depends_on = None

NAME = "ix_spans_root_start_time"
ROOTS = sa.text("parent_span_id IS NULL")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, table_name="spans")
    op.create_index(NAME, "spans", ["start_time"], postgresql_where=ROOTS,
                    postgresql_include=["trace_id", "span_id", "duration_ms"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, table_name="spans")
    op.create_index(NAME, "spans", ["start_time"], postgresql_where=ROOTS)
