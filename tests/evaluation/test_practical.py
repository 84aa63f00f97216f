"""Practical thresholds with an absolute floor per metric (issue 18, failure 2: an instant agent compared
with itself was flagged, 1.08 → 1.92 ms at p = 0.013, because the threshold was relative only)."""

from __future__ import annotations

import numpy as np
import pytest

from agentotel.evaluation.base import MetricDefinition
from agentotel.evaluation.regression import DEFAULT_PRACTICAL, Practical, RegressionDetector, RunSamples

LATENCY = {"latency_ms": MetricDefinition("latency_ms", higher_is_better=False, kind="latency", unit="ms")}


def instant_agent_runs(n: int = 30) -> tuple[RunSamples, RunSamples]:
    """Sub-millisecond thread jitter of an instant agent: 1.08 ms then 1.92 ms, clearly 'significant'."""
    rng = np.random.default_rng(7)
    before = list(1.08 * rng.lognormal(0, 0.3, n))
    after = list(1.92 * rng.lognormal(0, 0.3, n))
    return (RunSamples.from_mapping({"latency_ms": after}, LATENCY), RunSamples.from_mapping({"latency_ms": before}, LATENCY))


def test_a_millisecond_of_jitter_is_not_a_latency_regression():
    current, baseline = instant_agent_runs()
    report = RegressionDetector(bootstrap=False).detect_regressions(current, baseline)
    [latency] = report.comparisons
    assert latency.significant and latency.worse and latency.pct_change > 50  # the test alone would flag it
    assert not report.has_regression


def test_the_floor_is_reported_with_the_comparison():
    [latency] = RegressionDetector(bootstrap=False).detect_regressions(*instant_agent_runs()).comparisons
    assert latency.practical_min == pytest.approx(5.0) and latency.practical == "max(10%, 5 ms)"
    assert "max(10%, 5 ms)" in RegressionDetector(bootstrap=False).detect_regressions(*instant_agent_runs()).to_markdown()


def test_floors_and_thresholds_are_configurable():
    current, baseline = instant_agent_runs()
    assert RegressionDetector(bootstrap=False, floors={"latency": 0.5}).detect_regressions(current, baseline).has_regression
    assert RegressionDetector(bootstrap=False, floors={"latency_ms": 0.5}).detect_regressions(current, baseline).has_regression
    # the relative part still applies above the floor: +102 % is below a 150 % relative threshold
    strict_floor_loose_share = RegressionDetector(bootstrap=False, floors={"latency": 0.5}, thresholds={"latency_ms": 1.5})
    assert not strict_floor_loose_share.detect_regressions(current, baseline).has_regression


def test_default_practical_thresholds_per_kind():
    assert DEFAULT_PRACTICAL["latency"] == Practical(5.0, 0.10)
    assert DEFAULT_PRACTICAL["score"] == Practical(0.05) and DEFAULT_PRACTICAL["binary"] == Practical(0.05)
    latency = Practical(5.0, 0.10)
    assert latency.smallest(20.0) == 5.0 and latency.smallest(800.0) == pytest.approx(80.0)
    assert not latency.reached(4.9, 20.0) and latency.reached(5.0, 20.0) and not latency.reached(60.0, 800.0)
    assert not Practical(0.0).reached(0.0, 1.0)  # no change never counts


def test_slow_agent_still_regresses_beyond_the_floor():
    rng = np.random.default_rng(3)
    base = list(200 * rng.lognormal(0, 0.05, 30))
    slower = list(240 * rng.lognormal(0, 0.05, 30))  # +20 %, +40 ms
    report = RegressionDetector(bootstrap=False).detect_regressions(
        RunSamples.from_mapping({"latency_ms": slower}, LATENCY), RunSamples.from_mapping({"latency_ms": base}, LATENCY))
    assert report.has_regression
