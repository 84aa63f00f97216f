"""Idempotent bulk writes: one ``INSERT … ON CONFLICT`` helper for PostgreSQL and SQLite."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

SQLITE_MAX_ROWS_PER_STATEMENT = 500


def dedupe(rows: Iterable[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """Keep the first row per key: one statement may not touch a row twice."""
    seen: dict[tuple, dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(tuple(row[k] for k in keys), row)
    return list(seen.values())


def insert_on_conflict(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update_columns: Sequence[str] | None = None,
    coalesce_columns: Sequence[str] = (),
) -> None:
    """Insert ``rows``; on a key conflict do nothing, or update ``update_columns``.

    ``coalesce_columns`` (a subset of ``update_columns``) keep the stored value when the new one is NULL.
    """
    rows = dedupe(rows, keys)
    if not rows:
        return
    dialect = conn.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    step = len(rows) if dialect == "postgresql" else SQLITE_MAX_ROWS_PER_STATEMENT
    for i in range(0, len(rows), step):
        chunk = rows[i : i + step]
        stmt = insert(table)
        if update_columns:
            values = {
                c: (func.coalesce(stmt.excluded[c], table.c[c]) if c in coalesce_columns else stmt.excluded[c])
                for c in update_columns
            }
            stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=values)
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt, chunk)
