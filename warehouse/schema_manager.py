"""SchemaManager: the schema versioned through Alembic, plus opt-in time partitioning on PostgreSQL.

``create_schema`` / ``migrate_to_version`` run the Alembic revisions (immutable files in
``warehouse/migrations/versions``); ``add_column`` / ``create_index`` apply one change through Alembic's
operations (idempotent; a change that must last belongs in a revision file).

Partitioning (PostgreSQL only, opt-in): ``enable_partitioning(engine)`` rebuilds ``spans``, ``llm_calls``,
``tool_calls`` and ``metrics`` as tables range-partitioned by their time column, one partition per UTC day
plus a DEFAULT partition (so an insert never fails for want of a partition), and copies the rows over.
A partitioned table's primary key / unique constraints must include the partition key, so the keys become

    spans, llm_calls, tool_calls: PRIMARY KEY (trace_id, span_id, start_time)
    metrics: PRIMARY KEY (id, timestamp); UNIQUE (metric_name, series_key, timestamp) is unchanged

and every ``INSERT … ON CONFLICT`` on those three span tables must name ``(trace_id, span_id, start_time)``
(``conflict_keys(conn, table)`` returns the right one for the database at hand).
``create_partitions_ahead(engine, days)`` is the daily maintenance job; retention drops whole partitions
(``drop_partitions_before``).
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta, timezone

from alembic import command
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, inspect, text

from agentotel.warehouse import fts, row_security
from agentotel.warehouse.migrate import alembic_config, current_revisions, upgrade

logger = logging.getLogger(__name__)

PARTITIONED = {"spans": "start_time", "llm_calls": "start_time", "tool_calls": "start_time", "metrics": "timestamp"}
PARTITIONED_KEYS = {
    "spans": ("trace_id", "span_id", "start_time"),
    "llm_calls": ("trace_id", "span_id", "start_time"),
    "tool_calls": ("trace_id", "span_id", "start_time"),
    "metrics": ("id", "timestamp"),
}
_PARTITION_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<day>\d{8})$")


class SchemaManager:
    """Alembic-versioned schema operations on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_schema(self) -> set[str]:
        """Create every table (all revision heads); returns the revisions now applied."""
        upgrade(self.engine)
        return current_revisions(self.engine)

    def current_version(self) -> set[str]:
        return current_revisions(self.engine)

    def history(self) -> list[str]:
        """Every known revision id, newest first."""
        script = ScriptDirectory.from_config(alembic_config())
        return [rev.revision for rev in script.walk_revisions()]

    def migrate_to_version(self, version: str) -> set[str]:
        """Bring the schema to exactly ``version`` and its ancestors: upgrade to it, and downgrade every
        applied revision that is not among them (other branches back to their base). ``heads`` applies
        everything; ``base`` removes everything."""
        cfg = alembic_config(self.engine)
        script = ScriptDirectory.from_config(cfg)
        if version in ("heads", "head"):
            return self.create_schema()
        keep: set[str] = set()
        if version != "base":
            script.get_revision(version)  # raises for an unknown revision
            keep = {rev.revision for rev in script.iterate_revisions(version, "base")}
        with self.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            for head in sorted(current_revisions(self.engine) - keep):
                command.downgrade(cfg, self._downgrade_target(script, head, keep))
            if version != "base":
                command.upgrade(cfg, version)
        return current_revisions(self.engine)

    @staticmethod
    def _downgrade_target(script, head: str, keep: set[str]) -> str:
        """The newest revision of ``head``'s own branch that is kept, else that branch's base."""
        revision = script.get_revision(head)
        while revision is not None:
            if revision.revision in keep:
                return revision.revision
            if not revision.down_revision:
                break
            revision = script.get_revision(revision.down_revision)
        labels = sorted(revision.branch_labels) if revision is not None else []
        if not labels:
            raise ValueError(f"cannot downgrade {head}: its branch has no label")
        return f"{labels[0]}@base"

    def add_column(self, table: str, column: Column) -> bool:
        """Add ``column`` to ``table`` unless it exists; True when added."""
        if column.name in {c["name"] for c in inspect(self.engine).get_columns(table)}:
            return False
        with self.engine.begin() as conn:
            operations = Operations(MigrationContext.configure(conn))
            if conn.dialect.name == "sqlite":
                with operations.batch_alter_table(table) as batch:
                    batch.add_column(column)
            else:
                operations.add_column(table, column)
        return True

    def create_index(self, table: str, columns: list[str], name: str | None = None, unique: bool = False) -> bool:
        """Create an index unless one of that name exists; True when created."""
        name = name or f"ix_{table}_{'_'.join(columns)}"
        if name in {i["name"] for i in inspect(self.engine).get_indexes(table)}:
            return False
        with self.engine.begin() as conn:
            Operations(MigrationContext.configure(conn)).create_index(name, table, columns, unique=unique)
        return True


