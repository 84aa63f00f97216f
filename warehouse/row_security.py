"""Row-level security on PostgreSQL (revision tenancy_0001) and project scoping of readers.

Every table of ``tenancy_models.PROJECT_TABLES`` has the policy ``project_isolation``: a role other than the
tables' owner sees (and may write) only rows whose ``project_id`` is one of the comma-separated projects of
the session setting ``agentotel.project``; without it, nothing (fail closed). ``span_content_index`` rows
are visible through their span. ``agentotel_reader`` (NOLOGIN) is granted SELECT on those tables, on
``agents``, ``projects`` and the rollups' watermarks ``rollup_state`` (revision tenancy_0002: the rollup
tables themselves are project tables); grant it to the login role of a reader (``GRANT agentotel_reader TO
dash``).

The receiver's writers take the role ``agentotel_writer`` (revision security_0003) for each transaction, after
setting ``agentotel.project`` to the projects of what they write (``write_as``): the same policies then bind
them, so a batch of project A can neither see nor write a row of B.

``secure_table`` re-applies a table's policy and grants after the table was rebuilt (time partitioning).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, text

from agentotel.warehouse.tenancy_models import PROJECT_TABLES

READER_ROLE = "agentotel_reader"
WRITER_ROLE = "agentotel_writer"
WRITER_TABLES = ("spans", "llm_calls", "tool_calls", "agent_executions", "metrics", "logs")  # what ingest writes
SETTING = "agentotel.project"
MATCH = f"project_id = ANY (string_to_array(current_setting('{SETTING}', true), ','))"
CONTENT_MATCH = ("EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = span_content_index.trace_id "
                 "AND s.span_id = span_content_index.span_id)")  # fmt: skip


def _has(conn: Connection, table: str) -> bool:
    return bool(conn.execute(text("SELECT to_regclass(:table) IS NOT NULL"), {"table": table}).scalar())


def before_rebuild(conn: Connection, table: str) -> None:
    """Drop what depends on ``table`` and goes with it (the content index's policy reads ``spans``)."""
    if conn.dialect.name == "postgresql" and table == "spans" and _has(conn, "span_content_index"):
        conn.exec_driver_sql("DROP POLICY IF EXISTS project_isolation ON span_content_index")


def secure_table(conn: Connection, table: str) -> None:
    """(Re-)apply the policy and the reader's grant of ``table`` (PostgreSQL; idempotent)."""
    if conn.dialect.name != "postgresql" or table not in PROJECT_TABLES:
        return
    columns = conn.execute(text(
        "SELECT 1 FROM information_schema.columns WHERE table_name = :table AND column_name = 'project_id' "
        "AND table_schema = current_schema()"
    ), {"table": table}).first()
    if columns is None:  # a schema before tenancy_0001
        return
    conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    conn.exec_driver_sql(f"DROP POLICY IF EXISTS project_isolation ON {table}")
    conn.exec_driver_sql(f"CREATE POLICY project_isolation ON {table} USING ({MATCH}) WITH CHECK ({MATCH})")
    conn.exec_driver_sql(f"GRANT SELECT ON {table} TO {READER_ROLE}")
    if table in WRITER_TABLES and _role_exists(conn, WRITER_ROLE):
        conn.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {WRITER_ROLE}")
    if table == "spans" and _has(conn, "span_content_index"):
        conn.exec_driver_sql("DROP POLICY IF EXISTS project_isolation ON span_content_index")
        conn.exec_driver_sql(f"CREATE POLICY project_isolation ON span_content_index USING ({CONTENT_MATCH})")


def _role_exists(conn: Connection, role: str) -> bool:
    return bool(conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first())


def write_as(conn: Connection, projects: Iterable[str]) -> None:
    """PostgreSQL: the rest of this transaction acts for ``projects`` only, as the writer role (both undone at
    its end), so that row-level security binds the write; nothing on SQLite."""
    if conn.dialect.name != "postgresql":
        return
    conn.execute(text("SELECT set_config(:s, :p, true), set_config('role', :r, true)"),  # SET LOCAL both, one trip
                 {"s": SETTING, "p": ",".join(sorted(set(projects))), "r": WRITER_ROLE})


def writer_role_problem(conn: Connection) -> str | None:
    """Why this login cannot take the writer role (PostgreSQL), in one line with the fix; None when it can."""
    if conn.dialect.name != "postgresql":
        return None
    if not _role_exists(conn, WRITER_ROLE):
        return f"the role {WRITER_ROLE} does not exist (migrate the warehouse: agentotel db upgrade)"
    member = conn.execute(text("SELECT pg_has_role(current_user, :r, 'MEMBER')"), {"r": WRITER_ROLE}).scalar()
    if not member:
        user = conn.execute(text("SELECT current_user")).scalar()
        return f"the login {user} may not take the role {WRITER_ROLE}: GRANT {WRITER_ROLE} TO {user}"
    return None
