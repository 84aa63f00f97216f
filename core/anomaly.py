"""Anomaly scores and seasonality: the one definition alerting, analytics and evaluation share.

Server-side only (numpy, pandas, statsmodels); the instrumentation never imports it.

A point is scored against a *baseline*: the values before it (the point itself is never part of its
own baseline). Non-finite baseline values are left out; with fewer than ``MIN_BASELINE`` (2) left the
score is NaN. In standard-deviation units:

- ``robust``: ``(x - median) / (1.4826 * MAD)``; where the MAD is 0 (more than half of the baseline
  equal) the scale falls back to the sample standard deviation (ddof=1);
- ``zscore``: ``(x - mean) / std``, sample standard deviation (ddof=1).

Zero spread: when the scale is still 0 (a constant baseline) a value equal to the centre scores 0 and
any other value scores ``±SCORE_CAP``. Every score is clipped to ``[-SCORE_CAP, SCORE_CAP]``, so callers
never see ±inf; ``is_capped`` says a score hit the cap ("at least this far out").

``score`` (one point) and ``rolling_scores`` (every point of a series, each against its trailing
window) run the same row-wise computation, so they agree point by point for the same baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

if TYPE_CHECKING:
    import pandas as pd

Method = Literal["robust", "zscore"]
METHODS: tuple[Method, ...] = ("robust", "zscore")
MAD_TO_SIGMA = 1.4826  # the MAD of a normal distribution times this is its standard deviation
SCORE_CAP = 1000.0
MIN_BASELINE = 2
_ROWS_PER_BLOCK = 4096  # bounds the memory of the windowed statistics (block rows x window floats)


def score(value: float, baseline: Sequence[float] | np.ndarray, method: Method = "robust") -> float:
    """The score of ``value`` against ``baseline`` (NaN when fewer than two finite baseline values)."""
    _check(method)
    b = np.asarray(baseline, dtype=float)
    b = b[np.isfinite(b)]
    if b.size < MIN_BASELINE:
        return math.nan
    center, spread = _center_spread(b[np.newaxis, :], method)
    return float(_scale(np.array([float(value)]), center, spread)[0])


@dataclass(frozen=True)
class RollingScores:
    """Per point: its score and its baseline's centre (median or mean); NaN where no baseline."""

    score: np.ndarray
    center: np.ndarray


def rolling_scores(
    values: Sequence[float] | np.ndarray | pd.Series,
    window: int,
    method: Method = "robust",
    min_periods: int = MIN_BASELINE,
) -> RollingScores:
    """Score every point against the (up to) ``window`` values before it.

    A point whose trailing window holds fewer than ``max(min_periods, 2)`` finite values has no score.
    """
    _check(method)
    if window < 1:
        raise ValueError("window must be at least 1")
    x = np.asarray(values, dtype=float)
    n = len(x)
    need = max(min_periods, MIN_BASELINE)
    scores, centers = np.full(n, np.nan), np.full(n, np.nan)
    if n < 2:
        return RollingScores(scores, centers)
    # row i of `windows` is the baseline of point i: x[i - window : i], NaN-padded at the start
    padded = np.concatenate([np.full(window, np.nan), x[:-1]])
    windows = sliding_window_view(padded, window)
    for start in range(0, n, _ROWS_PER_BLOCK):
        block = windows[start : start + _ROWS_PER_BLOCK]
        count = np.isfinite(block).sum(axis=1)
        rows = np.flatnonzero(count >= need)
        if not rows.size:
            continue
        chosen = block if rows.size == len(block) else block[rows]
        center, spread = _center_spread(chosen, method)
        centers[start + rows] = center
        scores[start + rows] = _scale(x[start + rows], center, spread)
    return RollingScores(scores, centers)


def is_capped(value: float) -> bool:
    """Whether a score is at the cap (a constant baseline, or further out than ``SCORE_CAP``)."""
    return math.isfinite(value) and abs(value) >= SCORE_CAP


