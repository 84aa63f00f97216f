"""One model naming everywhere: the LLM rollups (and so the dashboard's per-model figures and filters) name a
model as ``/metrics`` does, the response model, else the request model; revision analytics_0002 renames
what was rolled up before, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from alembic import command
from sqlalchemy import MetaData, Table, select

from agentotel.core.utc import as_utc
from agentotel.warehouse import sketch
from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.llm_calls import llm_stats
from agentotel.warehouse.migrate import alembic_config, current_revisions, upgrade
from agentotel.warehouse.models import LLMCall
from agentotel.warehouse.rollups import FAMILIES
from tests.support.conversations import write_conversations

LLM_ROLLUP = FAMILIES["llm"].rollup


def _models(engine) -> set[str]:
    with engine.connect() as conn:
        return {r.model for r in conn.execute(select(LLM_ROLLUP.c.model)) if not r.model.startswith("\x01")}


def _old_minute_rows(engine) -> None:
    """Minute rows of the model calls at schema analytics_0001 (request model first, JSON sketches)."""
    calls = LLMCall.__table__.c
    with engine.begin() as conn:
        old = Table("rollup_llm", MetaData(), autoload_with=conn)
        state = Table("rollup_state", MetaData(), autoload_with=conn)
        rows = conn.execute(select(calls.start_time, calls.agent_name, calls.service_name, calls.provider,
                                   calls.request_model, calls.duration_ms)).all()
        cells: dict[tuple, list[float]] = {}
        for row in rows:
            minute = as_utc(row.start_time).replace(second=0, microsecond=0)
            key = (minute, row.agent_name or "", row.service_name or "", row.provider or "", row.request_model or "")
            cells.setdefault(key, []).append(float(row.duration_ms or 0.0))
        conn.execute(old.insert(), [
            {"width_s": 60, "bucket": key[0], "agent_name": key[1], "service_name": key[2], "provider": key[3],
             "model": key[4], "count": len(values), "success_count": len(values), "duration_count": len(values),
             "duration_sum": sum(values), "duration_hist": sketch.from_values(values), "input_tokens": 0,
             "output_tokens": 0, "total_tokens": 0, "cost_usd": 0.0}
            for key, values in cells.items()
        ])  # fmt: skip
        newest = max(as_utc(r.start_time) for r in rows)
        conn.execute(state.insert(), [{"name": "llm", "watermark": newest, "rows_written": len(cells)}])


def test_rollups_name_the_response_model_and_the_revision_renames_old_rows(empty_url):
    engine = create_db_engine(empty_url)
    try:
        upgrade(engine)
        write_conversations(engine)  # at the head: the writer of today needs today's schema
        cfg = alembic_config(engine)
        with engine.begin() as conn:  # back to analytics_0001 (and what depends on its successors)
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "analytics_0001")
        assert "analytics_0002" not in current_revisions(engine)
        now = datetime.now(timezone.utc)
        _old_minute_rows(engine)  # as the rollups named them (JSON sketches) before the revision
        assert "gpt-4o-mini" in _models(engine)
        upgrade(engine)
        assert "analytics_0004" in current_revisions(engine)  # 0002 marked the recompute, 0003 ran it
        assert _models(engine) == {"gpt-4o-mini-2024-07-18", "claude-3-5-sonnet", "gpt-4o"}
        per_model = llm_stats(AnalyticsEngine(engine, cache_ttl=0), now - timedelta(hours=1), now)
        assert set(per_model["model"]) == {"gpt-4o-mini-2024-07-18", "claude-3-5-sonnet", "gpt-4o"}
    finally:
        engine.dispose()
