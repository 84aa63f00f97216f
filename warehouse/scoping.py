"""Readers scoped to projects: one engine whose every connection sees only the rows of its projects.

PostgreSQL: each connection takes the role ``agentotel_reader`` and sets ``agentotel.project``, so the
row-level security policies (``row_security``) do the filtering, for every query whatever it reads.
SQLite (no row security): each connection gets TEMP views named like the project-scoped tables, which shadow
them for every unqualified name the readers use (``SELECT … FROM spans``), holding only the projects' rows;
the rollups carry ``project_id`` (revision tenancy_0002) and are scoped like the rest (their watermarks,
``rollup_state``, are shared: times, no figures); the API keys and their audit log read as empty on SQLite and
are refused on PostgreSQL (no grant): never another project's keys.
A scoped engine is for reading: a write through it fails (a view on SQLite, no grant on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, event

from agentotel.core.projects import check_project_name
from agentotel.core.settings import DatabaseSettings
from agentotel.warehouse.engine import create_db_engine, open_warehouse
from agentotel.warehouse.row_security import READER_ROLE, SETTING
from agentotel.warehouse.tenancy_models import PROJECT_TABLES

# read as empty through a scoped engine (on PostgreSQL: no grant to the reader)
UNSCOPED_TABLES = ("api_keys", "key_audit_log")


def open_scoped_warehouse(settings: DatabaseSettings | str, projects: Sequence[str]) -> Engine:
    """The warehouse of ``settings`` (migrated first, as ``open_warehouse`` does) for readers of ``projects``."""
    if isinstance(settings, str):
        settings = DatabaseSettings(url=settings)
    open_warehouse(settings).dispose()
    return scope_engine(create_db_engine(settings.url, settings), projects)


def scope_engine(engine: Engine, projects: Sequence[str]) -> Engine:
    """Scope every connection ``engine`` opens from now on to ``projects`` (an empty list sees nothing)."""
    names = [check_project_name(p) for p in projects]
    if engine.dialect.name == "postgresql":
        event.listen(engine, "connect", lambda dbapi, _record: _scope_postgres(dbapi, names))
    else:
        event.listen(engine, "connect", lambda dbapi, _record: _scope_sqlite(dbapi, names))
    return engine


def _scope_postgres(dbapi: Any, projects: list[str]) -> None:
    autocommit = dbapi.autocommit
    dbapi.autocommit = True  # outside a transaction, so that a rollback does not undo it
    try:
        with dbapi.cursor() as cursor:
            cursor.execute(f"SET ROLE {READER_ROLE}")
            cursor.execute("SELECT set_config(%s, %s, false)", (SETTING, ",".join(projects)))
    finally:
        dbapi.autocommit = autocommit


def _scope_sqlite(dbapi: Any, projects: list[str]) -> None:
    listed = ", ".join(f"'{p}'" for p in projects) or "NULL"  # names checked: [a-z0-9_-] only
    cursor = dbapi.cursor()
    present = {row[0] for row in cursor.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}
    for table in PROJECT_TABLES:
        if table in present:
            cursor.execute(f"CREATE TEMP VIEW IF NOT EXISTS {table} AS "  # noqa: S608 - our table names
                           f"SELECT * FROM main.{table} WHERE project_id IN ({listed})")  # fmt: skip
    for table in UNSCOPED_TABLES:
        if table in present:
            cursor.execute(f"CREATE TEMP VIEW IF NOT EXISTS {table} AS SELECT * FROM main.{table} WHERE 0")  # noqa: S608
    cursor.close()
