"""Engines from settings: URL normalization, pool sizing, SSL, and SQLite pragmas for concurrent ingest."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from agentotel.core.settings import DatabaseSettings


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3; other URLs pass unchanged."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_db_engine(url: str | None = None, settings: DatabaseSettings | None = None, **kwargs) -> Engine:
    """Create an engine for ``url`` (or ``MONITORING_DB_URL``) with pool and SSL from settings."""
    settings = settings or DatabaseSettings.from_env(url)
    kwargs.setdefault("hide_parameters", True)  # error messages must not copy captured content into logs
    sa_url = make_url(normalize_url(url or settings.url))
    if sa_url.get_backend_name() == "sqlite":
        engine = create_engine(sa_url, poolclass=NullPool, **kwargs)
        _configure_sqlite(engine)
        return engine
    connect_args = dict(kwargs.pop("connect_args", {}))
    if settings.ssl and "sslmode" not in sa_url.query:
        connect_args["sslmode"] = settings.ssl
    return create_engine(
        sa_url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
        connect_args=connect_args,
        **kwargs,
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:  # pragma: no cover - trivial
        # Let SQLAlchemy manage transactions (pysqlite's own BEGIN handling defers too late).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        # 16 KiB pages for a new file (no effect on an existing one): span rows carry ~1.5 KB of JSON and
        # content, and bigger pages cut insert+commit cost by ~20% (benchmarks/ingest.py)
        cur.execute("PRAGMA page_size=16384")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # pragma: no cover - trivial
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")


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
