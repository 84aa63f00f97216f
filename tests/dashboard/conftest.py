"""A seeded warehouse per dialect shared by the read-only dashboard tests (seeding runs the real pipeline
and a real benchmark suite, so it is done once per session; tests that change data use their own)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import DIALECTS, drop_postgres_database, new_postgres_database


@pytest.fixture(scope="session", params=DIALECTS)
def seeded(request, tmp_path_factory):
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade
    from tests.dashboard.support import seed_all

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('dash')}/warehouse.db"
        engine = create_db_engine(url)
        upgrade(engine)
    else:
        url = new_postgres_database()
        engine = create_db_engine(url)
    try:
        facts = seed_all(engine)
        yield SimpleNamespace(url=url, engine=engine, facts=facts, dialect=request.param)
    finally:
        engine.dispose()
        if request.param == "postgresql":
            _dispose_dashboard_engine(url)
            drop_postgres_database(url)


def _dispose_dashboard_engine(url: str) -> None:
    """The dashboard's cached engine for ``url`` holds pooled connections: close them."""
    from agentotel.dashboard import data

    try:
        data.engine(url).dispose()
    except Exception:  # noqa: BLE001 - best effort before the database is dropped
        pass
