"""Each rule type against synthetic series with known answers, and rule-file validation errors."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from agentotel.alerting.config import RuleError, load_rules, parse_rules
from agentotel.alerting.rules.base import EvalContext
from agentotel.alerting.sources import InMemoryMetricSource
from agentotel.core.anomaly import SCORE_CAP
from agentotel.warehouse.analytics_stats import anomaly_scores

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
STEP = timedelta(minutes=1)


def series(values, step=STEP, end=NOW, **labels) -> pd.DataFrame:
    n = len(values)
    return pd.DataFrame({"timestamp": [end - step * (n - 1 - i) for i in range(n)], "value": list(values),
                         **{k: [v] * n for k, v in labels.items()}})


def rule_of(yaml_text: str):
    config = parse_rules(yaml_text, "test.yaml")
    return config.rules[-1], config


def evaluate(rule_yaml: str, frames: dict[str, pd.DataFrame], now=NOW):
    rule, config = rule_of(rule_yaml)
    ctx = EvalContext(InMemoryMetricSource(frames), now)
    for r in config.rules:
        ctx.results[r.id] = r.evaluate(ctx)
    return {tuple(sorted(s.labels.items())): s for s in ctx.results[rule.id]}


THRESHOLD = """
rules:
  - id: err
    type: threshold
    metric: error_rate
    group_by: [agent]
    window: 5m
    op: ">"
    value: 0.05
    resolve_value: 0.03
"""


def test_threshold_fires_only_where_over_and_keeps_hysteresis_band():
    frames = {"error_rate": pd.concat([
        series([0.10] * 5, agent="a"),   # over: fires
        series([0.01] * 5, agent="b"),   # under resolve value: clear
        series([0.04] * 5, agent="c"),   # between 3 % and 5 %: neither fires nor clears
    ])}
    out = evaluate(THRESHOLD, frames)
    a, b, c = out[(("agent", "a"),)], out[(("agent", "b"),)], out[(("agent", "c"),)]
    assert (a.active, a.clear, a.value) == (True, False, pytest.approx(0.10))
    assert (b.active, b.clear) == (False, True)
    assert (c.active, c.clear) == (False, False)


def test_threshold_window_aggregation_and_old_points_ignored():
    # a spike 10 minutes ago is outside the 5 minute window; avg of the window is 0.02
    frames = {"error_rate": series([0.9] + [0.0] * 5 + [0.02] * 5, agent="a")}
    assert not evaluate(THRESHOLD, frames)[(("agent", "a"),)].active
    rule_max = THRESHOLD.replace("resolve_value: 0.03", "aggregation: max")
    frames = {"error_rate": series([0.0, 0.0, 0.2, 0.0, 0.0], agent="a")}
    assert evaluate(rule_max, frames)[(("agent", "a"),)].active
    assert not evaluate(THRESHOLD, frames)[(("agent", "a"),)].active  # avg 0.04


def test_threshold_without_data_gives_no_sample():
    assert evaluate(THRESHOLD, {}) == {}


ANOMALY = """
rules:
  - id: burn
    type: anomaly
    metric: tokens
    lookback: 2h
    method: {method}
    threshold: 4
    direction: {direction}
    season: {season}
