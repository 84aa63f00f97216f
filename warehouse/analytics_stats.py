"""Statistics on regular time series (pure functions; ``AnalyticsEngine`` feeds them warehouse data).

Moving averages and exponential smoothing, Pearson/Spearman correlations with p-values (scipy),
anomaly scores over a series (``agentotel.core.anomaly``'s scores and seasonality, on STL residuals when
a season is found) and forecasts (ETS and ARIMA from statsmodels, the lowest AIC wins, with prediction
intervals).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import threadpool_limits

from agentotel.core import anomaly

ANOMALY_SEASONAL_SMOOTHER = 31


def moving_average(values: pd.Series, window: int, min_periods: int | None = None) -> pd.Series:
    """Trailing simple moving average over ``window`` points."""
    return values.rolling(window, min_periods=min_periods or 1).mean()


def exponential_smoothing(values: pd.Series, alpha: float) -> pd.Series:
    """Simple exponential smoothing: ``s_t = alpha * x_t + (1 - alpha) * s_{t-1}``, ``s_0 = x_0``."""
    if not 0 < alpha <= 1:
        raise ValueError("alpha must be in (0, 1]")
    return values.ewm(alpha=alpha, adjust=False, ignore_na=True).mean()


def correlation_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Pearson and Spearman coefficients with two-sided p-values for every pair of columns.

    Rows where either series is NaN are left out of that pair; pairs with fewer than 3 points or a
    constant series get NaN.
    """
    rows = []
    for a, b in combinations(frame.columns, 2):
        pair = frame[[a, b]].dropna()
        x, y = pair[a].to_numpy(float), pair[b].to_numpy(float)
        row = {"metric_a": a, "metric_b": b, "n": len(pair)}
        if len(pair) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
            pearson = stats.pearsonr(x, y)
            spearman = stats.spearmanr(x, y)
            row.update(
                pearson_r=float(pearson.statistic),
                pearson_p=float(pearson.pvalue),
                spearman_r=float(spearman.statistic),
                spearman_p=float(spearman.pvalue),
            )
        else:
            row.update(pearson_r=math.nan, pearson_p=math.nan, spearman_r=math.nan, spearman_p=math.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=["metric_a", "metric_b", "n", "pearson_r", "pearson_p", "spearman_r", "spearman_p"])


