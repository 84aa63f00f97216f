"""Rule engine lifecycle on the real warehouse (SQLite and PostgreSQL): pending → firing → resolved with
for-duration and hysteresis, restarts, manual resolution, failing rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from sqlalchemy import select

from agentotel.alerting.config import parse_rules
from agentotel.alerting.engine import RuleEngine
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.queries import alerts
from agentotel.alerting.sources import InMemoryMetricSource
from agentotel.alerting.store import RULE_STATE

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)

RULES = """
rules:
  - id: high-error-rate
    type: threshold
    metric: error_rate
    group_by: [agent]
    window: 1m
    aggregation: last
    op: ">"
    value: 0.05
    resolve_value: 0.03
    for: 2m
    keep_firing_for: 1m
    severity: critical
    labels: {team: agents}
    message: "error rate {value:.0%} on {agent}"
"""


class Timeline:
    """A metric whose value per minute the test sets as time advances."""

    def __init__(self) -> None:
        self.points: list[dict] = []
        self.source = InMemoryMetricSource()

    def at(self, minute: int, agent: str, value: float) -> datetime:
        self.points.append({"timestamp": T0 + minute * MIN, "value": value, "agent": agent})
        self.source.set("error_rate", pd.DataFrame(self.points))
        return T0 + minute * MIN


def states(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return {r.labels["agent"]: r.state for r in conn.execute(select(RULE_STATE))}


def test_pending_firing_hysteresis_resolved(engine):
    config = parse_rules(RULES, "rules.yaml")
    line = Timeline()
    rules = RuleEngine(engine, config, line.source)
    manager = AlertManager(engine)

    report = rules.evaluate(line.at(0, "a", 0.10))
    assert report.counts["pending"] == 1 and states(engine) == {"a": "pending"}
    assert manager.get_active_alerts() == []
    rules.evaluate(line.at(1, "a", 0.10))
    assert states(engine) == {"a": "pending"}

    report = rules.evaluate(line.at(2, "a", 0.12))
    assert report.counts["fired"] == 1
    [alert] = manager.get_active_alerts()
    assert alert["rule_id"] == "high-error-rate" and alert["severity"] == "critical"
    assert alert["labels"] == {"team": "agents", "agent": "a"}
    assert alert["message"] == "error rate 12% on a" and alert["value"] == 0.12

    rules.evaluate(line.at(3, "a", 0.04))  # inside the hysteresis band: still firing
    assert manager.get_active_alerts()[0]["id"] == alert["id"]
    assert manager.get_alert(alert["id"])["value"] == 0.04
    rules.evaluate(line.at(4, "a", 0.01))  # clear, but keep_firing_for 1m
    assert states(engine) == {"a": "firing"}
    report = rules.evaluate(line.at(5, "a", 0.01))
    assert report.counts["resolved"] == 1
    resolved = manager.get_alert(alert["id"])
    assert resolved["status"] == "resolved" and resolved["ends_at"] is not None
    assert manager.get_active_alerts() == [] and states(engine) == {}


def test_pending_that_stops_never_fires_and_groups_are_independent(engine):
    config = parse_rules(RULES, "rules.yaml")
    line = Timeline()
    rules = RuleEngine(engine, config, line.source)
    line.at(0, "b", 0.2)
    rules.evaluate(line.at(0, "a", 0.2))
    line.at(1, "b", 0.2)
    rules.evaluate(line.at(1, "a", 0.0))  # a drops before its for-duration
    assert states(engine) == {"b": "pending"}
    line.at(2, "b", 0.2)
    rules.evaluate(line.at(2, "a", 0.2))
    assert states(engine) == {"a": "pending", "b": "firing"}
    assert [a["labels"]["agent"] for a in AlertManager(engine).get_active_alerts()] == ["b"]


def test_restarted_engine_continues_and_vanished_series_resolves(engine):
    config = parse_rules(RULES.replace("for: 2m", "for: 0s").replace("keep_firing_for: 1m", "keep_firing_for: 0s"), "r.yaml")
    line = Timeline()
    RuleEngine(engine, config, line.source).evaluate(line.at(0, "a", 0.5))
    [alert] = AlertManager(engine).get_active_alerts()
    # a new engine object (process restart) on the same database
    again = RuleEngine(engine, config, line.source)
    again.evaluate(line.at(1, "a", 0.6))
    assert [a["id"] for a in AlertManager(engine).get_active_alerts()] == [alert["id"]]
    # the series disappears (no data for 10 minutes) → resolved
    report = again.evaluate(T0 + 12 * MIN)
    assert report.counts["resolved"] == 1
    assert AlertManager(engine).get_alert(alert["id"])["status"] == "resolved"


def test_manual_resolution_refires_after_for_duration(engine):
    config = parse_rules(RULES.replace("for: 2m", "for: 1m"), "rules.yaml")
    line = Timeline()
    rules = RuleEngine(engine, config, line.source)
    manager = AlertManager(engine)
    rules.evaluate(line.at(0, "a", 0.5))
    rules.evaluate(line.at(1, "a", 0.5))
    [first] = manager.get_active_alerts()
    manager.resolve_alert(first["id"], by="alice")
    rules.evaluate(line.at(2, "a", 0.5))
    assert manager.get_active_alerts() == [] and states(engine) == {"a": "pending"}
    rules.evaluate(line.at(3, "a", 0.5))
    [second] = manager.get_active_alerts()
    assert second["id"] != first["id"] and second["fingerprint"] == first["fingerprint"]


class BrokenSource(InMemoryMetricSource):
    def series(self, metric, *args, **kwargs):
        if metric == "broken":
            raise RuntimeError("metric store unavailable")
        return super().series(metric, *args, **kwargs)


def test_failing_rule_is_reported_and_keeps_its_alerts(engine):
    text = RULES.replace("for: 2m", "for: 0s") + """
  - {id: other, type: threshold, metric: broken, op: ">", value: 1}