"""


def steady(n, last):
    return [100 + 2 * math.sin(i) for i in range(n - 1)] + [last]


@pytest.mark.parametrize("method", ["mad", "zscore"])
def test_anomaly_spike_fires_and_normal_value_does_not(method):
    rule = ANOMALY.format(method=method, direction="both", season="none")
    spike = evaluate(rule, {"tokens": series(steady(60, 160))})[()]
    assert spike.active and spike.details["score"] > 4
    normal = evaluate(rule, {"tokens": series(steady(60, 101))})[()]
    assert not normal.active and normal.clear


def test_anomaly_direction():
    down_only = ANOMALY.format(method="mad", direction="down", season="none")
    assert not evaluate(down_only, {"tokens": series(steady(60, 160))})[()].active
    assert evaluate(down_only, {"tokens": series(steady(60, 40))})[()].active


def test_anomaly_seasonal_baseline_uses_same_phase():
    # period of 12 points; the latest point falls on a peak (expected ~115) but is 100 (the overall mean)
    n = 73
    values = [100 + 15 * math.sin(2 * math.pi * i / 12) + 0.3 * ((i * 7) % 3 - 1) for i in range(n)]
    peak_phase = [i for i in range(n) if i % 12 == 3]
    values = values[: peak_phase[-1] + 1]
    values[-1] = 100.0
    seasonal = evaluate(ANOMALY.format(method="mad", direction="both", season="auto"), {"tokens": series(values)})[()]
    plain = evaluate(ANOMALY.format(method="mad", direction="both", season="none"), {"tokens": series(values)})[()]
    assert seasonal.details["season_period"] == 12
    assert seasonal.active
    assert not plain.active


@pytest.mark.parametrize(("method", "column"), [("mad", "robust_score"), ("zscore", "zscore")])
def test_anomaly_rule_and_analytics_give_the_same_score_for_the_same_baseline(method, column):
    # one series; the rule sees the 40 points before each end point, analytics a 40-point trailing window
    rng = np.random.default_rng(11)
    values = list(100 + rng.normal(0, 3, 120))
    values[70], values[95] = 140.0, 60.0
    window = 40
    analytics = anomaly_scores(pd.Series(values), window=window, period=None)
    rule = ANOMALY.format(method=method, direction="both", season="none")
    for end in (45, 70, 95, 119):
        sample = evaluate(rule, {"tokens": series(values[end - window : end + 1])})[()]
        assert sample.details["baseline_points"] == window
        assert sample.details["score"] == pytest.approx(analytics[column].iloc[end], rel=1e-9)
        assert sample.active == (abs(analytics[column].iloc[end]) > 4)


def test_anomaly_flat_baseline_gives_a_capped_finite_score():
    rule = ANOMALY.format(method="mad", direction="both", season="none")
    sample = evaluate(rule, {"tokens": series([100.0] * 30 + [101.0])})[()]
    assert sample.active and sample.details["score"] == SCORE_CAP and sample.details["capped"]
    same = evaluate(rule, {"tokens": series([100.0] * 31)})[()]
    assert not same.active and same.details["score"] == 0.0 and not same.details["capped"]


TREND = """
rules:
  - id: rising
    type: trend
    metric: cost
    windows: 6
    direction: {direction}
"""


@pytest.mark.parametrize(
    ("values", "direction", "fires"),
    [
        ([1, 2, 3, 4, 5, 6], "increase", True),
        ([1, 2, 3, 4, 5, 6], "decrease", False),
        ([6, 5.5, 4, 3.2, 2, 1], "decrease", True),
        ([1, 3, 2, 4, 3, 5], "increase", False),  # rising on average, not continuously
        ([2, 2, 2, 2, 2, 2], "increase", False),
        ([0, 0, 0, 0, 10, 11, 12, 12.5, 12.7, 12.8, 12.9], "increase", True),  # only the last 6 windows count
    ],
)
def test_trend(values, direction, fires):
    sample = evaluate(TREND.format(direction=direction), {"cost": series(values)})[()]
    assert sample.active is fires
    assert sample.clear is (not fires)


def test_trend_needs_significant_slope():
    # strictly increasing, but a flat start and one jump: the slope is not significant at 0.001
    rule = TREND.format(direction="increase").replace("windows: 6", "windows: 4\n    alpha: 0.001")
    assert not evaluate(rule, {"cost": series([1, 1.01, 1.02, 50])})[()].active
    assert evaluate(rule.replace("alpha: 0.001", "alpha: 0.2"), {"cost": series([1, 2, 3, 4.1])})[()].active


COMPOSITE = """
rules:
  - {id: errors, type: threshold, metric: error_rate, group_by: [agent], window: 1m, op: ">", value: 0.1}
  - {id: slow, type: threshold, metric: latency_p95, group_by: [agent], window: 1m, op: ">", value: 1000}
  - {id: maintenance, type: threshold, metric: maintenance, window: 1m, op: ">", value: 0}
  - id: both
    type: composite
    expr: "(errors and slow) and not maintenance"
"""


def test_composite_and_not_per_label_set():
    frames = {
        "error_rate": pd.concat([series([0.5], agent="a"), series([0.5], agent="b"), series([0.0], agent="c")]),
        "latency_p95": pd.concat([series([5000], agent="a"), series([10], agent="b"), series([5000], agent="c")]),
        "maintenance": series([0]),
    }
    out = evaluate(COMPOSITE, frames)
    assert out[(("agent", "a"),)].active
    assert not out[(("agent", "b"),)].active
    assert not out[(("agent", "c"),)].active
    frames["maintenance"] = series([1])
    assert not any(s.active for s in evaluate(COMPOSITE, frames).values())


def test_custom_rule_called_with_params():
    rules = """
