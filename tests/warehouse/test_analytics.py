"""AnalyticsEngine on a real warehouse: known answers from hand-built rows, explicit gaps, filters, the
TTL cache, raw metrics, statistics wrappers; the window overview and the rankings built on it."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from agentotel.warehouse import executions, llm_calls, overview, tool_calls
from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.models import AgentExecution, Metric
from agentotel.warehouse.rollups import refresh_rollups
from tests.warehouse.support import generate, load

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)


def _execution(i: int, minute: int, agent: str, duration: float, success: bool = True) -> dict:
    return {"id": f"{i:032x}-{i:016x}", "timestamp": T0 + timedelta(minutes=minute, seconds=i % 50), "duration_ms": duration,
            "tokens_used": 0, "success": success, "trace_id": f"{i:032x}", "span_id": f"{i:016x}", "agent_name": agent,
            "service_name": "svc", "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "llm_call_count": 0,
            "tool_call_count": 0, "is_agent_span": True}


@pytest.fixture
def hand_built(engine):
    rows = [
        _execution(1, 0, "a", 100.0), _execution(2, 0, "a", 300.0, success=False), _execution(3, 0, "b", 50.0),
        _execution(4, 2, "a", 200.0),  # minute 1 empty; minute 3 empty
    ]
    with engine.begin() as conn:
        conn.execute(insert(AgentExecution.__table__), rows)
    return engine


@pytest.mark.parametrize("rolled", [False, True])
def test_time_series_known_answers_with_explicit_gaps(hand_built, rolled):
    if rolled:
        refresh_rollups(hand_built, now=T0 + timedelta(hours=1))
    analytics = AnalyticsEngine(hand_built, cache_ttl=0)
    end = T0 + timedelta(minutes=4)
    counts = analytics.get_time_series("executions", T0, end, "1min")
    assert list(counts.columns) == ["timestamp", "value"]
    assert counts["timestamp"].tolist() == [pd.Timestamp(T0 + timedelta(minutes=m)) for m in range(4)]
    assert str(counts["timestamp"].dt.tz) == "UTC"
    assert counts["value"].tolist() == [3.0, 0.0, 1.0, 0.0]
    rate = analytics.get_time_series("success_rate", T0, end, "1min")["value"].tolist()
    assert rate[0] == pytest.approx(2 / 3) and math.isnan(rate[1]) and rate[2] == 1.0
    p50 = analytics.get_time_series("latency_p50", T0, end, "1min")["value"].tolist()
    tolerance = 0.02 if rolled else 1e-12
    assert p50[0] == pytest.approx(100.0, rel=tolerance) and math.isnan(p50[1])  # nearest rank of 50, 100, 300
    by_agent = analytics.get_time_series("executions", T0, end, "1min", group_by="agent")
    assert len(by_agent) == 8 and list(by_agent.columns) == ["timestamp", "agent", "value"]
    assert by_agent[by_agent.agent == "b"]["value"].tolist() == [1.0, 0.0, 0.0, 0.0]
    filtered = analytics.get_time_series("error_rate", T0, end, "2min", filters={"agent": "a"})
    assert filtered["value"].tolist() == [0.5, 0.0]
    aggregated = analytics.get_aggregations("executions", "agent", start=T0, end=end)
    assert aggregated.to_dict("records") == [{"agent": "a", "value": 3.0}, {"agent": "b", "value": 1.0}]


def test_bad_arguments_are_clear_errors(hand_built):
    analytics = AnalyticsEngine(hand_built)
    end = T0 + timedelta(hours=1)
    for call in (
        lambda: analytics.get_time_series("nope", T0, end),
        lambda: analytics.get_time_series("executions", T0, end, filters={"model": "x"}),
        lambda: analytics.get_time_series("executions", T0, end, group_by="colour"),
        lambda: analytics.get_time_series("executions", T0, end, granularity="1 fortnight"),
        lambda: analytics.get_time_series("executions", end, T0),
        lambda: analytics.get_time_series("metric:cpu", T0, end, group_by="agent"),
    ):
        with pytest.raises(ValueError):
            call()


def test_ttl_cache(hand_built):
    analytics = AnalyticsEngine(hand_built, cache_ttl=60)
    end = T0 + timedelta(minutes=4)
    first = analytics.get_time_series("executions", T0, end)
    first.loc[0, "value"] = 999  # callers get copies
    with hand_built.begin() as conn:
        conn.execute(insert(AgentExecution.__table__), [_execution(9, 1, "a", 10.0)])
    assert analytics.get_time_series("executions", T0, end)["value"].tolist() == [3.0, 0.0, 1.0, 0.0]  # cached
    assert AnalyticsEngine(hand_built, cache_ttl=0).get_time_series("executions", T0, end)["value"].tolist()[1] == 1.0
    analytics.clear_cache()
    assert analytics.get_time_series("executions", T0, end)["value"].tolist()[1] == 1.0


def test_raw_metric_series(engine):
    rows = [{"metric_name": "process.cpu", "value": v, "timestamp": T0 + timedelta(seconds=s), "series_key": f"k{s}",
             "service_name": svc} for v, s, svc in [(1.0, 0, "x"), (3.0, 30, "x"), (10.0, 10, "y"), (5.0, 130, "x")]]
    with engine.begin() as conn:
        conn.execute(insert(Metric.__table__), rows)
    analytics = AnalyticsEngine(engine, cache_ttl=0)
    series = analytics.get_time_series("metric:process.cpu", T0, T0 + timedelta(minutes=3), "1min", filters={"service": "x"})
    assert series["value"].tolist()[0] == 2.0 and math.isnan(series["value"].tolist()[1]) and series["value"].tolist()[2] == 5.0
    grouped = analytics.get_aggregations("metric:process.cpu", "service", start=T0, end=T0 + timedelta(minutes=3))
    assert dict(zip(grouped.service, grouped.value, strict=True)) == {"x": 3.0, "y": 10.0}


def test_raw_metric_by_provider_and_model(engine):
    """A gauge of one service per model: grouped and filtered by the provider and model of its attributes
    (the older ``gen_ai.system`` names a provider too); a point without them falls in the group without a label (None)."""
    tags = [{"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o"},
            {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini"},
            {"gen_ai.provider.name": "anthropic", "gen_ai.response.model": "claude-sonnet-4-5"}, None]
    rows = [{"metric_name": "ratio", "value": v, "timestamp": T0 + timedelta(seconds=s), "series_key": f"k{s}",
             "service_name": "svc", "tags": t} for v, s, t in [(0.9, 0, tags[0]), (0.05, 10, tags[1]),
                                                               (0.5, 20, tags[2]), (0.7, 30, tags[3])]]
    with engine.begin() as conn:
        conn.execute(insert(Metric.__table__), rows)
    analytics = AnalyticsEngine(engine, cache_ttl=0)
    end = T0 + timedelta(minutes=1)
    grouped = analytics.get_aggregations("metric:ratio", ["provider", "model"], start=T0, end=end)
    assert {(p, m): v for p, m, v in zip(grouped.provider, grouped.model, grouped.value, strict=True)} == {
        (None, None): 0.7, ("anthropic", "claude-sonnet-4-5"): 0.5, ("openai", "gpt-4o"): 0.9,
        ("openai", "gpt-4o-mini"): 0.05}
    only = analytics.get_aggregations("metric:ratio", "model", filters={"provider": "openai"}, start=T0, end=end)
    assert dict(zip(only.model, only.value, strict=True)) == {"gpt-4o": 0.9, "gpt-4o-mini": 0.05}
    with pytest.raises(ValueError, match="service, provider, model only"):
        analytics.get_aggregations("metric:ratio", "agent", start=T0, end=end)


def test_statistics_wrappers(engine):
    load(engine, generate(400, T0, timedelta(hours=4), seed=31))
    analytics = AnalyticsEngine(engine, cache_ttl=0)
    end = T0 + timedelta(hours=4)
    corr = analytics.get_correlations(["executions", "llm_calls", "cost"], T0, end, "5min")
    row = corr[(corr.metric_a == "executions") & (corr.metric_b == "llm_calls")].iloc[0]
    assert row.n == 48 and row.pearson_r > 0.9  # two LLM calls per execution
    anomalies = analytics.detect_anomalies("executions", 12, T0, end, "5min")
    assert {"timestamp", "value", "zscore", "robust_score", "is_anomaly"} <= set(anomalies.columns) and len(anomalies) == 48
    forecast = analytics.forecast("executions", 6, T0, end, "5min")
    assert len(forecast) == 6 and forecast.timestamp.iloc[0] == pd.Timestamp(end)
    assert (forecast.lower <= forecast.forecast).all() and (forecast.forecast <= forecast.upper).all()
    smooth = analytics.exponential_smoothing("executions", 0.5, T0, end, "5min")
    assert smooth.smoothed.iloc[0] == smooth.value.iloc[0]
    moving = analytics.moving_average("executions", 3, T0, end, "5min")
    assert moving.moving_average.iloc[2] == pytest.approx(moving.value.iloc[:3].mean())
    assert analytics.detect_seasonality("executions", T0, end, "5min").period in (None, *range(2, 25))


def test_overview_and_rankings(engine):
    data = generate(120, T0, timedelta(hours=2), seed=32)
    load(engine, data)
    end = T0 + timedelta(hours=2)
    analytics = AnalyticsEngine(engine, cache_ttl=0)
    kpis = overview.overview(analytics, T0, end)
    rows = data["agent_executions"]
    assert kpis["executions"] == 120 and kpis["active_agents"] == len({e["agent_name"] for e in rows})
    assert kpis["error_rate"] == pytest.approx(sum(not e["success"] for e in rows) / 120)
    assert kpis["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in data["llm_calls"]))
    assert kpis["latency_p95_ms"] == pytest.approx(np.percentile([e["duration_ms"] for e in rows], 95, method="inverted_cdf"))
    top = executions.top_agents(analytics, T0, end, by="cost_usd", limit=3)
    assert len(top) == 3 and top.cost_usd.is_monotonic_decreasing
    models = llm_calls.top_models(analytics, T0, end)
    assert set(models.model) == {c["request_model"] for c in data["llm_calls"]}
    failing = tool_calls.top_failing_tools(analytics, T0, end)
    assert failing.error_count.is_monotonic_decreasing and (failing.error_count > 0).all()
    assert llm_calls.llm_stats(analytics, T0, end)["count"].sum() == len(data["llm_calls"])
    assert tool_calls.tool_stats(analytics, T0, end)["count"].sum() == len(data["tool_calls"])
    seen = overview.dimension_values(analytics, "tools", ("tool", "agent"), T0, end)
    assert seen["tool"] == sorted({t["tool_name"] for t in data["tool_calls"]})
    assert seen["agent"] == sorted({e["agent_name"] for e in rows})
    for refused in (lambda: executions.top_agents(analytics, T0, end, by="name; DROP TABLE spans"),
                    lambda: llm_calls.top_models(analytics, T0, end, by="cost_usd desc"),
                    lambda: executions.top_agents(analytics, T0, end, limit=0),
                    lambda: overview.dimension_values(analytics, "tools", ("model",), T0, end)):
        with pytest.raises(ValueError):
            refused()
