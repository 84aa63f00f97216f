"""explorer: PostgreSQL keeps each span's content tsvector in span_content_index (no re-computation per test)

Revision ID: explorer_0002
Revises: explorer_0001
Create Date: 2026-12-07

explorer_0001 indexed content on PostgreSQL with a GIN expression index: every row PostgreSQL tested (a
recheck, or a span of a trace walked newest first) re-computed that span's tsvector, seconds for a common word
at 1M spans. This revision replaces it with ``span_content_index`` (the stored tsvector per span, its start
time, a GIN index) kept in step by a trigger on ``spans`` (``warehouse/fts.py``), filled from the spans
already stored. SQLite keeps its FTS5 table (it stores its index already): nothing changes there.
"""

from __future__ import annotations

from alembic import op

from agentotel.warehouse import fts

revision = "explorer_0002"
down_revision = "explorer_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    fts.create_pg_content_index(bind)
    op.execute(fts.PG_DROP)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    fts.drop_pg_content_index(bind)
    op.execute(fts.PG_CREATE)