rules:
  - id: depth
    type: custom
    function: tests.alerting.custom_rules:queue_depth_over
    params: {limit: 50}
"""
    frames = {"queue_depth": pd.concat([series([10, 80], agent="x"), series([10, 20], agent="y")])}
    out = evaluate(rules, frames)
    assert out[(("agent", "x"),)].active and out[(("agent", "x"),)].value == 80
    assert not out[(("agent", "y"),)].active
    always = "rules:\n  - {id: a, type: custom, function: 'tests.alerting.custom_rules:always', params: {answer: false}}\n"
    assert evaluate(always, {})[()].active is False


def test_message_template():
    rule, _ = rule_of(THRESHOLD.replace("resolve_value: 0.03", 'message: "rate {value:.0%} on {agent} {unknown}"'))
    assert rule.render_message({"agent": "a"}, 0.1234) == "rate 12% on a {unknown}"
    assert rule.render_message({"agent": "a"}, None) == "rate n/a on a {unknown}"  # a series without a value


# --- validation -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "rule", "needle"),
    [
        ("rules:\n  - id: a\n    type: threshold\n    metric: m\n    value: high\n", 5, "a", "value: must be a number"),
        ("rules:\n  - id: a\n    type: thresold\n", 3, "a", "'type' must be one of"),
        ("rules:\n  - id: a\n    type: threshold\n    metric: m\n", 2, "a", "value: is required"),
        ("rules:\n  - id: a\n    type: threshold\n    metric: m\n    value: 1\n    windw: 5m\n", 6, "a", "unknown key 'windw'"),
        ("rules:\n  - id: a\n    type: threshold\n    metric: m\n    value: 1\n    for: soon\n", 6, "a", "not a duration"),
        ("rules:\n  - id: a\n    type: threshold\n    metric: m\n    value: 1\n    op: '>'\n    resolve_value: 2\n", 7, "a",
         "resolved side"),
        ("rules:\n  - {id: a, type: threshold, metric: m, value: 1}\n  - {id: a, type: threshold, metric: m, value: 2}\n", 3,
         "a", "duplicate rule id"),
        ("rules:\n  - id: c\n    type: composite\n    expr: x and\n", 4, "c", "expr:"),
        ("rules:\n  - id: c\n    type: composite\n    expr: nothere\n", 4, "c", "unknown rule 'nothere'"),
        ("rules:\n  - {id: c1, type: composite, expr: c2}\n  - {id: c2, type: composite, expr: c1}\n", 2, "c1", "cycle"),
        ("rules:\n  - id: u\n    type: custom\n    function: tests.alerting.custom_rules:missing\n", 4, "u", "cannot import"),
        ("rules:\n  - id: u\n    type: custom\n    function: tests.alerting.custom_rules:NOT_CALLABLE\n", 4, "u", "not callable"),
        ("rules:\n  - id: a\n    type: anomaly\n    metric: m\n    method: iqr\n", 5, "a", "must be one of mad, zscore"),
        ("rules:\n  - id: a\n    type: trend\n    metric: m\n    windows: 2\n", 5, "a", "at least 3"),
        ("rules:\n  - id: a\n    type: threshold\n    metric: m\n    value: 1\n    escalation: nope\n", 6, "a",
         "unknown escalation policy"),
        ("channels:\n  s: {type: slak}\n", 2, None, "'type' must be one of"),
        ("channels:\n  s: {type: slack}\n", 2, None, "'url' (or 'url_env'"),
        ("channels:\n  s: {type: slack, url_env: X}\nescalation_policies:\n  default:\n    - {after: 0s, channels: [t]}\n",
         5, None, "unknown channel 't'"),
        ("rules:\n  - id: a\n    type: threshold\n  metric: [\n", 4, None, "invalid YAML"),
        ("- just\n- a list\n", 1, None, "top level"),
    ],
)
def test_rule_file_errors_name_file_line_and_rule(text, line, rule, needle):
    with pytest.raises(RuleError) as info:
        parse_rules(text, "rules.yaml")
    err = info.value
    assert needle in str(err)
    assert err.file == "rules.yaml"
    if line is not None:
        assert err.line == line, str(err)
    assert err.rule == rule
    assert str(err).startswith("rules.yaml")


def test_load_rules_reads_the_example_file_and_reports_missing_files(tmp_path):
    from pathlib import Path

    example = Path(__file__).parents[2] / "otel-config" / "alert-rules.example.yaml"
    config = load_rules(example)
    assert {r.type for r in config.rules} == {"threshold", "anomaly", "trend", "composite"}
    assert {r.metric for r in config.rules if hasattr(r, "metric")} >= {"error_rate", "latency_p95", "cost", "tokens",
                                                                          "tool_error_rate"}
    with pytest.raises(RuleError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


def test_filters_take_a_value_or_a_list():
    text = THRESHOLD.replace("group_by: [agent]", "group_by: [agent]\n    filters: {agent: [a, c]}")
    frames = {"error_rate": pd.concat([series([0.10] * 5, agent=x) for x in ("a", "b", "c")])}
    assert sorted(k[0][1] for k in evaluate(text, frames)) == ["a", "c"]
    single = THRESHOLD.replace("group_by: [agent]", "group_by: [agent]\n    filters: {agent: b}")
    assert [k[0][1] for k in evaluate(single, frames)] == ["b"]


def test_yaml_anchors_and_merge_keys():
    text = """