def anomaly_scores(
    values: pd.Series,
    window: int,
    threshold: float = 3.5,
    period: int | None | str = "auto",
    method: str = "robust",
) -> pd.DataFrame:
    """Score every point against the ``window`` points before it (``agentotel.core.anomaly``'s definition).

    ``zscore`` and ``robust_score`` are ``anomaly.rolling_scores`` over the series, so each equals
    ``anomaly.score(x[i], x[i-window:i])``: the value an alert rule computes for the same baseline. A
    point needs ``max(3, window // 4)`` finite baseline values. When a season is found (``period="auto"``,
    16 points or more) or given, both are computed on the STL residuals (trend and season removed,
    robust fit), so a daily peak is not an anomaly; ``expected`` is then trend + season, otherwise the
    baseline's median. ``method`` picks the flagging score: ``robust`` (default), ``zscore`` or
    ``either``; ``is_anomaly`` where its absolute value exceeds ``threshold``.
    """
    if method not in ("robust", "zscore", "either"):
        raise ValueError("method must be robust, zscore or either")
    if window < 3:
        raise ValueError("window must be at least 3")
    series = pd.Series(np.asarray(values, dtype=float), index=getattr(values, "index", None))
    filled = series.interpolate(limit_direction="both")
    if period == "auto":
        period = anomaly.detect_seasonality(filled.to_numpy()).period if len(filled) >= 16 else None
    if period and len(filled) >= 2 * int(period) + 1:
        # a stiff seasonal smoother (31 cycles): the season is not allowed to absorb the anomalies
        fit = anomaly.stl(filled.to_numpy(), int(period), seasonal=ANOMALY_SEASONAL_SMOOTHER)
        baseline = pd.Series(fit.trend + fit.seasonal, index=series.index)
        residual = series - baseline
    else:
        period = None
        residual = series
    min_periods = max(3, window // 4)
    robust = anomaly.rolling_scores(residual.to_numpy(), window, "robust", min_periods)
    z = anomaly.rolling_scores(residual.to_numpy(), window, "zscore", min_periods).score
    robust_score = pd.Series(robust.score, index=series.index)
    zscore = pd.Series(z, index=series.index)
    if method == "robust":
        flag = robust_score.abs() > threshold
    elif method == "zscore":
        flag = zscore.abs() > threshold
    else:
        flag = (robust_score.abs() > threshold) | (zscore.abs() > threshold)
    expected = baseline if period else pd.Series(robust.center, index=series.index)
    return pd.DataFrame(
        {
            "value": series,
            "expected": expected,
            "zscore": zscore,
            "robust_score": robust_score,
            "is_anomaly": flag.fillna(False).astype(bool) & series.notna(),
            "period": period or 0,
        },
        index=series.index,
    )


@dataclass
class Forecast:
    """A forecast: the chosen model's point forecasts and prediction interval, and every candidate's AIC."""

    model: str
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    aic: dict[str, float]


def forecast_series(
    values: pd.Series | np.ndarray,
    steps: int,
    alpha: float = 0.05,
    period: int | None | str = "auto",
) -> Forecast:
    """Forecast ``steps`` points ahead with ``1 - alpha`` prediction intervals.

    Candidates: ETS (additive error; no trend or damped additive trend; additive season when one is
    found) and ARIMA (a few small orders, with Fourier terms of the season as regressors). Each is
    fitted by maximum likelihood; the lowest AIC wins.
    """
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    if steps < 1:
        raise ValueError("steps must be at least 1")
    y = pd.Series(np.asarray(values, dtype=float)).interpolate(limit_direction="both")
    if len(y) < 10:
        raise ValueError("need at least 10 points to forecast")
    if period == "auto":
        period = anomaly.detect_seasonality(y.to_numpy()).period
    if period and len(y) < 2 * int(period) + 2:
        period = None
    candidates: dict[str, tuple[float, np.ndarray, np.ndarray, np.ndarray]] = {}

    # small matrices: one BLAS thread each is much faster than a contended pool
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        ets_specs = [("ets(A,N,{s})", None, False), ("ets(A,Ad,{s})", "add", True)]
        for name, trend, damped in ets_specs:
            label = name.format(s="A" if period else "N")
            try:
                model = ETSModel(
                    y,
                    error="add",
                    trend=trend,
                    damped_trend=damped,
                    seasonal="add" if period else None,
                    seasonal_periods=int(period) if period else None,
                )
                fit = model.fit(disp=False, maxiter=200)
                frame = fit.get_prediction(start=len(y), end=len(y) + steps - 1).summary_frame(alpha=alpha)
                candidates[label] = (
                    float(fit.aic),
                    frame["mean"].to_numpy(),
                    frame["pi_lower"].to_numpy(),
                    frame["pi_upper"].to_numpy(),
                )
            except Exception:  # noqa: BLE001 - a candidate that cannot be fitted is skipped
                continue
        exog, future = _fourier(len(y), steps, int(period)) if period else (None, None)
        for order, trend in (((1, 0, 0), "c"), ((1, 0, 1), "c"), ((2, 0, 1), "c"), ((0, 1, 1), "n")):
            label = f"arima{order}" + ("+fourier" if period else "")
            try:
                fit = ARIMA(y.to_numpy(), order=order, trend=trend, exog=exog).fit()
                prediction = fit.get_forecast(steps, exog=future)
                interval = prediction.conf_int(alpha=alpha)
                candidates[label] = (
                    float(fit.aic),
                    np.asarray(prediction.predicted_mean),
                    np.asarray(interval)[:, 0],
                    np.asarray(interval)[:, 1],
                )
            except Exception:  # noqa: BLE001
                continue
    candidates = {k: v for k, v in candidates.items() if math.isfinite(v[0]) and np.all(np.isfinite(v[1]))}
    if not candidates:
        raise ValueError("no forecasting model could be fitted to this series")
    best = min(candidates, key=lambda k: candidates[k][0])
    _, mean, lower, upper = candidates[best]
    return Forecast(best, mean, lower, upper, {k: v[0] for k, v in candidates.items()})


def _fourier(n: int, steps: int, period: int, harmonics: int = 3) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(n + steps)
    k = min(harmonics, max(1, period // 2))
    columns = []
    for h in range(1, k + 1):
        columns += [np.sin(2 * np.pi * h * t / period), np.cos(2 * np.pi * h * t / period)]
    matrix = np.column_stack(columns)
    return matrix[:n], matrix[n:]
