"""DDL of the full-text index on captured content (``spans.input`` / ``spans.output``), used by migration
``explorer_0001`` and by ``search.rebuild_content_index``. Reads are in ``warehouse/search.py``.

SQLite: ``spans_fts_keys`` gives each span with content a stable integer id (``INTEGER PRIMARY KEY``: a
``VACUUM`` keeps it, unlike the implicit rowid of ``spans``); ``spans_fts`` is a contentless FTS5 table
(the text stays only in ``spans``) whose rowid is that id. Triggers on ``spans`` keep both in step inside
the writing transaction: a new span with content is indexed, an update of its content (the log-content
hook fills it when GenAI content events arrive) re-indexes it, a delete (retention) removes it. A contentless
FTS5 row is removed with the ``'delete'`` command and the exact values it was indexed with, which the
triggers have (``old.input``, ``old.output``).

PostgreSQL: one GIN expression index (``search.PG_TSVECTOR``); PostgreSQL maintains it.

Changing this DDL changes what an applied migration did: add a new revision instead.
"""

from __future__ import annotations

from sqlalchemy import Connection

SQLITE_DDL = (
    "CREATE TABLE IF NOT EXISTS spans_fts_keys (id INTEGER PRIMARY KEY, trace_id VARCHAR(32) NOT NULL, "
    "span_id VARCHAR(16) NOT NULL, CONSTRAINT uq_spans_fts_keys_trace_id_span_id UNIQUE (trace_id, span_id))",
    "CREATE VIRTUAL TABLE IF NOT EXISTS spans_fts USING fts5(input, output, content='', "
    "tokenize='unicode61 remove_diacritics 2')",
    """CREATE TRIGGER IF NOT EXISTS spans_fts_insert AFTER INSERT ON spans
WHEN new.input IS NOT NULL OR new.output IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO spans_fts_keys (trace_id, span_id) VALUES (new.trace_id, new.span_id);
  INSERT INTO spans_fts (rowid, input, output)
    SELECT id, new.input, new.output FROM spans_fts_keys WHERE trace_id = new.trace_id AND span_id = new.span_id;
END""",
    """CREATE TRIGGER IF NOT EXISTS spans_fts_delete AFTER DELETE ON spans
WHEN old.input IS NOT NULL OR old.output IS NOT NULL
BEGIN
  INSERT INTO spans_fts (spans_fts, rowid, input, output)
    SELECT 'delete', id, old.input, old.output FROM spans_fts_keys
    WHERE trace_id = old.trace_id AND span_id = old.span_id;
  DELETE FROM spans_fts_keys WHERE trace_id = old.trace_id AND span_id = old.span_id;
END""",
    """CREATE TRIGGER IF NOT EXISTS spans_fts_update AFTER UPDATE OF input, output ON spans
BEGIN
  INSERT INTO spans_fts (spans_fts, rowid, input, output)
    SELECT 'delete', id, old.input, old.output FROM spans_fts_keys
    WHERE trace_id = old.trace_id AND span_id = old.span_id AND (old.input IS NOT NULL OR old.output IS NOT NULL);
  DELETE FROM spans_fts_keys WHERE trace_id = old.trace_id AND span_id = old.span_id;
  INSERT INTO spans_fts_keys (trace_id, span_id)
    SELECT new.trace_id, new.span_id WHERE new.input IS NOT NULL OR new.output IS NOT NULL;
  INSERT INTO spans_fts (rowid, input, output)
    SELECT id, new.input, new.output FROM spans_fts_keys
    WHERE trace_id = new.trace_id AND span_id = new.span_id AND (new.input IS NOT NULL OR new.output IS NOT NULL);
END""",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS spans_fts_update",
    "DROP TRIGGER IF EXISTS spans_fts_delete",
    "DROP TRIGGER IF EXISTS spans_fts_insert",
    "DROP TABLE IF EXISTS spans_fts",
    "DROP TABLE IF EXISTS spans_fts_keys",
)
SQLITE_BACKFILL = (
    "INSERT OR IGNORE INTO spans_fts_keys (trace_id, span_id) "
    "SELECT trace_id, span_id FROM spans WHERE input IS NOT NULL OR output IS NOT NULL",
    "INSERT INTO spans_fts (rowid, input, output) SELECT k.id, s.input, s.output FROM spans_fts_keys k "
    "JOIN spans s ON s.trace_id = k.trace_id AND s.span_id = k.span_id",
)
SQLITE_COUNT = "SELECT count(*) FROM spans_fts_keys"
# the expression of search.PG_TSVECTOR (spelt out here: the migration must not change if that module does)
PG_CREATE = (
    "CREATE INDEX IF NOT EXISTS ix_spans_content_fts ON spans USING gin "
    "((to_tsvector('simple'::regconfig, left(coalesce(input, ''), 50000) || ' ' || "
    "left(coalesce(output, ''), 50000))))"
)
PG_DROP = "DROP INDEX IF EXISTS ix_spans_content_fts"
# tables that are an index, not data: a backup skips them (a restore re-creates their rows through the triggers)
INDEX_TABLES = ("spans_fts", "spans_fts_keys", "spans_fts_data", "spans_fts_idx", "spans_fts_docsize",
                "spans_fts_config", "spans_fts_content")


def create_sqlite_fts(conn: Connection, rebuild: bool = False) -> int:
    """Create (``rebuild``: drop and re-create) the SQLite content index and fill it from ``spans``;
    returns the spans indexed."""
    if rebuild:
        for statement in SQLITE_DROP:
            conn.exec_driver_sql(statement)
    for statement in SQLITE_DDL:
        conn.exec_driver_sql(statement)
    if rebuild or not conn.exec_driver_sql(SQLITE_COUNT).scalar():
        for statement in SQLITE_BACKFILL:
            conn.exec_driver_sql(statement)
    return int(conn.exec_driver_sql(SQLITE_COUNT).scalar() or 0)


def drop_sqlite_fts(conn: Connection) -> None:
    for statement in SQLITE_DROP:
        conn.exec_driver_sql(statement)
