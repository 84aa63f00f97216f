"""Real parts for every test: a warehouse on SQLite and on PostgreSQL (a fresh database per test).

PostgreSQL comes from ``AGENTOTEL_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``). On CI
(``CI=true``) a PostgreSQL that cannot be reached fails the test instead of skipping it. Every test run on
PostgreSQL carries the ``postgres`` marker (``make test-fast`` leaves them out; ``-m postgres`` runs only them).
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = os.environ.get("AGENTOTEL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
DIALECTS = ("sqlite", "postgresql")

_template_db: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    # SQLAlchemy does not reflect SQLite's expression index (ix_llm_calls_failed_model): the schema tests
    # compare everything else, and its warning in every run hid the ones that matter
    config.addinivalue_line("filterwarnings", "ignore:Skipped unsupported reflection of expression-based index")


def _pg_conninfo(dbname: str | None = None) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    return (
        f"host={url.host or '127.0.0.1'} port={url.port or 5432} user={url.username or 'postgres'} "
        f"dbname={dbname or url.database}" + (f" password={url.password}" if url.password else "")
    )


def _pg_url(dbname: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_URL).set(database=dbname).render_as_string(hide_password=False)


def require_postgres() -> None:
    """Skip (locally) or fail (on CI) when PostgreSQL is not reachable."""
    import psycopg

    try:
        psycopg.connect(_pg_conninfo(), connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        message = f"PostgreSQL at {PG_URL} is not reachable: {exc}"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
        conn.execute(sql)


def _migrated_template() -> str:
    """One migrated template database per test session; each test clones it (fast)."""
    global _template_db
    if _template_db is None:
        from agentotel.warehouse.engine import create_db_engine
        from agentotel.warehouse.migrate import upgrade

        name = f"agentotel_tpl_{uuid.uuid4().hex[:10]}"
        _pg_admin(f'CREATE DATABASE "{name}"')
        engine = create_db_engine(_pg_url(name))
        upgrade(engine)
        engine.dispose()
        _template_db = name
    return _template_db


def new_postgres_database(migrated: bool = True) -> str:
    """Create a fresh PostgreSQL database and return its URL (dropped by the caller's fixture)."""
    require_postgres()
    name = f"agentotel_t_{uuid.uuid4().hex[:12]}"
    if migrated:
        _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{_migrated_template()}"')
    else:
        _pg_admin(f'CREATE DATABASE "{name}"')
    return _pg_url(name)


class _Dropper:
    """Drops test databases on a background thread: a DROP DATABASE waits for a checkpoint (about 1 s on this
    machine), which the next test need not wait for. The session end waits for every drop."""

    def __init__(self) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def drop(self, name: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="drop-test-databases", daemon=True)
            self._thread.start()
        self._queue.put(name)

    def _run(self) -> None:
        while (name := self._queue.get()) is not None:
            try:
                _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001 - reported at the end of the session
                self.errors.append(f"{name}: {exc}")

    def finish(self, timeout: float = 120.0) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None


_dropper = _Dropper()


def drop_postgres_database(url: str) -> None:
    """Drop a database of ``new_postgres_database()`` (in the background; its name is never reused)."""
    from sqlalchemy.engine import make_url

    _dropper.drop(make_url(url).database)


def pytest_collection_modifyitems(config, items) -> None:  # noqa: ARG001
    """A test parametrized with the ``postgresql`` dialect (directly or through a fixture) needs PostgreSQL."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.params.values():
            item.add_marker(pytest.mark.postgres)


# A test over this many seconds (setup + call + teardown) belongs in `make test` only: mark it slow, or make it
# cheaper. The end of a run lists the unmarked ones, so `make test-fast` stays fast as tests are added.
SLOW_SECONDS = 3.0
_unmarked_slow: dict[str, float] = {}


def pytest_runtest_logreport(report) -> None:
    if "slow" not in report.keywords and "postgres" not in report.keywords:  # the tests of `make test-fast`
        _unmarked_slow[report.nodeid] = _unmarked_slow.get(report.nodeid, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter) -> None:
    over = sorted(((t, n) for n, t in _unmarked_slow.items() if t > SLOW_SECONDS), reverse=True)
    if over:
        terminalreporter.section(f"make test-fast: over {SLOW_SECONDS:.0f} s without the slow marker "
                                 "(mark it, or make it cheaper)")
        for seconds, nodeid in over:
            terminalreporter.line(f"{seconds:6.1f} s  {nodeid}")


def pytest_sessionfinish(session, exitstatus) -> None:  # noqa: ARG001
    _dropper.finish()
    for error in _dropper.errors:
        print(f"\nconftest: could not drop test database {error}")
    if _template_db is not None:
        try:
            _pg_admin(f'DROP DATABASE IF EXISTS "{_template_db}" WITH (FORCE)')
        except Exception:  # noqa: BLE001
            pass


@pytest.fixture(params=DIALECTS)
def dialect(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """One migrated SQLite warehouse per test session (per worker); each test copies it (a migration run costs
    about 0.5 s on this machine, a copy about a millisecond)."""
    from sqlalchemy import text

    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade

    path = tmp_path_factory.mktemp("sqlite-template") / "warehouse.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:  # everything in the main file, so that copying the file copies the database
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()
    return path


@pytest.fixture
def db_url(dialect: str, tmp_path, request) -> Iterator[str]:
    """A migrated, empty warehouse of each dialect."""
    if dialect == "sqlite":
        path = tmp_path / "warehouse.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = new_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
def receiver(request, db_url: str, tmp_path):
    """A running in-process receiver (``tests/support/receiver.py``) on the ``db_url`` warehouse, on free loopback
    ports; ``@pytest.mark.receiver(**fields)`` on the test or module overrides ``ReceiverSettings`` fields."""
    from tests.support.receiver import running_receiver

    marker = request.node.get_closest_marker("receiver")
    with running_receiver(db_url, str(tmp_path / "spool"), **(marker.kwargs if marker else {})) as server:
        yield server


@pytest.fixture
def engine(db_url: str):
    from agentotel.warehouse.engine import create_db_engine

    eng = create_db_engine(db_url)
    yield eng
    eng.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
