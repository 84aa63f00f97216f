"""Known answers for every statistic (scipy / statsmodels computed directly), anomaly recall and forecast
coverage on synthetic series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.tsa.holtwinters import SimpleExpSmoothing

from agentotel.core.anomaly import SCORE_CAP
from agentotel.warehouse import analytics_stats as st


def _seasonal(n: int, period: int, seed: int, noise: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 0.01 * t + 10 * np.sin(2 * np.pi * t / period) + rng.normal(0, noise, n)


def test_moving_average_matches_numpy_convolution():
    x = pd.Series(np.random.default_rng(0).normal(size=200))
    got = st.moving_average(x, 7)
    expected = np.convolve(x, np.ones(7) / 7, mode="valid")
    np.testing.assert_allclose(got.iloc[6:].to_numpy(), expected, rtol=1e-12)
    assert got.iloc[0] == x.iloc[0]


def test_exponential_smoothing_matches_statsmodels():
    x = pd.Series(np.random.default_rng(1).normal(10, 2, 150))
    fit = SimpleExpSmoothing(x.to_numpy(), initialization_method="known", initial_level=x.iloc[0]).fit(
        smoothing_level=0.3, optimized=False
    )
    np.testing.assert_allclose(st.exponential_smoothing(x, 0.3).to_numpy(), fit.level, rtol=1e-12)
    with pytest.raises(ValueError):
        st.exponential_smoothing(x, 0)


def test_correlations_match_scipy():
    rng = np.random.default_rng(2)
    a = rng.normal(size=120)
    b = 0.6 * a + rng.normal(size=120)
    c = rng.normal(size=120)
    b[5] = np.nan  # dropped pairwise only
    table = st.correlation_table(pd.DataFrame({"a": a, "b": b, "c": c}))
    ab = table[(table.metric_a == "a") & (table.metric_b == "b")].iloc[0]
    mask = ~np.isnan(b)
    pr, sr = stats.pearsonr(a[mask], b[mask]), stats.spearmanr(a[mask], b[mask])
    assert ab.n == 119
    assert ab.pearson_r == pytest.approx(pr.statistic) and ab.pearson_p == pytest.approx(pr.pvalue)
    assert ab.spearman_r == pytest.approx(sr.statistic) and ab.spearman_p == pytest.approx(sr.pvalue)
    ac = table[(table.metric_a == "a") & (table.metric_b == "c")].iloc[0]
    assert ac.pearson_r == pytest.approx(stats.pearsonr(a, c).statistic)
    constant = st.correlation_table(pd.DataFrame({"a": a, "k": np.ones(120)}))
    assert np.isnan(constant.pearson_r.iloc[0])


def test_scores_match_definition_against_the_previous_window():
    x = pd.Series(np.random.default_rng(5).normal(0, 1, 100))
    scores = st.anomaly_scores(x, window=20, period=None)
    i = 60
    previous = x.iloc[i - 20 : i]  # the point itself is not part of its baseline
    median = np.median(previous)
    mad = np.median(np.abs(previous - median))
    assert scores.robust_score.iloc[i] == pytest.approx((x.iloc[i] - median) / (1.4826 * mad))
    assert scores.expected.iloc[i] == pytest.approx(median)
    assert scores.zscore.iloc[i] == pytest.approx((x.iloc[i] - previous.mean()) / previous.std(ddof=1))
    assert scores.robust_score.iloc[:5].isna().all()  # fewer than max(3, 20 // 4) earlier points


def test_flat_window_gives_capped_scores_not_infinity():
    x = pd.Series([5.0] * 30 + [6.0, 5.0])
    scores = st.anomaly_scores(x, window=10, period=None)
    assert scores.robust_score.iloc[30] == SCORE_CAP and scores.zscore.iloc[30] == SCORE_CAP
    assert scores.is_anomaly.iloc[30] and not scores.is_anomaly.iloc[29]
    assert np.isfinite(scores[["robust_score", "zscore"]].dropna().to_numpy()).all()


@pytest.mark.slow
def test_anomalies_found_in_seasonal_series():
    rng = np.random.default_rng(6)
    n, period = 1440, 96
    x = _seasonal(n, period, seed=6)
    injected = rng.choice(np.arange(2 * period, n - 10), size=25, replace=False)
    x[injected] += rng.choice([-1, 1], size=25) * rng.uniform(7, 12, size=25)
    scores = st.anomaly_scores(pd.Series(x), window=period, threshold=3.5)
    assert int(scores.period.iloc[0]) == period  # season detected and removed
    flagged = set(np.flatnonzero(scores.is_anomaly.to_numpy()))
    recall = len(flagged & set(injected)) / len(injected)
    false_positive_rate = len(flagged - set(injected)) / (n - len(injected))
    assert recall >= 0.9, recall
    assert false_positive_rate <= 0.02, false_positive_rate
    # without removing the season its swing hides the anomalies: the season-aware scores are what find them
    plain = st.anomaly_scores(pd.Series(x), window=period, threshold=3.5, period=None)
    assert len(set(np.flatnonzero(plain.is_anomaly.to_numpy())) & set(injected)) < len(injected) / 2


@pytest.mark.slow
def test_forecast_intervals_cover_held_out_truth():
    hits = total = 0
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        n, steps = 240, 20
        e = rng.normal(0, 1, n + steps)
        y = np.zeros(n + steps)
        for t in range(1, n + steps):
            y[t] = 0.6 * y[t - 1] + e[t]
        y += 20 + 5 * np.sin(2 * np.pi * np.arange(n + steps) / 24)
        result = st.forecast_series(y[:n], steps)
        truth = y[n:]
        hits += int(np.sum((truth >= result.lower) & (truth <= result.upper)))
        total += steps
        assert result.model == min(result.aic, key=result.aic.get)
        assert np.all(result.lower < result.mean) and np.all(result.mean < result.upper)
    assert hits / total >= 0.88, hits / total


def test_forecast_rejects_short_series():
    with pytest.raises(ValueError):
        st.forecast_series(np.arange(5.0), 3)
