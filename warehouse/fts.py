"""DDL of the full-text index on captured content (``spans.input`` / ``spans.output``), used by migration
``explorer_0001`` and by ``search.rebuild_content_index``. Reads are in ``warehouse/search.py``.

SQLite: ``spans_fts_keys`` gives each span with content a stable integer id (``INTEGER PRIMARY KEY``: a
``VACUUM`` keeps it, unlike the implicit rowid of ``spans``); ``spans_fts`` is a contentless FTS5 table
(the text stays only in ``spans``) whose rowid is that id. Triggers on ``spans`` keep both in step inside
the writing transaction: a new span with content is indexed, an update of its content (the log-content
hook fills it when GenAI content events arrive) re-indexes it, a delete (retention) removes it. A contentless
FTS5 row is removed with the ``'delete'`` command and the exact values it was indexed with, which the
triggers have (``old.input``, ``old.output``).

PostgreSQL (revision explorer_0002; explorer_0001 had a GIN expression index, which made PostgreSQL re-compute
a span's tsvector for every row it tested: seconds for a common word at 1M spans): ``span_content_index``
stores each span's tsvector (``simple`` configuration, input and output cut to 50,000 characters each, which
keeps a tsvector far below PostgreSQL's 1 MB limit) with its start time and type, under a GIN index; an AFTER row
trigger on ``spans`` keeps it in step (insert; update of input/output; delete). A partitioned ``spans``
(``schema_manager.enable_partitioning``) gets the trigger again (``create_pg_trigger``); dropped partitions'
rows are pruned by retention (``prune_pg_content_index``).

Changing this DDL changes what an applied migration did: add a new revision instead.
"""

from __future__ import annotations

from typing import Any

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
# explorer_0001's expression index (replaced by span_content_index in explorer_0002, re-made by its downgrade)
PG_CREATE = (
    "CREATE INDEX IF NOT EXISTS ix_spans_content_fts ON spans USING gin "
    "((to_tsvector('simple'::regconfig, left(coalesce(input, ''), 50000) || ' ' || "
    "left(coalesce(output, ''), 50000))))"
)
PG_DROP = "DROP INDEX IF EXISTS ix_spans_content_fts"
PG_TABLE = "span_content_index"
PG_DDL = (
    "CREATE TABLE IF NOT EXISTS span_content_index (trace_id VARCHAR(32) NOT NULL, span_id VARCHAR(16) NOT NULL, "
    "start_time TIMESTAMP WITH TIME ZONE NOT NULL, span_type VARCHAR(16), document TSVECTOR NOT NULL, "
    "CONSTRAINT pk_span_content_index PRIMARY KEY (trace_id, span_id))",
    "CREATE INDEX IF NOT EXISTS ix_span_content_index_document ON span_content_index USING gin (document)",
    "CREATE INDEX IF NOT EXISTS ix_span_content_index_start_time ON span_content_index (start_time)",
    "CREATE INDEX IF NOT EXISTS ix_span_content_index_span_type_start_time ON span_content_index (span_type, start_time)",
    """CREATE OR REPLACE FUNCTION agentotel_span_content_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM span_content_index WHERE trace_id = OLD.trace_id AND span_id = OLD.span_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND (NEW.input IS NOT NULL OR NEW.output IS NOT NULL) THEN
    INSERT INTO span_content_index (trace_id, span_id, start_time, span_type, document)
    VALUES (NEW.trace_id, NEW.span_id, NEW.start_time, NEW.span_type, to_tsvector('simple'::regconfig,
            left(coalesce(NEW.input, ''), 50000) || ' ' || left(coalesce(NEW.output, ''), 50000)))
    ON CONFLICT (trace_id, span_id) DO UPDATE SET start_time = EXCLUDED.start_time, span_type = EXCLUDED.span_type,
      document = EXCLUDED.document;
  END IF;
  RETURN NULL;
END
$$""",
)
PG_TRIGGER = (
    "DROP TRIGGER IF EXISTS span_content_index ON spans",
    "CREATE TRIGGER span_content_index AFTER INSERT OR DELETE OR UPDATE OF input, output ON spans "
    "FOR EACH ROW EXECUTE FUNCTION agentotel_span_content_index()",
)
PG_BACKFILL = (
    "INSERT INTO span_content_index (trace_id, span_id, start_time, span_type, document) "
    "SELECT trace_id, span_id, start_time, span_type, to_tsvector('simple'::regconfig, "
    "left(coalesce(input, ''), 50000) || ' ' || left(coalesce(output, ''), 50000)) FROM spans "
    "WHERE input IS NOT NULL OR output IS NOT NULL ON CONFLICT (trace_id, span_id) DO NOTHING"
)
PG_DROP_INDEX_TABLE = (
    "DROP TRIGGER IF EXISTS span_content_index ON spans",
    "DROP FUNCTION IF EXISTS agentotel_span_content_index()",
    "DROP TABLE IF EXISTS span_content_index",
)
PG_PRUNE = "DELETE FROM span_content_index WHERE start_time < %(cutoff)s"
# tables that are an index, not data: a backup skips them (a restore re-creates their rows through the triggers)
INDEX_TABLES = ("spans_fts", "spans_fts_keys", "spans_fts_data", "spans_fts_idx", "spans_fts_docsize",
                "spans_fts_config", "spans_fts_content", "span_content_index")


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


def create_pg_content_index(conn: Connection, backfill: bool = True) -> None:
    """Create the PostgreSQL content index table, its trigger on ``spans`` and (``backfill``) its rows for
    the spans already stored."""
    for statement in PG_DDL:
        conn.exec_driver_sql(statement)
    create_pg_trigger(conn)
    if backfill:
        conn.exec_driver_sql(PG_BACKFILL)


def create_pg_trigger(conn: Connection) -> None:
    """(Re-)create the trigger that keeps ``span_content_index`` in step with ``spans`` (after ``spans`` was
    rebuilt, e.g. as a partitioned table); a no-op without the index table."""
    present = conn.exec_driver_sql("SELECT to_regclass('span_content_index') IS NOT NULL").scalar()
    if present:
        for statement in PG_TRIGGER:
            conn.exec_driver_sql(statement)


def drop_pg_content_index(conn: Connection) -> None:
    for statement in PG_DROP_INDEX_TABLE:
        conn.exec_driver_sql(statement)


def prune_pg_content_index(conn: Connection, cutoff: Any) -> int:
    """Remove the index rows of spans that started before ``cutoff`` (after partitions of ``spans`` were
    dropped whole: a dropped partition fires no delete trigger)."""
    if not conn.exec_driver_sql("SELECT to_regclass('span_content_index') IS NOT NULL").scalar():
        return 0
    return conn.exec_driver_sql(PG_PRUNE, {"cutoff": cutoff}).rowcount or 0
