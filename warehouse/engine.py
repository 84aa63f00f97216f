"""Engines from settings: URL normalization, pool sizing, SSL, and SQLite pragmas for concurrent ingest.

``open_warehouse(settings)`` is how commands open the warehouse: connected and migrated, or one
``WarehouseUnavailable`` error that names the database.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from alembic.util.exc import CommandError as AlembicError
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from agentotel.core.errors import CommandError
from agentotel.core.settings import DEFAULT_DB_URL, DatabaseSettings
from agentotel.warehouse.content_keys import enable_encryption
from agentotel.warehouse.migrate import upgrade

# What a failed warehouse read or write raises, for callers that import no SQLAlchemy (the dashboard).
DatabaseError = SQLAlchemyError


class WarehouseUnavailable(CommandError):
    """The warehouse cannot be opened or migrated. The message names it (password hidden) and says why;
    a ``CommandError``, so the command line prints it as one line and exits with status 2."""


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3; other URLs pass unchanged."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_db_engine(url: str | None = None, settings: DatabaseSettings | None = None, **kwargs) -> Engine:
    """Create an engine for ``url`` (else ``settings.url``) with pool and SSL from ``settings`` (resolved by
    the caller; without them, the defaults). Connects lazily and migrates nothing: see ``open_warehouse``."""
    settings = settings or DatabaseSettings(url=url or DEFAULT_DB_URL)
    kwargs.setdefault("hide_parameters", True)  # error messages must not copy captured content into logs
    sa_url = make_url(normalize_url(url or settings.url))
    if sa_url.get_backend_name() == "sqlite":
        engine = create_engine(sa_url, poolclass=NullPool, **kwargs)
        _configure_sqlite(engine)
        enable_encryption(engine, settings.master_key)
        return engine
    connect_args = dict(kwargs.pop("connect_args", {}))
    if settings.ssl and "sslmode" not in sa_url.query:
        connect_args["sslmode"] = settings.ssl
    engine = create_engine(
        sa_url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
        connect_args=connect_args,
        **kwargs,
    )
    enable_encryption(engine, settings.master_key)  # master key set: content encrypted at rest, read in clear
    return engine


def open_warehouse(settings: DatabaseSettings | str, *, migrate: bool = True, quiet: bool = True, **kwargs) -> Engine:
    """The engine of the warehouse ``settings`` name (a URL: default pool and SSL), connected and, unless
    ``migrate`` is false, migrated to every head: the one way commands open the warehouse.

    ``quiet`` keeps Alembic's per-revision INFO lines out of the command's output. Raises
    ``WarehouseUnavailable`` (one line: the database, password hidden, and the reason) if the database
    cannot be reached, its driver is missing or its schema cannot be migrated.
    """
    if isinstance(settings, str):
        settings = DatabaseSettings(url=settings)
    engine: Engine | None = None
    alembic_logger = logging.getLogger("alembic")
    level = alembic_logger.level
    if quiet:
        alembic_logger.setLevel(max(logging.WARNING, alembic_logger.getEffectiveLevel()))
    try:
        engine = create_db_engine(settings.url, settings, **kwargs)
        if migrate:
            upgrade(engine)
        else:
            with engine.connect():
                pass
    except (SQLAlchemyError, AlembicError, ImportError, OSError, ValueError) as exc:
        if engine is not None:
            engine.dispose()
        raise WarehouseUnavailable(f"cannot open the warehouse {settings.display_url}: {_reason(exc)}") from exc
    finally:
        alembic_logger.setLevel(level)
    return engine


def _reason(exc: BaseException) -> str:
    """The first line of the driver's own message (SQLAlchemy wraps it with SQL and a help link)."""
    cause = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


SQLITE_PRAGMAS = (
    # 16 KiB pages for a new file (no effect on an existing one): span rows carry ~1.5 KB of JSON and content,
    # and bigger pages cut insert+commit cost by ~20% (benchmarks/ingest.py)
    "PRAGMA page_size=16384",
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    # a page cache of up to 64 MiB per connection instead of SQLite's 2 MiB (125 pages of 16 KiB): once the
    # trace-id indexes outgrow the cache, every insert reads random pages back (ingest at 1M spans fell to
    # ~3k spans/s from ~5.6k into an empty file; benchmarks/analytics.py prints the rate per 100k spans)
    "PRAGMA cache_size=-65536",
    "PRAGMA foreign_keys=ON",
)
"""Every SQLite connection's settings, as statements (benchmarks/ingest.py's floor writes with the same)."""


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
        # Let SQLAlchemy manage transactions (pysqlite's own BEGIN handling defers too late).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        for statement in SQLITE_PRAGMAS:
            cur.execute(statement)
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # pragma: no cover - trivial
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")


def make_durable(engine: Engine) -> list[str]:
    """Make every transaction committed so far survive a power loss; returns the files it synced.

    SQLite runs ``synchronous=NORMAL`` in WAL mode: a commit is written to the ``-wal`` file but not synced
    (a checkpoint syncs it before copying it into the database). This syncs the WAL (and the database file),
    as ``synchronous=FULL`` would at every commit, once for all the commits before it: the spool checkpoint
    may advance only after it (``otlp_receiver.drain``). PostgreSQL commits are durable when they return
    (``synchronous_commit=on``, its default): nothing to do. Raises ``OSError`` if a sync fails.
    """
    if engine.dialect.name != "sqlite":
        return []
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return []
    synced = []
    for path in (database + "-wal", database):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:  # no WAL: the last connection's close checkpointed it (and synced the file)
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        synced.append(path)
    return synced


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction: ``BEGIN IMMEDIATE`` on SQLite (writers queue instead of failing on a lock
    upgrade), an ordinary transaction on PostgreSQL (callers lock what they compare-and-set)."""
    with engine.connect() as conn:
        conn.info["write"] = True
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop("write", None)
