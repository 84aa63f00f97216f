"""Statistical tests and effect sizes used by regression detection (scipy / statsmodels underneath).

Every test returns a two-sided p-value; degenerate inputs (identical samples, no discordant pairs)
give p = 1 rather than an exception or NaN.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def _arr(values: ArrayLike) -> np.ndarray:
    return np.asarray(values, dtype=float)


def welch_t_test(a: ArrayLike, b: ArrayLike) -> float:
    """Welch's unequal-variance t-test p-value."""
    from scipy import stats

    x, y = _arr(a), _arr(b)
    if x.var() == 0 and y.var() == 0:
        return 1.0 if x.mean() == y.mean() else 0.0
    with warnings.catch_warnings():  # near-constant samples: scipy warns about precision, the p-value stands
        warnings.simplefilter("ignore", RuntimeWarning)
        return _p(stats.ttest_ind(x, y, equal_var=False).pvalue)


def mann_whitney_u(a: ArrayLike, b: ArrayLike) -> float:
    """Mann-Whitney U test p-value (scipy's automatic exact/asymptotic choice)."""
    from scipy import stats

    x, y = _arr(a), _arr(b)
    if np.all(x == x[0]) and np.all(y == x[0]):
        return 1.0
    return _p(stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)


def wilcoxon_signed_rank(a: ArrayLike, b: ArrayLike) -> float:
    """Wilcoxon signed-rank p-value of paired samples (zero differences dropped, Wilcox method)."""
    from scipy import stats

    d = _arr(a) - _arr(b)
    if np.count_nonzero(d) == 0:
        return 1.0
    return _p(stats.wilcoxon(d, zero_method="wilcox").pvalue)


def mcnemar_test(current: ArrayLike, baseline: ArrayLike) -> tuple[float, list[list[int]]]:
    """McNemar's test of paired pass/fail outcomes (exact binomial below 25 discordant pairs).

    Returns (p-value, table) where table rows are baseline pass/fail and columns current pass/fail.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    cur, base = _arr(current) >= 0.5, _arr(baseline) >= 0.5
    table = [
        [int(np.sum(base & cur)), int(np.sum(base & ~cur))],
        [int(np.sum(~base & cur)), int(np.sum(~base & ~cur))],
    ]
    discordant = table[0][1] + table[1][0]
    if discordant == 0:
        return 1.0, table
    result = mcnemar(table, exact=discordant < 25, correction=True)
    return _p(result.pvalue), table


def fisher_exact_test(current: ArrayLike, baseline: ArrayLike) -> float:
    """Fisher's exact test of unpaired pass/fail outcomes."""
    from scipy import stats

    cur, base = _arr(current) >= 0.5, _arr(baseline) >= 0.5
    table = [[int(cur.sum()), int((~cur).sum())], [int(base.sum()), int((~base).sum())]]
    return _p(stats.fisher_exact(table).pvalue)


def tail_exceedance_test(
    current: ArrayLike, baseline: ArrayLike, q: float = 95.0, higher_is_better: bool = False
) -> tuple[float | None, float | None]:
    """Percentile comparison: the share of current values beyond the baseline's ``q``-th percentile (on
    the bad side) and a one-sided binomial p-value against the expected share (informative: it ignores
    the uncertainty of the baseline percentile)."""
    from scipy import stats

    x, y = _arr(current), _arr(baseline)
    if x.size == 0 or y.size == 0:
        return None, None
    expected = 1.0 - q / 100.0
    if higher_is_better:
        beyond = int(np.sum(x < np.percentile(y, 100.0 - q)))
    else:
        beyond = int(np.sum(x > np.percentile(y, q)))
    return beyond / x.size, _p(stats.binomtest(beyond, x.size, expected, alternative="greater").pvalue)


