"""Ranked reads compute latency percentiles only when asked (or sorted by), and whole-range totals read
without hourly grouping; every value they do return is the one of the full read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from agentotel.warehouse import executions, llm_calls, overview, tool_calls
from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.bounds import wanted
from agentotel.warehouse.rollups import refresh_rollups
from tests.warehouse.support import generate, load

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
END = T0 + timedelta(hours=5)


def _same(cheap: pd.DataFrame, full: pd.DataFrame) -> None:
    assert set(cheap.columns) <= set(full.columns)
    pd.testing.assert_frame_equal(cheap, full[list(cheap.columns)], check_dtype=False)


def test_wanted_adds_the_sort_quantile():
    assert wanted("count", ()) == () and wanted("latency_p95", ()) == (0.95,)
    assert wanted("latency_p95", (0.5, 0.95)) == (0.5, 0.95) and wanted("latency_avg", (0.99,)) == (0.99,)


@pytest.mark.slow
@pytest.mark.parametrize("rolled", [True, False], ids=["rollups", "raw"])
def test_cheap_reads_equal_the_full_reads(engine, rolled):
    load(engine, generate(300, T0, END - T0, seed=41))
    if rolled:
        refresh_rollups(engine, now=END + timedelta(minutes=30))
    analytics = AnalyticsEngine(engine, cache_ttl=0, use_rollups=rolled)
    start = T0 + timedelta(minutes=13, seconds=7)  # raw head, minute, 10-minute and hour rows

    agents = executions.top_agents(analytics, start, END, limit=20)
    assert "latency_p95" in agents and "latency_p50" not in agents
    full = analytics.family_summary("executions", "agent", None, start, END)
    _same(agents.drop(columns=["total_tokens", "cost_usd"]).sort_values("agent").reset_index(drop=True),
          full.sort_values("agent").reset_index(drop=True))  # fmt: skip
    llm_full = analytics.family_summary("llm", "agent", None, start, END).set_index("agent")
    got = agents.set_index("agent")
    assert got["cost_usd"].to_dict() == pytest.approx(llm_full.loc[got.index, "cost_usd"].to_dict())
    assert (got["total_tokens"] == llm_full.loc[got.index, "total_tokens"]).all()

    models = llm_calls.top_models(analytics, start, END, limit=20)
    assert not any(c.startswith("latency_p") for c in models)
    full_models = analytics.family_summary("llm", ["provider", "model"], None, start, END)
    key = ["provider", "model"]
    _same(models.sort_values(key).reset_index(drop=True), full_models.sort_values(key).reset_index(drop=True))
    by_p95 = llm_calls.top_models(analytics, start, END, by="latency_p95", limit=20)
    assert list(by_p95["latency_p95"]) == list(full_models.sort_values("latency_p95", ascending=False, kind="stable")["latency_p95"])

    failing = tool_calls.top_failing_tools(analytics, start, END, limit=50)
    stats = tool_calls.tool_stats(analytics, start, END)
    assert {"latency_p50", "latency_p95", "latency_p99"} <= set(stats.columns)
    assert not any(c.startswith("latency_p") for c in failing) and len(failing) > 0
    expected = stats[stats["error_count"] > 0].sort_values(["error_count", "error_rate"], ascending=False, kind="stable")
    _same(failing.reset_index(drop=True), expected.reset_index(drop=True))

    kpis = overview.overview(analytics, start, END)
    whole = {f: analytics.family_summary(f, None, None, start, END).iloc[0] for f in ("executions", "llm", "tools")}
    assert kpis["executions"] == whole["executions"]["count"] and kpis["latency_p95_ms"] == whole["executions"]["latency_p95"]
    assert kpis["cost_usd"] == pytest.approx(whole["llm"]["cost_usd"]) and kpis["tool_calls"] == whole["tools"]["count"]
    assert kpis["tool_error_rate"] == pytest.approx(whole["tools"]["error_rate"])
    # whole-range totals (no hourly grouping) equal the sum of an hourly series
    series = analytics.get_time_series("tool_calls", T0, END, "1h")
    assert analytics.get_aggregations("tool_calls", start=T0, end=END)["value"].iloc[0] == series["value"].sum()
