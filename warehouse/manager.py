"""``DatabaseManager`` of the design document: connection, migration, retention, backup and restore.

Backups are portable (gzip-compressed JSON lines, one table row a line), so a SQLite backup restores
into PostgreSQL and back. ``restore`` works into an empty database: it creates the schema first.
"""

from __future__ import annotations

import gzip
import json
import warnings
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, Engine, MetaData, Table, func, select, text

from agentotel.core.durations import parse_duration
from agentotel.core.settings import DEFAULT_DB_URL, DatabaseSettings
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.fts import INDEX_TABLES
from agentotel.warehouse.migrate import current_revisions, upgrade
from agentotel.warehouse.retention import apply_retention

BACKUP_FORMAT = "agentotel-backup"
SKIP_TABLES = {"alembic_version", *INDEX_TABLES}  # the content index is rebuilt by the restore's inserts
CHUNK_ROWS = 5000



class DatabaseManager:
    def __init__(self, url: str | None = None, settings: DatabaseSettings | None = None,
                 engine: Engine | None = None) -> None:
        """The warehouse at ``url`` or of ``settings`` (resolved by the caller; without them, the defaults);
        ``engine``: one already open (``open_warehouse``), else one is created on first use."""
        self.settings = settings or DatabaseSettings(url=url or DEFAULT_DB_URL)
        self.url = url or self.settings.url
        self._engine: Engine | None = engine

    def create_connection(self) -> Engine:
        """The engine (pool size, overflow and SSL from settings); created once."""
        if self._engine is None:
            self._engine = create_db_engine(self.url, self.settings)
        return self._engine

    @property
    def engine(self) -> Engine:
        return self.create_connection()

    def migrate_schema(self, revision: str = "heads") -> set[str]:
        upgrade(self.engine, revision)
        return current_revisions(self.engine)

    def cleanup_old_data(self, older_than: str | int | float | timedelta) -> dict[str, int]:
        """Delete (or drop partitions of) data older than ``older_than``; returns rows removed per table."""
        return apply_retention(self.engine, parse_duration(older_than))

    # -- backup / restore --------------------------------------------------------------------------
    def _reflect(self) -> MetaData:
        """The tables to copy. Indexes are not copied (a restore migrates first), so SQLAlchemy's warning
        that it cannot reflect an expression index (``ix_llm_calls_failed_model`` on SQLite) is noise here."""
        metadata = MetaData()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
            metadata.reflect(self.engine, only=lambda name, _: name not in SKIP_TABLES)
        return metadata

    def backup(self, path: str | Path) -> dict[str, int]:
        """Write every table to ``path`` (gzip JSON lines); returns rows written per table."""
        metadata = self._reflect()
        counts: dict[str, int] = {}
        tables = [t for t in metadata.sorted_tables if t.name not in SKIP_TABLES]
        with gzip.open(path, "wt", encoding="utf-8") as out:
            header = {
                "format": BACKUP_FORMAT,
                "version": 1,
                "created_at": datetime.now(timezone.utc).isoformat(),
                "dialect": self.engine.dialect.name,
                "revisions": sorted(current_revisions(self.engine)),
                "tables": [t.name for t in tables],
            }
            out.write(json.dumps(header) + "\n")
            with self.engine.connect() as conn:
                for table in tables:
                    counts[table.name] = 0
                    result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(select(table))
                    for row in result.mappings():
                        out.write(json.dumps({"t": table.name, "r": dict(row)}, default=_encode) + "\n")
                        counts[table.name] += 1
        return counts

    def restore(self, path: str | Path) -> dict[str, int]:
        """Load a backup into this (empty) database, creating the schema first."""
        lines = _read_lines(path)
        header = json.loads(next(lines))
        if header.get("format") != BACKUP_FORMAT:
            raise ValueError(f"{path} is not an agentotel backup")
        self.migrate_schema()
        metadata = self._reflect()
        with self.engine.connect() as conn:
            for name in header["tables"]:
                if name in metadata.tables:
                    existing = conn.execute(select(func.count()).select_from(metadata.tables[name])).scalar_one()
                    if existing:
                        raise ValueError(f"restore needs an empty database: table {name} has {existing} rows")
        counts: dict[str, int] = {}
        pending: dict[str, list[dict[str, Any]]] = {}
        with self.engine.begin() as conn:
            for line in lines:
                item = json.loads(line)
                table = metadata.tables.get(item["t"])
                if table is None:
                    continue
                rows = pending.setdefault(table.name, [])
                rows.append(_decode_row(table, item["r"]))
                if len(rows) >= CHUNK_ROWS:
                    conn.execute(table.insert(), rows)
                    counts[table.name] = counts.get(table.name, 0) + len(rows)
                    rows.clear()
            for name, rows in pending.items():
                if rows:
                    conn.execute(metadata.tables[name].insert(), rows)
                    counts[name] = counts.get(name, 0) + len(rows)
            if conn.dialect.name == "postgresql":
                _reset_sequences(conn, metadata)
        return counts


def _read_lines(path: str | Path) -> Iterator[str]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        yield from fh


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if hasattr(value, "__float__"):
        return float(value)
    raise TypeError(f"cannot back up a {type(value).__name__}")


def _decode_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in row.items():
        column = table.columns.get(key)
        if column is None:
            continue
        if value is not None and isinstance(value, str) and isinstance(column.type, DateTime):
            parsed = datetime.fromisoformat(value)
            parsed = parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
            value = parsed if column.type.timezone else parsed.replace(tzinfo=None)
        elif value is not None and isinstance(value, str) and isinstance(column.type, Date):
            value = date.fromisoformat(value)
        elif value is not None and isinstance(column.type, Boolean):
            value = bool(value)
        out[key] = value
    return out


def _reset_sequences(conn, metadata: MetaData) -> None:
    """After explicit ids were inserted, move each serial sequence past the largest id."""
    for table in metadata.sorted_tables:
        for column in table.primary_key.columns:
            seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}).scalar()
            if seq:
                largest = conn.execute(select(func.max(column))).scalar()
                conn.execute(select(func.setval(seq, (largest or 0) + 1, False)))
