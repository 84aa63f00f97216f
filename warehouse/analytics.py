"""AnalyticsEngine: time series, aggregations and statistics over the warehouse.

Derived metrics (``METRICS``) are computed from ``agent_executions``, ``llm_calls`` and ``tool_calls``; raw
metric points from ``metrics`` as ``metric:<metric_name>`` (mean per bucket). When rollups exist
(``refresh_rollups``) and the granularity is a whole number of minutes, reads use the per-minute /
per-hour rollups for the range they cover plus the raw rows after the watermark; percentiles then come
from merged sketches (within 2 % of the exact nearest-rank value, see ``agentotel.warehouse.sketch``).
Otherwise the raw rows are scanned and percentiles are exact. Percentiles are nearest-rank (numpy
``method="inverted_cdf"``) on both paths, so a value does not jump when rollups take over.

Results of the query methods are cached for ``cache_ttl`` seconds (copies are returned).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from agentotel.core import anomaly
from agentotel.core import semconv as sc
from agentotel.core.utc import as_utc
from agentotel.warehouse import analytics_stats as st
from agentotel.warehouse import rollups
from agentotel.warehouse.models import Metric

FILTER_KEYS = ("agent", "model", "provider", "tool", "service")


@dataclass(frozen=True)
class MetricSpec:
    """How a derived metric is computed from a rollup family's partial aggregates."""

    family: str  # executions | llm | tools
    kind: str  # sum | ratio | quantile | mean
    column: str = "count"
    q: float = 0.0
    invert: bool = False  # ratio: 1 - success share (error rate)

    @property
    def fill(self) -> float:
        """Value of an empty bucket: 0 for counts and sums, NaN for rates, means and percentiles."""
        return 0.0 if self.kind == "sum" else math.nan


METRICS: dict[str, MetricSpec] = {
    "executions": MetricSpec("executions", "sum", "count"),
    "success_rate": MetricSpec("executions", "ratio"),
    "error_rate": MetricSpec("executions", "ratio", invert=True),
    "latency_avg": MetricSpec("executions", "mean"),
    "latency_p50": MetricSpec("executions", "quantile", q=0.50),
    "latency_p95": MetricSpec("executions", "quantile", q=0.95),
    "latency_p99": MetricSpec("executions", "quantile", q=0.99),
    "llm_calls": MetricSpec("llm", "sum", "count"),
    "llm_error_rate": MetricSpec("llm", "ratio", invert=True),
    "llm_latency_avg": MetricSpec("llm", "mean"),
    "llm_latency_p50": MetricSpec("llm", "quantile", q=0.50),
    "llm_latency_p95": MetricSpec("llm", "quantile", q=0.95),
    "llm_latency_p99": MetricSpec("llm", "quantile", q=0.99),
    "tokens": MetricSpec("llm", "sum", "total_tokens"),
    "input_tokens": MetricSpec("llm", "sum", "input_tokens"),
    "output_tokens": MetricSpec("llm", "sum", "output_tokens"),
    "cost": MetricSpec("llm", "sum", "cost_usd"),
    "tool_calls": MetricSpec("tools", "sum", "count"),
    "tool_error_rate": MetricSpec("tools", "ratio", invert=True),
    "tool_latency_avg": MetricSpec("tools", "mean"),
    "tool_latency_p50": MetricSpec("tools", "quantile", q=0.50),
    "tool_latency_p95": MetricSpec("tools", "quantile", q=0.95),
    "tool_latency_p99": MetricSpec("tools", "quantile", q=0.99),
}