def quantile_test(current: ArrayLike, baseline: ArrayLike, q: float = 95.0, higher_is_better: bool = False) -> float:
    """One-sided test that the current run's ``q``-th percentile moved the bad way: the share of each run
    beyond the pooled ``q``-th percentile (above it when lower is better, below the pooled ``100 - q``-th
    when higher is better), compared by Fisher's exact test. Under "no change" the runs' labels are
    exchangeable, so the test is exact (conservative, being discrete)."""
    from scipy import stats

    x, y = _arr(current), _arr(baseline)
    if x.size == 0 or y.size == 0:
        return 1.0
    pooled = np.concatenate([x, y])
    if higher_is_better:
        cut = np.percentile(pooled, 100.0 - q)
        bad_x, bad_y = int(np.sum(x < cut)), int(np.sum(y < cut))
    else:
        cut = np.percentile(pooled, q)
        bad_x, bad_y = int(np.sum(x > cut)), int(np.sum(y > cut))
    if bad_x + bad_y == 0:
        return 1.0
    table = [[bad_x, int(x.size) - bad_x], [bad_y, int(y.size) - bad_y]]
    return _p(stats.fisher_exact(table, alternative="greater").pvalue)


def prediction_p_value(z: float, k: int) -> float:
    """One-sided p-value that a new run's mean sits ``z`` sample standard deviations (ddof=1) beyond the
    mean of ``k`` earlier runs' means, by the prediction interval of a new observation:
    ``t = z / sqrt(1 + 1/k)`` with ``k - 1`` degrees of freedom (exact for normal run means)."""
    from scipy import stats

    if k < 2 or math.isnan(z):
        return 1.0
    return _p(stats.t.sf(z / math.sqrt(1.0 + 1.0 / k), k - 1))


def cohens_d(a: ArrayLike, b: ArrayLike) -> float | None:
    """Cohen's d of ``a`` minus ``b`` with the pooled standard deviation (None if undefined)."""
    x, y = _arr(a), _arr(b)
    nx, ny = x.size, y.size
    if nx < 2 or ny < 2:
        return None
    pooled = math.sqrt(((nx - 1) * x.var(ddof=1) + (ny - 1) * y.var(ddof=1)) / (nx + ny - 2))
    diff = float(x.mean() - y.mean())
    if pooled == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return diff / pooled


def cliffs_delta(a: ArrayLike, b: ArrayLike) -> float | None:
    """Cliff's delta = P(a > b) - P(a < b), computed in O(n log n)."""
    x, y = _arr(a), np.sort(_arr(b))
    if x.size == 0 or y.size == 0:
        return None
    greater = np.searchsorted(y, x, side="left").sum()
    less = (y.size - np.searchsorted(y, x, side="right")).sum()
    return float(greater - less) / (x.size * y.size)


def benjamini_hochberg(p_values: Sequence[float], alpha: float = 0.05) -> tuple[list[bool], list[float]]:
    """Benjamini-Hochberg FDR control (statsmodels ``multipletests``): (reject, adjusted p-values)."""
    if len(p_values) == 0:
        return [], []
    from statsmodels.stats.multitest import multipletests

    reject, adjusted, _, _ = multipletests(list(p_values), alpha=alpha, method="fdr_bh")
    return [bool(r) for r in reject], [float(p) for p in adjusted]


def bootstrap_mean_difference(
    a: ArrayLike,
    b: ArrayLike,
    paired: bool = False,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int | None = 0,
) -> tuple[float | None, float | None]:
    """Bootstrap CI of mean(a) - mean(b) (``scipy.stats.bootstrap``, percentile method)."""
    from scipy import stats

    x, y = _arr(a), _arr(b)
    if x.size < 2 or y.size < 2:
        return None, None
    data: tuple[np.ndarray, ...]
    statistic: Callable[..., Any]
    if paired:
        d = x - y
        if np.all(d == d[0]):
            return float(d[0]), float(d[0])
        data, statistic = (d,), np.mean
    else:
        if np.all(x == x[0]) and np.all(y == y[0]):
            return float(x[0] - y[0]), float(x[0] - y[0])
        data = (x, y)

        def statistic(s1: np.ndarray, s2: np.ndarray, axis: int = -1) -> Any:
            return np.mean(s1, axis=axis) - np.mean(s2, axis=axis)

    with np.errstate(all="ignore"):
        result = stats.bootstrap(
            data, statistic, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
            random_state=np.random.default_rng(seed), vectorized=True,
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _p(value: float) -> float:
    value = float(value)
    return 1.0 if math.isnan(value) else min(1.0, max(0.0, value))
