"""Statistics on regular time series (pure functions; ``AnalyticsEngine`` feeds them warehouse data).

Moving averages and exponential smoothing, Pearson/Spearman correlations with p-values (scipy),
seasonality detection (autocorrelation + STL seasonal strength), anomaly scores (rolling z-score and
robust median/MAD, on STL residuals when a season is found) and forecasts (ETS and ARIMA from statsmodels,
the lowest AIC wins, with prediction intervals).
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

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation
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


@dataclass(frozen=True)
class Seasonality:
    """A detected season: ``period`` in points (None when none), its ACF value and STL strength (0..1)."""

    period: int | None
    acf: float
    strength: float


def detect_seasonality(
    values: pd.Series | np.ndarray,
    max_period: int | None = None,
    min_acf: float = 0.3,
    min_strength: float = 0.3,
) -> Seasonality:
    """Find the dominant season: the highest local ACF peak of the detrended series, confirmed by STL.

    Seasonal strength is ``max(0, 1 - var(resid) / var(seasonal + resid))`` (Wang, Smith & Hyndman).
    """
    from statsmodels.tsa.stattools import acf

    x = pd.Series(np.asarray(values, dtype=float)).interpolate(limit_direction="both").to_numpy()
    n = len(x)
    if n < 8 or np.ptp(x) == 0:
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
    result = _stl(values, period)
    resid, seasonal = result.resid, result.seasonal
    denominator = np.var(seasonal + resid)
    return float(max(0.0, 1 - np.var(resid) / denominator)) if denominator > 0 else 0.0


def _stl(values: np.ndarray, period: int, seasonal: int = 7):
    from statsmodels.tsa.seasonal import STL

    return STL(np.asarray(values, dtype=float), period=period, seasonal=seasonal, robust=True).fit()


def anomaly_scores(
    values: pd.Series,
    window: int,
    threshold: float = 3.5,
    period: int | None | str = "auto",
    method: str = "robust",
) -> pd.DataFrame:
    """Score every point; ``is_anomaly`` where the chosen score exceeds ``threshold`` in absolute value.

    - ``zscore``: ``(x - mean) / std`` of the previous ``window`` points (the point itself excluded);
    - ``robust``: ``(x - median) / (1.4826 * MAD)`` over the trailing ``window`` points;
    - when a season is found (``period="auto"``) or given, both are computed on the STL residuals
      (trend and season removed, robust fit), so a daily peak is not an anomaly; ``expected`` is
      trend + season (or the rolling median).
    ``method`` picks the flagging score: ``robust`` (default), ``zscore`` or ``either``.
    """
    if method not in ("robust", "zscore", "either"):
        raise ValueError("method must be robust, zscore or either")
    if window < 3:
        raise ValueError("window must be at least 3")
    series = pd.Series(np.asarray(values, dtype=float), index=getattr(values, "index", None))
    filled = series.interpolate(limit_direction="both")
    if period == "auto":
        period = detect_seasonality(filled.to_numpy()).period if len(filled) >= 16 else None
    if period and len(filled) >= 2 * int(period) + 1:
        # a stiff seasonal smoother (31 cycles): the season is not allowed to absorb the anomalies
        fit = _stl(filled.to_numpy(), int(period), seasonal=ANOMALY_SEASONAL_SMOOTHER)
        baseline = pd.Series(fit.trend + fit.seasonal, index=series.index)
        residual = series - baseline
    else:
        period = None
        baseline = series.rolling(window, min_periods=1).median()
        residual = series
    min_periods = max(3, window // 4)
    previous = residual.shift(1).rolling(window, min_periods=min_periods)
    z = (residual - previous.mean()) / previous.std()
    rolling_median = residual.rolling(window, min_periods=min_periods).median()
    mad = (residual - rolling_median).abs().rolling(window, min_periods=min_periods).median()
    robust = (residual - rolling_median) / (MAD_TO_SIGMA * mad)
    deviation = (residual - rolling_median).abs()
    robust = robust.where(~(mad == 0), np.where(deviation > 0, np.inf, 0.0))  # flat window: any change is news
    robust = robust.where(mad.notna() & rolling_median.notna())
    if method == "robust":
        flag = robust.abs() > threshold
    elif method == "zscore":
        flag = z.abs() > threshold
    else:
        flag = (robust.abs() > threshold) | (z.abs() > threshold)
    expected = baseline if period else rolling_median
    return pd.DataFrame(
        {
            "value": series,
            "expected": expected,
            "zscore": z,
            "robust_score": robust,
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
        period = detect_seasonality(y.to_numpy()).period
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
