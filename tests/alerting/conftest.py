"""A SQLite-only warehouse for tests of wiring that does not depend on the database (CLI, threads, the
external Alertmanager); the queue, manager, engine and schema tests run on both dialects via ``engine``."""

from __future__ import annotations

import pytest


@pytest.fixture
def sqlite_db_url(tmp_path) -> str:
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade

    url = f"sqlite:///{tmp_path}/alerting.db"
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def sqlite_engine(sqlite_db_url):
    from agentotel.warehouse.engine import create_db_engine

    engine = create_db_engine(sqlite_db_url)
    yield engine
    engine.dispose()