rules:
  - &base {id: a, type: threshold, metric: error_rate, value: 0.1, for: 5m}
  - <<: *base
    id: b
    value: 0.2
"""
    config = parse_rules(text, "r.yaml")
    assert [(r.id, r.value, r.for_) for r in config.rules] == [("a", 0.1, timedelta(minutes=5)),
                                                                ("b", 0.2, timedelta(minutes=5))]


class CountingSource(InMemoryMetricSource):
    """The in-memory source, counting the queries it answers."""

    def __init__(self, frames) -> None:
        super().__init__(frames)
        self.queries: list[tuple] = []

    def series(self, metric, start, end, step, filters=None, group_by=None):
        self.queries.append((metric, dict(filters or {}), tuple(group_by or ())))
        return super().series(metric, start, end, step, filters, group_by)


def test_a_round_asks_the_source_each_question_once_and_answers_as_the_source_does():
    """200 rules that differ in threshold or in a filter on a label they group by: one query per round,
    and the same samples as each rule asking the source itself."""
    agents = [f"agent-{i}" for i in range(50)]
    frame = pd.concat([series([0.01 * i, 0.02 * i, float("nan")], agent=a) for i, a in enumerate(agents)])
    rules = "rules:\n" + "".join(
        f"  - {{id: r{i}, type: threshold, metric: error_rate, filters: {{agent: {agents[i % 50]}}}, "
        f"group_by: [agent], window: 5m, aggregation: avg, op: '>', value: {0.01 * (i % 7)}}}\n" for i in range(200))
    rules += ("  - {id: all, type: threshold, metric: error_rate, group_by: [agent], window: 5m, op: '>', value: 0.3}\n"
              "  - {id: two, type: threshold, metric: error_rate, filters: {agent: [agent-1, agent-2]}, "
              "group_by: [agent], window: 5m, op: '>', value: 0.0}\n")
    config = parse_rules(rules, "many.yaml")
    source = CountingSource({"error_rate": frame})
    ctx = EvalContext(source, NOW)
    cached = {r.id: r.evaluate(ctx) for r in config.rules}
    assert len(source.queries) == 1  # one question for all 202 rules
    for rule in config.rules[::10] + config.rules[-2:]:  # rules on their own, straight from the source
        alone = rule.evaluate(EvalContext(InMemoryMetricSource({"error_rate": frame}), NOW))
        assert [(s.labels, s.value, s.active) for s in cached[rule.id]] == [(s.labels, s.value, s.active) for s in alone]
    assert [s.labels["agent"] for s in cached["two"]] == ["agent-1", "agent-2"]


def test_a_round_raises_a_source_error_for_every_rule_that_asks_without_asking_again():
    class Failing(CountingSource):
        def series(self, *args, **kwargs):
            super().series(*args, **kwargs)
            raise RuntimeError("metric store unavailable")

    config = parse_rules("rules:\n" + "".join(
        f"  - {{id: r{i}, type: threshold, metric: m, window: 1m, op: '>', value: {i}}}\n" for i in range(3)), "f.yaml")
    source = Failing({})
    ctx = EvalContext(source, NOW)
    for rule in config.rules:
        with pytest.raises(RuntimeError, match="unavailable"):
            rule.evaluate(ctx)
    assert len(source.queries) == 1
