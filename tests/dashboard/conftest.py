"""A seeded warehouse per dialect shared by the read-only dashboard tests (seeding runs the real pipeline
and a real benchmark suite, so it is done once per session; tests that change data use their own)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import DIALECTS


@pytest.fixture(scope="session", params=DIALECTS)
def seeded(request, tmp_path_factory):
    from tests.dashboard.support import dashboard_warehouse, seed_all

    with dashboard_warehouse(request.param, tmp_path_factory.mktemp("dash")) as (url, engine):
        facts = seed_all(engine)
        yield SimpleNamespace(url=url, engine=engine, facts=facts, dialect=request.param)
