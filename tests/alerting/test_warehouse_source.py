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