RAW_METRIC_PREFIX = "metric:"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class AnalyticsEngine:
    """Queries and statistics for the dashboard and the alerting rules."""

    def __init__(self, engine: Engine, cache_ttl: float = 30, use_rollups: bool = True) -> None:
        self.engine = engine
        self.cache_ttl = cache_ttl
        self.use_rollups = use_rollups
        self._cache: dict[tuple, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ cache

    def _cached(self, key: tuple, compute):
        if self.cache_ttl <= 0:
            return compute()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit and hit[0] > now:
                return _copy(hit[1])
        value = compute()
        with self._lock:
            if len(self._cache) > 512:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[key] = (now + self.cache_ttl, value)
        return _copy(value)

    def clear_cache(self) -> None:
        """Forget every cached result."""
        with self._lock:
            self._cache.clear()

    # ------------------------------------------------------------------------------------------ series

    def get_time_series(
        self,
        metric: str,
        start: datetime,
        end: datetime,
        granularity: str = "1min",
        filters: Mapping[str, Any] | None = None,
        group_by: str | Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """One row per bucket (and group): ``timestamp`` (UTC bucket start), group columns, ``value``.

        Buckets are ``floor(t, granularity)`` for rows with ``start <= t < end``; every bucket from
        ``floor(start)`` to before ``end`` is present, empty ones filled with 0 (counts, sums) or NaN
        (rates, means, percentiles). ``filters`` maps agent/model/provider/tool/service to a value or a list.
        """
        start, end = as_utc(start), as_utc(end)
        groups = _as_list(group_by)
        key = ("ts", metric, start, end, granularity, _freeze(filters), tuple(groups))
        return self._cached(key, lambda: self._time_series(metric, start, end, granularity, filters, groups))

    def _time_series(self, metric, start, end, granularity, filters, groups) -> pd.DataFrame:
        step = _granularity(granularity)
        if end <= start:
            raise ValueError("end must be after start")
        if (end - start) / step > 200_000:
            raise ValueError("too many buckets: use a coarser granularity")
        grid = pd.date_range(pd.Timestamp(start).floor(step), pd.Timestamp(end), freq=step, inclusive="left")
        if metric.startswith(RAW_METRIC_PREFIX):
            values = self._raw_metric(metric[len(RAW_METRIC_PREFIX) :], start, end, step, filters, groups)
            fill = math.nan
        else:
            spec = _spec(metric)
            values = self._family_values(spec, start, end, step, filters, groups)
            fill = spec.fill
        return _complete_grid(values, grid, groups, fill)

    def get_aggregations(
        self,
        metric: str,
        group_by: str | Sequence[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pd.DataFrame:
        """``metric`` over ``[start, end)`` (default: everything) per group: group columns and ``value``,
        sorted by value, largest first."""
        start = as_utc(start) if start else _EPOCH
        end = as_utc(end) if end else datetime.now(timezone.utc) + timedelta(days=1)
        groups = _as_list(group_by)
        key = ("agg", metric, start, end, _freeze(filters), tuple(groups))
        return self._cached(key, lambda: self._aggregations(metric, groups, filters, start, end))

    def _aggregations(self, metric, groups, filters, start, end) -> pd.DataFrame:
        if metric.startswith(RAW_METRIC_PREFIX):
            frame = self._raw_metric(metric[len(RAW_METRIC_PREFIX) :], start, end, None, filters, groups)
        else:
            frame = self._family_values(_spec(metric), start, end, None, filters, groups)
        frame = frame[[*groups, "value"]]
        return frame.sort_values("value", ascending=False, na_position="last", kind="stable").reset_index(drop=True)

    def family_summary(
        self,
        family: str,
        group_by: str | Sequence[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        quantiles: Sequence[float] = (0.5, 0.95, 0.99),
    ) -> pd.DataFrame:
        """Every measure of one family (``executions``, ``llm``, ``tools``) per group in one read:
        count, success_count, error_count, error_rate, latency_avg, latency_p50/p95/p99 and, for ``llm``,
        input/output/total tokens and cost_usd."""
        start = as_utc(start) if start else _EPOCH
        end = as_utc(end) if end else datetime.now(timezone.utc) + timedelta(days=1)
        groups = _as_list(group_by)
        key = ("summary", family, start, end, _freeze(filters), tuple(groups), tuple(quantiles))
        return self._cached(key, lambda: self._summary(family, groups, filters, start, end, tuple(quantiles)))

    def _summary(self, family_name, groups, filters, start, end, quantiles) -> pd.DataFrame:
        family = rollups.FAMILIES[family_name]
        partials, exact = self._partials(family, start, end, None, filters, groups, bool(quantiles), quantiles)
        out = partials[[*groups]].copy() if groups else pd.DataFrame(index=partials.index)
        for column in family.sum_columns:
            out[column] = partials[column].astype(float) if column in ("duration_sum", "cost_usd") else partials[column].astype("int64")
        out["error_count"] = out["count"] - out["success_count"]
        out["error_rate"] = _ratio(out["error_count"], out["count"])
        out["latency_avg"] = _ratio(out["duration_sum"], out["duration_count"])
        for q in quantiles:
            name = f"latency_p{round(q * 100):d}"
            if exact is not None:
                out[name] = _exact_quantiles(exact, groups, q, partials)
            else:
                out[name] = partials[rollups.quantile_column(q)].to_numpy(float)
        return _labels(out.drop(columns=["duration_sum", "duration_count"]), groups).reset_index(drop=True)

    def _family_values(self, spec: MetricSpec, start, end, step, filters, groups) -> pd.DataFrame:
        family = rollups.FAMILIES[spec.family]
        keys = (["bucket"] if step is not None else []) + groups
        is_quantile = spec.kind == "quantile"
        partials, exact = self._partials(family, start, end, step, filters, groups, is_quantile, (spec.q,) if is_quantile else ())
        if spec.kind == "sum":
            value = partials[spec.column].astype(float)
        elif spec.kind == "ratio":
            value = _ratio(partials["success_count"], partials["count"])
            value = 1 - value if spec.invert else value
        elif spec.kind == "mean":
            value = _ratio(partials["duration_sum"], partials["duration_count"])
        elif exact is not None:
            value = _exact_quantiles(exact, keys, spec.q, partials)
        else:
            value = partials[rollups.quantile_column(spec.q)].astype(float)
        frame = partials[keys].copy()
        frame["value"] = np.asarray(value, dtype=float)
        return _labels(frame, groups)

    def _partials(self, family, start, end, step, filters, groups, with_hist, quantiles=()):
        """Merged partial aggregates per (bucket, group); plus the raw frame when computed exactly."""
        dims = _dims(family, filters, groups)
        group_columns = [family.dims[g] for g in groups]
        width = step.total_seconds() if step is not None else None
        with self.engine.connect() as conn:
            rollable = width is None or (width >= 60 and width % 60 == 0)
            if self.use_rollups and rollable and rollups.watermark(conn, family) is not None:
                frame = rollups.read_partials(
                    conn, family, start, end, int(width) if width else None, dims, group_columns, with_hist, quantiles
                )
                return frame.rename(columns={family.dims[g]: g for g in groups}), None
            raw = rollups.raw_frame(conn, family.without_project(), start, end, dims)
        if step is not None:
            raw["bucket"] = raw["t"].dt.floor(step)
        raw = raw.rename(columns={family.dims[g]: g for g in groups})
        keys = (["bucket"] if step is not None else []) + groups
        partial_frame = raw.assign(
            count=1,
            success_count=raw["success"].astype(int),
            duration_count=raw["duration"].notna().astype(int),
            duration_sum=raw["duration"].fillna(0.0),
        )
        merged = rollups.merge_partials(partial_frame, keys, family.sum_columns, with_hist=False)
        return merged, raw

    def _raw_metric(self, name, start, end, step, filters, groups) -> pd.DataFrame:
        unsupported = (set(filters or {}) | set(groups)) - set(RAW_METRIC_LABELS)
        if unsupported:
            raise ValueError(f"metric:{name} can be filtered and grouped by {', '.join(RAW_METRIC_LABELS)} only, "
                             f"not {sorted(unsupported)}")
        table = Metric.__table__
        by_tags = [label for label, keys in RAW_METRIC_LABELS.items() if keys and (label in groups or label in (filters or {}))]
        stmt = select(table.c.timestamp, table.c.value, table.c.service_name.label("service"),
                      *([table.c.tags] if by_tags else [])).where(
            table.c.metric_name == name, table.c.timestamp >= start, table.c.timestamp < end
        )
        if filters and "service" in filters:
            stmt = stmt.where(table.c.service_name.in_(_as_list(filters["service"])))
        with self.engine.connect() as conn:
            result = conn.execute(stmt)
            raw = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        raw["timestamp"] = pd.to_datetime(raw["timestamp"], utc=True)
        raw["value"] = pd.to_numeric(raw["value"], errors="coerce").astype(float)
        raw["service"] = raw["service"].fillna("").astype(str)
        for label in by_tags:  # a point's own attributes (the gauges of one service differ by model)
            keys = RAW_METRIC_LABELS[label]
            raw[label] = [next((str(t[k]) for k in keys if t.get(k) is not None), "") if isinstance(t, dict) else ""
                          for t in raw["tags"]]
            if filters and label in filters:
                raw = raw[raw[label].isin([str(v) for v in _as_list(filters[label])])]
        keys = (["bucket"] if step is not None else []) + groups
        if step is not None:
            raw["bucket"] = raw["timestamp"].dt.floor(step)
        if not keys:
            frame = pd.DataFrame({"value": [raw["value"].mean() if len(raw) else math.nan]})
        else:
            frame = raw.groupby(keys, sort=True)["value"].mean().reset_index()
        return _labels(frame, groups)

    # ------------------------------------------------------------------------------------------ statistics

    def get_correlations(
        self,
        metrics: Sequence[str],
        start: datetime,
        end: datetime,
        granularity: str = "5min",
        filters: Mapping[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Pearson and Spearman coefficients (with p-values) between every pair of ``metrics`` sampled on
        the same buckets; columns metric_a, metric_b, n, pearson_r, pearson_p, spearman_r, spearman_p."""
        if len(metrics) < 2:
            raise ValueError("need at least two metrics")
        frame = pd.DataFrame(
            {m: self.get_time_series(m, start, end, granularity, filters)["value"].to_numpy() for m in metrics}
        )
        return st.correlation_table(frame)

    def detect_seasonality(
        self, metric: str, start: datetime, end: datetime, granularity: str = "5min", filters=None
    ) -> anomaly.Seasonality:
        """Dominant season of ``metric`` (period in buckets, ACF peak, STL strength)."""
        series = self.get_time_series(metric, start, end, granularity, filters)["value"]
        return anomaly.detect_seasonality(series.to_numpy())

    def detect_anomalies(
        self,
        metric: str,
        window_size: int = 60,
        start: datetime | None = None,
        end: datetime | None = None,
        granularity: str = "1min",
        filters: Mapping[str, Any] | None = None,
        threshold: float = 3.5,
        method: str = "robust",
        period: int | None | str = "auto",
    ) -> pd.DataFrame:
        """Anomaly scores per bucket: timestamp, value, expected, zscore, robust_score, is_anomaly, period.

        Default range: the last ``window_size * 10`` buckets. Seasonality-aware (see
        ``analytics_stats.anomaly_scores``)."""
        end, start = self._default_range(start, end, granularity, window_size * 10)
        series = self.get_time_series(metric, start, end, granularity, filters)
        scores = st.anomaly_scores(series["value"], window_size, threshold, period, method)
        return pd.concat([series[["timestamp"]], scores], axis=1)

    def forecast(
        self,
        metric: str,
        steps: int,
        start: datetime | None = None,
        end: datetime | None = None,
        granularity: str = "5min",
        filters: Mapping[str, Any] | None = None,
        alpha: float = 0.05,
        period: int | None | str = "auto",
    ) -> pd.DataFrame:
        """Forecast ``steps`` buckets after ``end``: timestamp, forecast, lower, upper, model (lowest-AIC of
        ETS and ARIMA candidates); default history: the last 500 buckets."""
        end, start = self._default_range(start, end, granularity, 500)
        history = self.get_time_series(metric, start, end, granularity, filters)
        result = st.forecast_series(history["value"], steps, alpha, period)
        step = _granularity(granularity)
        last = history["timestamp"].iloc[-1]
        return pd.DataFrame(
            {
                "timestamp": pd.date_range(last + step, periods=steps, freq=step),
                "forecast": result.mean,
                "lower": result.lower,
                "upper": result.upper,
                "model": result.model,
            }
        )

    def moving_average(self, metric: str, window: int, start: datetime, end: datetime, granularity="1min", filters=None) -> pd.DataFrame:
        """The series with a ``moving_average`` column (trailing mean over ``window`` buckets)."""
        series = self.get_time_series(metric, start, end, granularity, filters)
        series["moving_average"] = st.moving_average(series["value"], window)
        return series

    def exponential_smoothing(self, metric: str, alpha: float, start: datetime, end: datetime, granularity="1min", filters=None) -> pd.DataFrame:
        """The series with a ``smoothed`` column (simple exponential smoothing with factor ``alpha``)."""
        series = self.get_time_series(metric, start, end, granularity, filters)
        series["smoothed"] = st.exponential_smoothing(series["value"], alpha)
        return series

    def _default_range(self, start, end, granularity, buckets):
        end = as_utc(end) if end else datetime.now(timezone.utc)
        start = as_utc(start) if start else end - _granularity(granularity) * buckets
        return end, start


# ---------------------------------------------------------------------------------------------- helpers


# What ``metric:<name>`` series can be filtered and grouped by: the point's service, and its provider and model
# as its attributes name them (the GenAI semantic conventions' names; a provider also by its older name).
RAW_METRIC_LABELS: dict[str, tuple[str, ...]] = {
    "service": (),
    "provider": (sc.PROVIDER, sc.DEPRECATED_PROVIDER),
    "model": (sc.REQUEST_MODEL, sc.RESPONSE_MODEL),
}


def _spec(metric: str) -> MetricSpec:
    try:
        return METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; known: {sorted(METRICS)} or metric:<name>") from None


def _dims(family: rollups.Family, filters: Mapping[str, Any] | None, groups: Sequence[str]) -> dict[str, list[str]]:
    for key in [*(filters or {}), *groups]:
        if key not in FILTER_KEYS:
            raise ValueError(f"unknown filter/group key {key!r}; known: {list(FILTER_KEYS)}")
        if key not in family.dims:
            raise ValueError(f"{family.name} metrics cannot be filtered or grouped by {key!r}")
    return {family.dims[k]: [("" if v is None else str(v)) for v in _as_list(v)] for k, v in (filters or {}).items()}


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | set | frozenset | tuple):
        return [value]
    return list(value)


def _freeze(filters: Mapping[str, Any] | None) -> tuple:
    return tuple(sorted((k, tuple(sorted(map(str, _as_list(v))))) for k, v in (filters or {}).items()))


def _granularity(granularity: str) -> pd.Timedelta:
    try:
        step = pd.Timedelta(granularity)
    except (ValueError, TypeError):
        raise ValueError(f"granularity must be a fixed duration like '1min', '5min', '1h', not {granularity!r}") from None
    if step <= pd.Timedelta(0):
        raise ValueError("granularity must be positive")
    return step


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    numerator = numerator.astype(float)
    denominator = denominator.astype(float)
    return (numerator / denominator.where(denominator > 0)).astype(float)


def _exact_quantiles(raw: pd.DataFrame, keys: Sequence[str], q: float, partials: pd.DataFrame) -> pd.Series:
    """Nearest-rank ``q`` quantile of the raw durations per key (numpy ``method="inverted_cdf"``)."""
    keys = list(keys)
    durations = raw.loc[raw["duration"].notna(), [*keys, "duration"]]
    if not keys:
        value = nearest_rank(durations["duration"].to_numpy(float), q)
        return pd.Series([value] * len(partials), index=partials.index, dtype=float)
    if durations.empty:
        return pd.Series(math.nan, index=partials.index, dtype=float)
    ordered = durations.sort_values([*keys, "duration"], kind="stable")
    group = ordered.groupby(keys, sort=False)
    position = group.cumcount().to_numpy()
    size = group["duration"].transform("size").to_numpy()
    rank = np.maximum(np.ceil(q * size).astype(int), 1) - 1
    picked = ordered[position == rank].rename(columns={"duration": "_q"})
    joined = partials[keys].merge(picked, on=keys, how="left")
    return pd.Series(joined["_q"].to_numpy(float), index=partials.index)


def nearest_rank(values: np.ndarray, q: float) -> float:
    """The smallest value with at least ``q`` of the values at or below it (NaN when empty)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    return float(np.percentile(values, q * 100, method="inverted_cdf")) if values.size else math.nan


def _labels(frame: pd.DataFrame, groups: Sequence[str]) -> pd.DataFrame:
    """Group labels stored as '' (NULL in the source) are shown as None."""
    for g in groups:
        frame[g] = pd.Series([None if v is None or v == "" else v for v in frame[g]], index=frame.index, dtype=object)
    return frame


def _complete_grid(values: pd.DataFrame, grid: pd.DatetimeIndex, groups: Sequence[str], fill: float) -> pd.DataFrame:
    values = values.rename(columns={"bucket": "timestamp"})
    columns = ["timestamp", *groups, "value"]
    if groups:
        combos = values[list(groups)].drop_duplicates()
        if combos.empty:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns}).astype({"value": float})
        skeleton = pd.DataFrame({"timestamp": grid}).merge(combos, how="cross")
    else:
        skeleton = pd.DataFrame({"timestamp": grid})
    if not values.empty:
        values = values.assign(timestamp=pd.to_datetime(values["timestamp"], utc=True))
        merged = skeleton.merge(values[columns], on=["timestamp", *groups], how="left")
    else:
        merged = skeleton.assign(value=np.nan)
    merged["value"] = merged["value"].astype(float).fillna(fill)
    return merged[columns].sort_values(["timestamp", *groups], kind="stable", key=_sort_key).reset_index(drop=True)


def _sort_key(column: pd.Series) -> pd.Series:
    return column if column.name == "timestamp" else column.astype(str)




def _copy(value):
    return value.copy() if isinstance(value, pd.DataFrame) else value
