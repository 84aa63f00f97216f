"""The ingest fast path: ``INSERT … ON CONFLICT`` through the DB-API ``executemany`` with values already
in the driver's form (JSON text, UTC timestamps), skipping per-value SQLAlchemy bind processing.

The statement is still built and compiled by SQLAlchemy (once per table and dialect), so the SQL is the
same as ``upsert.insert_on_conflict`` produces.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

NUL = "\x00"
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def dumps_json(value: Any) -> str | None:
    """Compact JSON text; a NUL character (which PostgreSQL cannot store) is kept visible, escaped."""
    if value is None:
        return None
    text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    if "\\u0000" in text:
        text = _JSON_NUL.sub(r"\1\\\\u0000", text)
    return text


def storable(value: Any, limit: int | None = None) -> Any:
    """A text value PostgreSQL can store: NUL becomes the visible escape ``\\u0000``, and a value longer
    than its ``String(limit)`` column is cut (PostgreSQL would refuse the whole batch)."""
    if type(value) is not str:
        return value
    if NUL in value:
        value = value.replace(NUL, "\\u0000")
    if limit is not None and len(value) > limit:
        value = value[:limit]
    return value


INT32_MAX = 2**31 - 1


def storable_int(value: Any) -> int | None:
    """An ``Integer`` column value: a count beyond 32 bits is a producer's bug, stored as unknown."""
    if value is None or isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if -INT32_MAX <= value <= INT32_MAX else None


SQLITE_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # what SQLAlchemy's SQLite DateTime stores


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def ns_to_datetime(ns: int) -> datetime:
    """An exact-to-the-microsecond aware UTC datetime from Unix nanoseconds (no float rounding). Epoch plus a
    timedelta: half the cost of ``fromtimestamp(tz=…)`` (7 % of the receiver's CPU on PostgreSQL)."""
    return _EPOCH + timedelta(microseconds=ns // 1000)


def driver_time(value: datetime | None, dialect: str) -> Any:
    if value is None or dialect != "sqlite":
        return value
    return value.astimezone(timezone.utc).strftime(SQLITE_TIME_FORMAT)


_SECOND_TEXT: dict[int, str] = {}


def driver_time_ns(ns: int, dialect: str) -> Any:
    """``driver_time(ns_to_datetime(ns))`` without formatting a whole timestamp per call on SQLite."""
    if dialect != "sqlite":
        return ns_to_datetime(ns)
    seconds, rest = divmod(ns, 1_000_000_000)
    text = _SECOND_TEXT.get(seconds)
    if text is None:
        if len(_SECOND_TEXT) > 100_000:
            _SECOND_TEXT.clear()
        text = _SECOND_TEXT[seconds] = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f"{text}.{rest // 1000:06d}"


@lru_cache(maxsize=128)
def _compiled(
    table: Table, dialect_name: str, dialect: Any, columns: tuple[str, ...], keys: tuple[str, ...],
    update_columns: tuple[str, ...], coalesce_columns: tuple[str, ...], guard: str | None = None,
) -> tuple[str, tuple[str, ...]]:  # fmt: skip
    insert = pg_insert if dialect_name == "postgresql" else sqlite_insert
    stmt = insert(table).values({c: bindparam(c) for c in columns})
    if update_columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={
                c: func.coalesce(stmt.excluded[c], table.c[c]) if c in coalesce_columns else stmt.excluded[c]
                for c in update_columns
            },
            where=(table.c[guard] == stmt.excluded[guard]) if guard else None,
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    if dialect_name == "postgresql":  # positional %s: rows go to psycopg as tuples too
        dialect = PGDialect_psycopg(paramstyle="format")
    compiled = stmt.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ())


def fast_insert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update_columns: Sequence[str] = (),
    coalesce_columns: Sequence[str] = (),
    guard: str | None = None,
) -> None:
    """Insert driver-ready ``rows`` (all with the same keys); on conflict do nothing or update (only a row
    whose ``guard`` column equals the new row's, e.g. of the same project: another row is left as it is)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        _copy_insert(conn, table, rows, keys, update_columns, coalesce_columns, guard)
        return
    dialect = conn.dialect
    sql, order = _compiled(
        table, dialect.name, dialect, tuple(rows[0]), tuple(keys), tuple(update_columns), tuple(coalesce_columns), guard
    )
    getter = itemgetter(*order)
    params = [getter(row) for row in rows] if len(order) > 1 else [(getter(row),) for row in rows]
    conn.exec_driver_sql(sql, params)


COPY_MIN_ROWS = 64


def _copy_insert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update_columns: Sequence[str] = (),
    coalesce_columns: Sequence[str] = (),
    guard: str | None = None,
) -> None:
    """PostgreSQL: ``COPY`` into a session-local staging table, then one ``INSERT … SELECT … ON CONFLICT``
    that does nothing or updates ``update_columns`` (several times faster than row-by-row parameters; the
    same result: of rows with one key the first is kept, or with updates the last one wins, as
    ``executemany`` would leave them)."""
    columns = list(rows[0])
    staging = f"_agentotel_stage_{table.name}"
    quote = conn.dialect.identifier_preparer.quote
    column_list = ", ".join(quote(c) for c in columns)
    key_list = ", ".join(quote(k) for k in keys)
    if update_columns:
        last: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows:
            key = tuple(row[k] for k in keys)
            last.pop(key, None)  # the last copy wins, in its own position
            last[key] = row
        rows = list(last.values())
        target = quote(table.name)
        assignments = ", ".join(
            f"{quote(c)} = coalesce(EXCLUDED.{quote(c)}, {target}.{quote(c)})" if c in coalesce_columns
            else f"{quote(c)} = EXCLUDED.{quote(c)}"
            for c in update_columns
        )  # fmt: skip
        on_conflict = f"DO UPDATE SET {assignments}"
        if guard:  # only a row of the same project (tenancy): another one is left as it is
            on_conflict += f" WHERE {target}.{quote(guard)} = EXCLUDED.{quote(guard)}"
    else:
        on_conflict = "DO NOTHING"
    raw = conn.connection.driver_connection
    assert raw is not None  # a checked-out connection always has its driver connection
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {quote(staging)} "  # noqa: S608 - identifiers from our models
            f"(LIKE {quote(table.name)} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY {quote(staging)} ({column_list}) FROM STDIN") as copy:
            getter = itemgetter(*columns)
            for row in rows:
                copy.write_row(getter(row))
        cursor.execute(
            f"INSERT INTO {quote(table.name)} ({column_list}) "  # noqa: S608 - identifiers from our models
            f"SELECT DISTINCT ON ({key_list}) {column_list} FROM {quote(staging)} ON CONFLICT ({key_list}) {on_conflict}"
        )
        cursor.execute(f"TRUNCATE {quote(staging)}")
