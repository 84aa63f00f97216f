"""Rules over the real warehouse through the real AnalyticsEngine: executions, raw metric points and
evaluation scores (end to end, SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from agentotel.alerting.config import parse_rules
from agentotel.alerting.engine import RuleEngine
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.sources import WarehouseMetricSource
from agentotel.warehouse.models import AgentExecution, EvaluationRun, Metric

RULES = """
rules:
  - id: agent-error-rate
    type: threshold
    metric: error_rate
    group_by: [agent]
    window: 5m
    op: ">"
    value: 0.2
    message: "{agent}: error rate {value:.0%}"
  - id: queue-depth
    type: threshold
    metric: "metric:agent.queue.depth"
    window: 5m
    aggregation: max
    op: ">="
    value: 100
  - id: accuracy-drop
    type: threshold
    metric: "evaluation:accuracy"
    group_by: [agent]
    window: 1d
    step: 1h
    aggregation: last
    op: "<"
    value: 0.8
"""


def seed(engine, now: datetime) -> None:
    executions = []
    for agent, failures in (("flaky", 5), ("solid", 0)):
        for i in range(10):
            trace = f"{agent:0>8}{i:024x}"[-32:]
            executions.append({
                "id": f"{trace}-{i:016x}", "trace_id": trace, "span_id": f"{i:016x}", "agent_name": agent,
                "timestamp": now - timedelta(seconds=30), "duration_ms": 100.0 + i, "tokens_used": 10,
                "success": i >= failures, "error_message": None if i >= failures else "boom",
            })
    with engine.begin() as conn:
        conn.execute(insert(AgentExecution), executions)
        conn.execute(insert(Metric), [
            {"metric_name": "agent.queue.depth", "value": v, "timestamp": now - timedelta(seconds=s), "series_key": "k",
             "tags": {}} for v, s in ((40.0, 200), (120.0, 60))
        ])
        conn.execute(insert(EvaluationRun), [
            {"id": f"run-{agent}", "benchmark_id": "qa", "timestamp": now - timedelta(hours=2), "status": "completed",
             "agent_name": agent, "agent_version": "1", "completed_at": now - timedelta(hours=1, minutes=50),
             "summary": {"metrics": {"accuracy": {"n": 20, "mean": score}}}}
            for agent, score in (("flaky", 0.65), ("solid", 0.93))
        ])


@pytest.mark.parametrize("rollups", [False, True], ids=["raw", "rollups"])
def test_rules_over_the_real_analytics_engine(engine, rollups):
    now = datetime.now(timezone.utc)
    seed(engine, now)
    if rollups:  # as under `agentotel up`: reads combine rollups and the raw rows after the watermark
        from agentotel.warehouse.rollups import refresh_rollups

        assert refresh_rollups(engine, lateness=timedelta(0), now=now + timedelta(minutes=2)) > 0
    source = WarehouseMetricSource(engine)
    report = RuleEngine(engine, parse_rules(RULES, "rules.yaml"), source).evaluate(now)
    assert report.errors == {}
    fired = {(a["rule_id"], a["labels"].get("agent")): a for a in AlertManager(engine).get_active_alerts()}
    assert set(fired) == {("agent-error-rate", "flaky"), ("queue-depth", None), ("accuracy-drop", "flaky")}
    assert fired[("agent-error-rate", "flaky")]["value"] == 0.5
    assert fired[("agent-error-rate", "flaky")]["message"] == "flaky: error rate 50%"
    assert fired[("queue-depth", None)]["value"] == 120.0
    assert fired[("accuracy-drop", "flaky")]["value"] == 0.65


def test_example_rate_limit_rule_fires_under_10_percent_of_the_token_window(engine):
    """The shipped rule rate-limit-tokens-low over the gauge the instrumentation exports (issue 21 point 5):
    a service and model whose remaining share of its token window fell under 10 % fires, one that kept 12 % or
    more does not, also beside a low model of the same service (one alert per service and model); the alert
    resolves once the window holds only points above 25 %. The rule takes the minimum over 1 m buckets, each
    the mean of one model's points (whatever the bucket boundaries, every low bucket is under 10 %)."""
    from pathlib import Path

    import yaml

    example = Path(__file__).parents[2] / "otel-config" / "alert-rules.example.yaml"
    [rule] = [r for r in yaml.safe_load(example.read_text())["rules"] if r["id"] == "rate-limit-tokens-low"]
    config = parse_rules(yaml.safe_dump({"rules": [rule]}), "alert-rules.example.yaml")
    name = "agentotel.ratelimit.tokens.remaining_ratio"

    def points(at: datetime, values: dict[tuple[str, str], list[float]]) -> list[dict]:
        return [{"metric_name": name, "value": v, "timestamp": at - timedelta(seconds=60 - 20 * i),
                 "series_key": f"{service}-{model}-{i}", "service_name": service, "metric_type": "gauge",
                 "tags": {"gen_ai.provider.name": "anthropic", "gen_ai.request.model": model}}
                for (service, model), series in values.items() for i, v in enumerate(series)]

    now = datetime.now(timezone.utc)
    with engine.begin() as conn:  # svc-mixed: one model nearly out, the other with room (their mean is 48 %)
        conn.execute(insert(Metric), points(now, {("svc-low", "claude-sonnet-4-5"): [0.09, 0.05, 0.07],
                                                  ("svc-ok", "claude-sonnet-4-5"): [0.50, 0.12, 0.30],
                                                  ("svc-mixed", "claude-haiku-4-5"): [0.06, 0.04, 0.05],
                                                  ("svc-mixed", "claude-sonnet-4-5"): [0.90, 0.91, 0.92]}))
    rule_engine = RuleEngine(engine, config, WarehouseMetricSource(engine))
    assert rule_engine.evaluate(now).errors == {}
    fired = {(a["labels"].get("service"), a["labels"].get("model")): a for a in AlertManager(engine).get_active_alerts()}
    assert set(fired) == {("svc-low", "claude-sonnet-4-5"), ("svc-mixed", "claude-haiku-4-5")}
    low = fired["svc-low", "claude-sonnet-4-5"]
    assert low["rule_id"] == "rate-limit-tokens-low" and 0.05 <= low["value"] < 0.10
    assert low["labels"]["provider"] == "anthropic"
    assert low["message"].startswith("Provider token rate limit on svc-low (anthropic claude-sonnet-4-5): ")

    later = now + timedelta(minutes=6)  # the low points are out of the 5 m window; only 30 % remains in it
    with engine.begin() as conn:
        conn.execute(insert(Metric), points(later, {("svc-low", "claude-sonnet-4-5"): [0.30],
                                                    ("svc-mixed", "claude-haiku-4-5"): [0.40]}))
    assert rule_engine.evaluate(later).errors == {}
    assert AlertManager(engine).get_active_alerts() == []