def _check(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown anomaly method {method!r}: use robust or zscore")


def _center_spread(rows: np.ndarray, method: Method) -> tuple[np.ndarray, np.ndarray]:
    """Centre and scale of each row (non-finite entries ignored; every row has ≥ 2 finite values)."""
    finite = np.isfinite(rows)
    whole = finite.all(axis=1)
    if whole.all():  # the common case: plain reductions, several times faster than the NaN-aware ones
        return _reduce(rows, method, np.mean, _median, np.std)
    center, spread = np.empty(len(rows)), np.empty(len(rows))
    if whole.any():
        center[whole], spread[whole] = _reduce(rows[whole], method, np.mean, _median, np.std)
    gappy = np.where(finite[~whole], rows[~whole], np.nan)
    center[~whole], spread[~whole] = _reduce(gappy, method, np.nanmean, np.nanmedian, np.nanstd)
    return center, spread


def _median(rows: np.ndarray, axis: int = 1) -> np.ndarray:
    """Row medians of a NaN-free array by partial sorting (np.median sorts more than it needs here)."""
    n = rows.shape[axis]
    half = n // 2
    if n % 2:
        return np.partition(rows, half, axis=axis)[:, half]
    part = np.partition(rows, (half - 1, half), axis=axis)
    return (part[:, half - 1] + part[:, half]) / 2


def _reduce(rows: np.ndarray, method: Method, mean: Any, median: Any, std: Any) -> tuple[np.ndarray, np.ndarray]:
    if method == "zscore":
        return mean(rows, axis=1), std(rows, axis=1, ddof=1)
    center = median(rows, axis=1)
    spread = MAD_TO_SIGMA * median(np.abs(rows - center[:, np.newaxis]), axis=1)
    flat = spread == 0
    if flat.any():  # MAD 0: the sample standard deviation instead
        spread[flat] = std(rows[flat], axis=1, ddof=1)
    return center, spread


def _scale(values: np.ndarray, center: np.ndarray, spread: np.ndarray) -> np.ndarray:
    deviation = values - center
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = deviation / spread
    flat = np.where(deviation == 0, 0.0, np.sign(deviation) * SCORE_CAP)
    out = np.where(spread > 0, raw, flat)
    return np.where(np.isnan(values), np.nan, np.clip(out, -SCORE_CAP, SCORE_CAP))


# --- seasonality ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seasonality:
    """A detected season: ``period`` in points (None when none), its ACF value and STL strength (0..1)."""

    period: int | None
    acf: float
    strength: float


def detect_seasonality(
    values: Sequence[float] | np.ndarray | pd.Series,
    max_period: int | None = None,
    min_acf: float = 0.3,
    min_strength: float = 0.3,
) -> Seasonality:
    """The dominant season: the highest local ACF peak (lag ≥ 2) of the detrended series, confirmed by STL.

    Gaps are interpolated. None below 8 points, for a constant series, when the peak is under
    ``max(min_acf, 2/sqrt(n))`` (the white-noise band), when fewer than two full periods fit, or when
    the STL seasonal strength ``max(0, 1 - var(resid) / var(seasonal + resid))`` (Wang, Smith &
    Hyndman) is under ``min_strength``.
    """
    # statsmodels costs ~1 s to import: only when a season is sought
    import pandas as pd
    from statsmodels.tsa.stattools import acf

    x = pd.Series(np.asarray(values, dtype=float)).interpolate(limit_direction="both").to_numpy()
    n = len(x)
    if n < 8 or not np.isfinite(x).all() or np.ptp(x) == 0:
        return Seasonality(None, 0.0, 0.0)
    max_period = min(max_period or n // 2, n // 2)
    trend_window = max(3, (max_period * 2) | 1)
    detrended = x - pd.Series(x).rolling(trend_window, center=True, min_periods=1).mean().to_numpy()
    if np.ptp(detrended) == 0:
        return Seasonality(None, 0.0, 0.0)
    coefficients = acf(detrended, nlags=max_period, fft=True)
    best_lag, best_value = None, -1.0
    for lag in range(2, len(coefficients) - 1):
        c = coefficients[lag]
        if c > coefficients[lag - 1] and c >= coefficients[lag + 1] and c > best_value:
            best_lag, best_value = lag, float(c)
    if best_lag is None or best_value < max(min_acf, 2 / math.sqrt(n)) or n < 2 * best_lag + 1:
        return Seasonality(None, max(best_value, 0.0), 0.0)
    strength = seasonal_strength(x, best_lag)
    if strength < min_strength:
        return Seasonality(None, best_value, strength)
    return Seasonality(best_lag, best_value, strength)


def seasonal_strength(values: np.ndarray, period: int) -> float:
    """STL seasonal strength of ``values`` for ``period``."""
    result = stl(values, period)
    resid, seasonal = result.resid, result.seasonal
    denominator = np.var(seasonal + resid)
    return float(max(0.0, 1 - np.var(resid) / denominator)) if denominator > 0 else 0.0


def stl(values: np.ndarray, period: int, seasonal: int = 7):  # noqa: ANN201 - statsmodels' DecomposeResult
    """Robust STL decomposition of ``values`` with ``period``."""
    # statsmodels costs ~1 s to import: only when a season is decomposed
    from statsmodels.tsa.seasonal import STL

    return STL(np.asarray(values, dtype=float), period=period, seasonal=seasonal, robust=True).fit()