# ------------------------------------------------------------------------------------------ partitions


def partitioned_tables(conn: Connection) -> set[str]:
    """Names of the partitioned (parent) tables; empty on SQLite."""
    if conn.dialect.name != "postgresql":
        return set()
    rows = conn.execute(text("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                             "WHERE c.relkind = 'p' AND n.nspname = current_schema()"))
    return {r[0] for r in rows}


def conflict_keys(conn: Connection, table: str) -> tuple[str, ...]:
    """The ``ON CONFLICT`` target for a span-level table in this database (partitioned or not)."""
    if table in PARTITIONED_KEYS and table in partitioned_tables(conn):
        return PARTITIONED_KEYS[table]
    return {"metrics": ("metric_name", "series_key", "timestamp")}.get(table, ("trace_id", "span_id"))


def enable_partitioning(engine: Engine, days_ahead: int = 7, now: datetime | None = None) -> list[str]:
    """Convert the span-level tables and ``metrics`` to daily range partitions (PostgreSQL; idempotent).

    Returns the tables converted. Runs in one transaction; holds an exclusive lock on each table while
    its rows are copied, so run it in a maintenance window on a large database.
    """
    if engine.dialect.name != "postgresql":
        raise ValueError("time partitioning needs PostgreSQL")
    now = now or datetime.now(timezone.utc)
    converted = []
    with engine.begin() as conn:
        done = partitioned_tables(conn)
        for table, column in PARTITIONED.items():
            if table in done:
                continue
            _convert(conn, table, column, now, days_ahead)
            converted.append(table)
    return converted


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _convert(conn: Connection, table: str, column: str, now: datetime, days_ahead: int) -> None:
    q = lambda name: _q(conn, name)  # noqa: E731
    temp = f"{table}__partitioned"
    conn.execute(text(f"LOCK TABLE {q(table)} IN ACCESS EXCLUSIVE MODE"))
    # the table's own indexes and unique constraints as they are now (other revisions may have added some)
    index_definitions = [
        row[0]
        for row in conn.execute(
            text("SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
                 "WHERE t.relname = :t AND t.relnamespace = current_schema()::regnamespace "
                 "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"),
            {"t": table},
        )
    ]
    uniques = inspect(conn).get_unique_constraints(table)
    for definition in index_definitions:
        if definition.startswith("CREATE UNIQUE"):
            raise ValueError(f"cannot partition {table}: a unique index that is not a constraint: {definition}")
    conn.execute(text(f"CREATE TABLE {q(temp)} (LIKE {q(table)} INCLUDING DEFAULTS) PARTITION BY RANGE ({q(column)})"))
    first = conn.execute(text(f"SELECT min({q(column)}) FROM {q(table)}")).scalar()  # noqa: S608 - identifiers quoted
    first_day = (first.astimezone(timezone.utc).date() if first else now.date())
    day = first_day
    last_day = now.astimezone(timezone.utc).date() + timedelta(days=days_ahead)
    while day <= last_day:
        _create_partition(conn, temp, table, day)
        day += timedelta(days=1)
    conn.execute(text(f"CREATE TABLE {q(table + '_default')} PARTITION OF {q(temp)} DEFAULT"))
    conn.execute(text(f"INSERT INTO {q(temp)} SELECT * FROM {q(table)}"))  # noqa: S608 - identifiers quoted
    sequence = None
    if table == "metrics":
        sequence = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table}).scalar()
        if sequence:
            conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY NONE"))
    row_security.before_rebuild(conn, table)
    conn.execute(text(f"DROP TABLE {q(table)}"))
    conn.execute(text(f"ALTER TABLE {q(temp)} RENAME TO {q(table)}"))
    row_security.secure_table(conn, table)  # policies and grants stay with the old table
    if sequence:
        conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY {q(table)}.id"))
    keys = ", ".join(q(c) for c in PARTITIONED_KEYS[table])
    conn.execute(text(f"ALTER TABLE {q(table)} ADD CONSTRAINT {q('pk_' + table)} PRIMARY KEY ({keys})"))
    for unique in uniques:  # a partitioned table's unique keys must contain the partition key
        cols = list(unique["column_names"]) + ([column] if column not in unique["column_names"] else [])
        conn.execute(text(f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(unique['name'])} UNIQUE ({', '.join(q(c) for c in cols)})"))
    for definition in index_definitions:
        conn.execute(text(definition))
    if table == "spans":  # the content index's trigger went with the old table
        fts.create_pg_trigger(conn)


def _partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def _create_partition(conn: Connection, parent: str, table: str, day: date) -> None:
    lo, hi = f"{day.isoformat()} 00:00:00+00", f"{(day + timedelta(days=1)).isoformat()} 00:00:00+00"
    name = _partition_name(table, day)
    conn.execute(text(f"CREATE TABLE {_q(conn, name)} PARTITION OF {_q(conn, parent)} FOR VALUES FROM ('{lo}') TO ('{hi}')"))


def list_partitions(conn: Connection, table: str) -> dict[str, date]:
    """Daily partitions of ``table``: name -> day."""
    rows = conn.execute(
        text("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
             "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :t"),
        {"t": table},
    )
    out = {}
    for (name,) in rows:
        match = _PARTITION_NAME.match(name)
        if match and match.group("table") == table:
            out[name] = datetime.strptime(match.group("day"), "%Y%m%d").date()
    return out


def create_partitions_ahead(engine: Engine, days: int = 7, now: datetime | None = None) -> list[str]:
    """Create the daily partitions from today to ``today + days`` that do not exist yet; rows already in
    the DEFAULT partition for those days are moved into them. Returns the partitions created."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    created: list[str] = []
    with engine.begin() as conn:
        for table in sorted(partitioned_tables(conn) & set(PARTITIONED)):
            column = PARTITIONED[table]
            existing = set(list_partitions(conn, table).values())
            for offset in range(days + 1):
                day = now.date() + timedelta(days=offset)
                if day in existing:
                    continue
                _create_partition_moving_default(conn, table, column, day)
                created.append(_partition_name(table, day))
    return created


def _create_partition_moving_default(conn: Connection, table: str, column: str, day: date) -> None:
    q = lambda name: _q(conn, name)  # noqa: E731
    default = table + "_default"
    lo = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    hi = lo + timedelta(days=1)
    params = {"lo": lo, "hi": hi}
    waiting = conn.execute(
        text(f"SELECT count(*) FROM {q(default)} WHERE {q(column)} >= :lo AND {q(column)} < :hi"), params  # noqa: S608
    ).scalar()
    if waiting:
        conn.execute(text(f"CREATE TEMP TABLE _agentotel_move (LIKE {q(table)}) ON COMMIT DROP"))
        conn.execute(
            text(f"WITH moved AS (DELETE FROM {q(default)} WHERE {q(column)} >= :lo AND {q(column)} < :hi RETURNING *) "  # noqa: S608
                 "INSERT INTO _agentotel_move SELECT * FROM moved"),
            params,
        )
    _create_partition(conn, table, table, day)
    if waiting:
        conn.execute(text(f"INSERT INTO {q(table)} SELECT * FROM _agentotel_move"))  # noqa: S608
        conn.execute(text("DROP TABLE _agentotel_move"))


def drop_partitions_before(conn: Connection, table: str, cutoff: datetime) -> int:
    """Drop every daily partition of ``table`` that ends at or before ``cutoff``; returns rows dropped."""
    cutoff = cutoff.astimezone(timezone.utc)
    dropped = 0
    for name, day in sorted(list_partitions(conn, table).items(), key=lambda kv: kv[1]):
        end = datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(days=1)
        if end <= cutoff:
            dropped += conn.execute(text(f"SELECT count(*) FROM {_q(conn, name)}")).scalar() or 0  # noqa: S608
            conn.execute(text(f"DROP TABLE {_q(conn, name)}"))
    return dropped
