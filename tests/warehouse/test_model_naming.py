"""One model naming everywhere: the LLM rollups (and so the dashboard's per-model figures and filters) name a
model as ``/metrics`` does, the response model, else the request model; revision analytics_0002 renames
what was rolled up before, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.llm_calls import llm_stats
from agentotel.warehouse.migrate import current_revisions, upgrade
from agentotel.warehouse.rollups import FAMILIES, refresh_rollups
from tests.support.conversations import write_conversations

LLM_ROLLUP = FAMILIES["llm"].rollup


def _models(engine) -> set[str]:
    with engine.connect() as conn:
        return {r.model for r in conn.execute(select(LLM_ROLLUP.c.model)) if not r.model.startswith("\x01")}


def test_rollups_name_the_response_model_and_the_revision_renames_old_rows(empty_url):
    engine = create_db_engine(empty_url)
    try:
        for head in ("0002", "analytics_0001", "alerting_0002", "evaluation_0001", "explorer_0001", "interop_0001",
                     "registry_0001"):
            upgrade(engine, head)
        write_conversations(engine)
        now = datetime.now(timezone.utc)
        refresh_rollups(engine, now=now + timedelta(minutes=1))
        assert "gpt-4o-mini-2024-07-18" in _models(engine)
        with engine.begin() as conn:  # rows as the rollups named them before the revision
            conn.execute(LLM_ROLLUP.update().where(LLM_ROLLUP.c.model == "gpt-4o-mini-2024-07-18")
                         .values(model="gpt-4o-mini"))
        upgrade(engine)
        assert "analytics_0002" in current_revisions(engine)
        assert _models(engine) == {"gpt-4o-mini-2024-07-18", "claude-3-5-sonnet", "gpt-4o"}
        per_model = llm_stats(AnalyticsEngine(engine, cache_ttl=0), now - timedelta(hours=1), now)
        assert set(per_model["model"]) == {"gpt-4o-mini-2024-07-18", "claude-3-5-sonnet", "gpt-4o"}
    finally:
        engine.dispose()
