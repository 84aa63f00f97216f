"""Tail and history checks decide when asked to (issue 18, failure 6: a p95 up 28 % and an anomaly score
of 39 against history produced notes only)."""

from __future__ import annotations

import numpy as np
import pytest

from agentotel.evaluation.base import MetricDefinition
from agentotel.evaluation.regression import RegressionDetector, RunSamples, min_cases_for_quantile

LATENCY = {"latency_ms": MetricDefinition("latency_ms", higher_is_better=False, kind="latency", unit="ms")}


def heavier_tail(n: int = 400, seed: int = 11) -> tuple[RunSamples, RunSamples]:
    """Same typical latency, but one case in fifteen is 2.2 times slower in the current run: p95 up ~23 %,
    the mean up less than the practical threshold."""
    rng = np.random.default_rng(seed)
    base = 500 * rng.lognormal(0, 0.25, n)
    cur = 500 * rng.lognormal(0, 0.25, n)
    slow = rng.random(n) < 0.07
    cur[slow] *= 2.2
    return (RunSamples.from_mapping({"latency_ms": list(cur)}, LATENCY, run_id="cur"),
            RunSamples.from_mapping({"latency_ms": list(base)}, LATENCY, run_id="base"))


def test_a_heavier_tail_decides_when_the_tail_check_is_on():
    current, baseline = heavier_tail()
    plain = RegressionDetector(bootstrap=False).detect_regressions(current, baseline)
    [mean] = plain.comparisons
    assert mean.tail_p_value < 0.01 and not plain.has_regression  # seen, but only as a note before

    report = RegressionDetector(bootstrap=False, tail=["latency"]).detect_regressions(current, baseline)
    by_metric = {c.metric: c for c in report.comparisons}
    p95 = by_metric["latency_ms.p95"]
    assert p95.test == "quantile_fisher" and p95.check == "p95" and p95.pct_change > 20
    assert p95.is_regression and by_metric["latency_ms.p99"].is_regression  # 400 cases: enough for p99 (200)
    assert [c.metric for c in report.regressions] == ["latency_ms.p95", "latency_ms.p99"]
    assert not by_metric["latency_ms"].is_regression


def test_a_tail_needs_enough_cases_to_be_tested():
    assert (min_cases_for_quantile(95), min_cases_for_quantile(99)) == (40, 200)
    current, baseline = heavier_tail(n=60)
    report = RegressionDetector(bootstrap=False, tail=["latency_ms"]).detect_regressions(current, baseline)
    p99 = next(c for c in report.comparisons if c.metric == "latency_ms.p99")
    assert not p99.testable and p99.untested_reason == "60 cases < 200"


def test_the_same_tail_is_no_regression():
    rng = np.random.default_rng(5)
    same = [RunSamples.from_mapping({"latency_ms": list(500 * rng.lognormal(0, 0.25, 300))}, LATENCY) for _ in range(2)]
    assert not RegressionDetector(bootstrap=False, tail=["latency"]).detect_regressions(*same).has_regression


def accuracy(mean: float, n: int = 40, seed: int = 0) -> RunSamples:
    rng = np.random.default_rng(seed)
    return RunSamples.from_mapping({"accuracy.fuzzy": list(np.clip(rng.normal(mean, 0.05, n), 0, 1))})


def test_an_anomaly_against_history_decides_when_the_history_check_is_on():
    current, baseline = accuracy(0.80, seed=1), accuracy(0.82, seed=2)  # baseline was already a bad run
    history = [{"accuracy.fuzzy": m} for m in (0.90, 0.905, 0.895, 0.902, 0.898)]
    plain = RegressionDetector(bootstrap=False).detect_regressions(current, baseline, history=history)
    assert plain.comparisons[0].anomaly_score > 10 and not plain.has_regression  # a note before

    report = RegressionDetector(bootstrap=False, history_metrics=["accuracy.fuzzy"]).detect_regressions(
        current, baseline, history=history)
    check = next(c for c in report.comparisons if c.metric == "accuracy.fuzzy.history")
    assert check.test == "history_t" and check.n_baseline == 5 and check.anomaly_score > 10
    assert check.is_regression and report.has_regression
    assert check.mean_baseline == pytest.approx(0.9)


def test_history_needs_three_earlier_runs():
    report = RegressionDetector(bootstrap=False, history_metrics=["accuracy.fuzzy"]).detect_regressions(
        accuracy(0.8), accuracy(0.8, seed=3), history=[{"accuracy.fuzzy": 0.9}, {"accuracy.fuzzy": 0.91}])
    check = next(c for c in report.comparisons if c.metric == "accuracy.fuzzy.history")
    assert not check.testable and check.untested_reason == "2 earlier runs < 3"
