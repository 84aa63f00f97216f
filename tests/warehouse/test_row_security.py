"""Issue 20 point 2 on PostgreSQL: plain SQL as the non-owner reader role ``agentotel_reader`` sees only the
rows of the projects in ``agentotel.project``; without the setting (or after RESET) it sees nothing; it can
neither write nor read the API keys; the owner (writer, maintenance) sees everything; time partitioning keeps
the policies. Rows are written by the receiver's own write path (decode → pipeline → writer) with the
receiver's project stamp."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.errors import StorageError
from agentotel.warehouse.row_security import WRITER_ROLE, write_as, writer_role_problem
from agentotel.warehouse.schema_manager import enable_partitioning
from agentotel.warehouse.tenancy_models import PROJECT_TABLES
from tests.conftest import drop_postgres_database, new_postgres_database
from tests.warehouse.test_project_scoping import ROWS, write_projects

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url():
    url = new_postgres_database()
    yield url
    drop_postgres_database(url)


def _dsn(url: str) -> str:
    u = make_url(url)
    return f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"


def _as_reader(url: str, setting: str | None, sql: str):
    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        conn.execute("SET ROLE agentotel_reader")
        if setting is not None:
            conn.execute("SELECT set_config('agentotel.project', %s, false)", (setting,))
        return conn.execute(sql).fetchall()


def _visible(url: str, setting: str | None) -> dict[str, int]:
    rows = _as_reader(url, setting, "SELECT project_id, count(*) FROM spans GROUP BY project_id")
    return dict(rows)  # type: ignore[arg-type]


def test_reader_sees_only_its_projects_and_nothing_without_the_setting(pg_url):
    write_projects(pg_url)
    assert _visible(pg_url, "beta") == {"beta": 2}
    assert _visible(pg_url, "alpha") == {"alpha": 3}
    assert _visible(pg_url, "alpha,beta") == ROWS
    assert _as_reader(pg_url, "beta", "SELECT count(*) FROM spans WHERE project_id = 'alpha'") == [(0,)]
    assert _as_reader(pg_url, "beta", "SELECT count(*) FROM agent_executions") == [(2,)]
    assert _visible(pg_url, "") == {} and _visible(pg_url, "gamma") == {}
    for table in PROJECT_TABLES:  # fail closed: forgetting the setting returns nothing, on every table
        assert _as_reader(pg_url, None, f"SELECT count(*) FROM {table}") == [(0,)], table  # noqa: S608
    with psycopg.connect(_dsn(pg_url), autocommit=True) as conn:
        conn.execute("SET ROLE agentotel_reader")
        conn.execute("SET agentotel.project = 'beta'")
        conn.execute("RESET agentotel.project")
        assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(0,)]
        for forbidden in ("SELECT count(*) FROM api_keys", "DELETE FROM spans",
                          "INSERT INTO projects (name) VALUES ('x')"):  # fmt: skip
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(forbidden)
        conn.execute("RESET ROLE")  # the owner (the receiver's writer, maintenance) is not restricted
        assert dict(conn.execute("SELECT project_id, count(*) FROM spans GROUP BY 1").fetchall()) == ROWS


@pytest.mark.slow
def test_time_partitioning_keeps_the_policies(pg_url):
    write_projects(pg_url)
    engine = create_db_engine(pg_url)
    assert set(enable_partitioning(engine)) >= {"spans", "llm_calls", "tool_calls", "metrics"}
    engine.dispose()
    assert _visible(pg_url, "beta") == {"beta": 2}
    assert _visible(pg_url, None) == {}
    with psycopg.connect(_dsn(pg_url), autocommit=True) as conn:
        partition = conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'spans_p%' LIMIT 1").fetchone()
        conn.execute("SET ROLE agentotel_reader")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a partition is not a way around the policy
            conn.execute(f'SELECT count(*) FROM "{partition[0]}"')


def test_the_writer_is_bound_to_the_project_it_writes(pg_url):
    """The receiver's writers take ``agentotel_writer`` with the batch's project (``row_security.write_as``):
    in such a transaction another project's rows are invisible and a row of another project is refused,
    whatever the code asks; the role ends with the transaction. The span writer really writes as that role:
    without its INSERT grant the write fails (as the owner it would pass)."""
    write_projects(pg_url)
    engine = create_db_engine(pg_url)
    with engine.connect() as conn:
        assert writer_role_problem(conn) is None  # the login that migrated may take the role
        conn.rollback()
        with conn.begin():
            write_as(conn, ["beta"])
            assert conn.execute(text("SELECT current_user")).scalar() == WRITER_ROLE
            assert dict(conn.execute(text("SELECT project_id, count(*) FROM spans GROUP BY 1")).all()) == {"beta": 2}
            assert conn.execute(text("UPDATE spans SET name = 'x' WHERE project_id = 'alpha'")).rowcount == 0
        with pytest.raises(DBAPIError, match="row-level security"), conn.begin():
            write_as(conn, ["beta"])
            conn.execute(text("UPDATE spans SET project_id = 'alpha' WHERE project_id = 'beta'"))
        assert conn.execute(text("SELECT current_user")).scalar() != WRITER_ROLE
        conn.rollback()
    outsider = f"outsider_{uuid.uuid4().hex[:8]}"  # a login the migration did not make a member
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {outsider} NOLOGIN")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"SET LOCAL ROLE {outsider}")
            assert writer_role_problem(conn) == (f"the login {outsider} may not take the role {WRITER_ROLE}: "
                                                 f"GRANT {WRITER_ROLE} TO {outsider}")  # fmt: skip
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP ROLE {outsider}")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"REVOKE INSERT ON spans FROM {WRITER_ROLE}")
    with pytest.raises(StorageError, match="permission denied for table spans"):
        write_projects(pg_url)
    assert _visible(pg_url, "alpha,beta") == ROWS  # nothing more
    engine.dispose()