"""
    config = parse_rules(text, "rules.yaml")
    line = Timeline()
    source = BrokenSource()
    line.source = source
    rules = RuleEngine(engine, config, source)
    report = rules.evaluate(line.at(0, "a", 0.5))
    assert report.errors == {"other": "RuntimeError: metric store unavailable"}
    assert report.counts["fired"] == 1
    # now the error-rate metric itself fails: the firing alert must not be resolved by the error
    config2 = parse_rules(RULES.replace("for: 2m", "for: 0s").replace("metric: error_rate", "metric: broken"), "r.yaml")
    report = RuleEngine(engine, config2, source).evaluate(T0 + MIN)
    assert "high-error-rate" in report.errors
    assert len(AlertManager(engine).get_active_alerts()) == 1


def test_rule_removed_from_file_resolves_its_alerts(engine):
    config = parse_rules(RULES.replace("for: 2m", "for: 0s"), "rules.yaml")
    line = Timeline()
    RuleEngine(engine, config, line.source).evaluate(line.at(0, "a", 0.5))
    assert len(AlertManager(engine).get_active_alerts()) == 1
    RuleEngine(engine, parse_rules("rules: []", "rules.yaml"), line.source).evaluate(T0 + MIN)
    assert AlertManager(engine).get_active_alerts() == [] and states(engine) == {}


def _frame(values, end, **labels) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame({"timestamp": [end - MIN * (n - 1 - i) for i in range(n)], "value": list(values),
                         **{k: [v] * n for k, v in labels.items()}})


def _steady(n):
    import math

    return [100 + 2 * math.sin(i) for i in range(n)]


# rule file, metric frames that make it fire at T0, frames one minute later that resolve it
LIFECYCLES = {
    "threshold": (
        "  - {id: r, type: threshold, metric: m, window: 1m, aggregation: last, op: '>', value: 5}\n",
        lambda: {"m": _frame([1, 9], T0)},
        lambda: {"m": _frame([1, 9, 2], T0 + MIN)},
    ),
    "anomaly": (
        "  - {id: r, type: anomaly, metric: m, lookback: 2h, threshold: 4}\n",
        lambda: {"m": _frame(_steady(60) + [160], T0)},
        lambda: {"m": _frame(_steady(60) + [160, 101], T0 + MIN)},
    ),
    "trend": (
        "  - {id: r, type: trend, metric: m, windows: 5}\n",
        lambda: {"m": _frame([1, 2, 3, 4, 5], T0)},
        lambda: {"m": _frame([1, 2, 3, 4, 5, 3], T0 + MIN)},
    ),
    "composite": (
        "  - {id: e, type: threshold, metric: err, window: 1m, aggregation: last, op: '>', value: 0.1}\n"
        "  - {id: s, type: threshold, metric: lat, window: 1m, aggregation: last, op: '>', value: 100}\n"
        "  - {id: r, type: composite, expr: e and s}\n",
        lambda: {"err": _frame([0.5], T0), "lat": _frame([500], T0)},
        lambda: {"err": _frame([0.5, 0.0], T0 + MIN), "lat": _frame([500, 500], T0 + MIN)},
    ),
    "custom": (
        "  - {id: r, type: custom, function: 'tests.alerting.custom_rules:queue_depth_over', params: {limit: 50}}\n",
        lambda: {"queue_depth": _frame([80], T0, agent="x")},
        lambda: {"queue_depth": _frame([80, 10], T0 + MIN, agent="x")},
    ),
}


@pytest.mark.parametrize("kind", sorted(LIFECYCLES))
def test_each_rule_type_fires_and_resolves(sqlite_engine, kind):
    rules, firing, resolved = LIFECYCLES[kind]
    config = parse_rules("rules:\n" + rules, "rules.yaml")
    source = InMemoryMetricSource(firing())
    engine_ = RuleEngine(sqlite_engine, config, source)
    manager = AlertManager(sqlite_engine)
    assert manager.get_active_alerts() == []
    report = engine_.evaluate(T0)
    assert report.errors == {}
    assert [a["rule_id"] for a in manager.get_active_alerts() if a["rule_id"] == "r"] == ["r"]
    for name, frame in resolved().items():
        source.set(name, frame)
    engine_.evaluate(T0 + MIN)
    assert [a for a in manager.get_active_alerts() if a["rule_id"] == "r"] == []
    assert [a["status"] for a in alerts(sqlite_engine) if a["rule_id"] == "r"] == ["resolved"]


def test_manually_resolved_series_that_vanished_leaves_no_state(sqlite_engine):
    config = parse_rules(RULES.replace("for: 2m", "for: 0s"), "rules.yaml")
    line = Timeline()
    rules = RuleEngine(sqlite_engine, config, line.source)
    rules.evaluate(line.at(0, "a", 0.5))
    [alert] = AlertManager(sqlite_engine).get_active_alerts()
    AlertManager(sqlite_engine).resolve_alert(alert["id"], by="alice")
    rules.evaluate(T0 + 20 * MIN)  # no data any more
    assert states(sqlite_engine) == {}
    assert AlertManager(sqlite_engine).get_active_alerts() == []
