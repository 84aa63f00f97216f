"""The one anomaly score and seasonality detector: definitions, zero spread, point form = rolling form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.tsa.seasonal import STL

from agentotel.core import anomaly
from agentotel.core.anomaly import SCORE_CAP


def test_robust_score_is_median_mad_in_sigma_units():
    history = [10.0, 11.0, 9.0, 10.0, 10.5]
    mad = np.median(np.abs(np.array(history) - 10.0)) * 1.4826
    assert anomaly.score(13.0, history) == pytest.approx(3.0 / mad)
    assert anomaly.score(7.0, history, "robust") == pytest.approx(-3.0 / mad)


def test_zscore_uses_the_sample_standard_deviation():
    history = [1.0, 2.0, 4.0, 7.0]
    expected = (10.0 - np.mean(history)) / np.std(history, ddof=1)
    assert anomaly.score(10.0, history, "zscore") == pytest.approx(expected)


def test_zero_mad_falls_back_to_the_standard_deviation():
    history = [5.0, 5.0, 5.0, 5.0, 9.0]  # more than half equal: MAD = 0
    assert anomaly.score(7.0, history) == pytest.approx(2.0 / np.std(history, ddof=1))


def test_constant_baseline_scores_zero_or_the_cap_never_infinity():
    for method in anomaly.METHODS:
        assert anomaly.score(3.0, [3.0] * 10, method) == 0.0
        assert anomaly.score(3.5, [3.0] * 10, method) == SCORE_CAP
        assert anomaly.score(2.0, [3.0] * 10, method) == -SCORE_CAP
    assert anomaly.is_capped(SCORE_CAP) and anomaly.is_capped(-SCORE_CAP) and not anomaly.is_capped(999.0)
    assert anomaly.score(1e12, [0.0, 1e-9, 0.0, -1e-9]) == SCORE_CAP  # far out: clipped too


def test_too_short_or_non_finite_baseline_gives_nan():
    assert math.isnan(anomaly.score(1.0, [2.0]))
    assert math.isnan(anomaly.score(1.0, [2.0, math.nan, math.inf]))
    assert anomaly.score(1.0, [2.0, math.nan, 4.0]) == anomaly.score(1.0, [2.0, 4.0])
    with pytest.raises(ValueError, match="unknown anomaly method"):
        anomaly.score(1.0, [1.0, 2.0], "mad")


@pytest.mark.parametrize("method", anomaly.METHODS)
def test_rolling_scores_equal_the_point_form_for_every_point(method):
    rng = np.random.default_rng(1)
    x = rng.normal(50, 5, 300)
    x[[40, 41, 200]] = np.nan  # gaps: left out of the baselines they fall in
    x[100:130] = 50.0  # a flat stretch: zero MAD, then zero spread
    x[131] = 80.0
    window, min_periods = 24, 6
    rolled = anomaly.rolling_scores(x, window, method, min_periods)
    for i in range(len(x)):
        baseline = x[max(0, i - window) : i]
        if np.isfinite(baseline).sum() < min_periods or np.isnan(x[i]):
            assert math.isnan(rolled.score[i]), i
            continue
        assert rolled.score[i] == pytest.approx(anomaly.score(x[i], baseline, method), rel=1e-12, abs=1e-12), i
        finite = baseline[np.isfinite(baseline)]
        center = np.median(finite) if method == "robust" else np.mean(finite)
        assert rolled.center[i] == pytest.approx(center, rel=1e-12)
    assert np.nanmax(np.abs(rolled.score)) <= SCORE_CAP
    assert rolled.score[129] == 0.0 and rolled.score[131] > 3


def test_rolling_scores_in_blocks_equal_one_pass(monkeypatch):
    x = np.random.default_rng(2).normal(size=500)
    whole = anomaly.rolling_scores(x, 30)
    monkeypatch.setattr(anomaly, "_ROWS_PER_BLOCK", 7)
    np.testing.assert_array_equal(anomaly.rolling_scores(x, 30).score, whole.score)


def _seasonal(n: int, period: int, seed: int, noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 0.01 * t + 10 * np.sin(2 * np.pi * t / period) + rng.normal(0, noise, n)


def test_seasonality_detection_and_strength_match_stl():
    x = _seasonal(600, 48, seed=3)
    found = anomaly.detect_seasonality(x)
    assert found.period == 48
    fit = STL(x, period=48, robust=True).fit()
    expected = max(0.0, 1 - np.var(fit.resid) / np.var(fit.seasonal + fit.resid))
    assert found.strength == pytest.approx(expected)


def test_no_season_in_noise_constant_or_short_series():
    assert anomaly.detect_seasonality(np.random.default_rng(4).normal(size=600)).period is None
    assert anomaly.detect_seasonality(np.random.default_rng(7).normal(size=200)).period is None
    assert anomaly.detect_seasonality(np.full(50, 3.0)).period is None
    assert anomaly.detect_seasonality([1.0, 2.0, 1.0, 2.0]).period is None
