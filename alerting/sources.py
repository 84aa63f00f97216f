"""Where rules read their metrics: a small ``MetricSource`` protocol, an in-memory source (tests, custom
feeds) and an adapter to the warehouse analytics engine.

A source answers ``series(metric, start, end, step, filters, group_by)`` with a DataFrame holding the
columns ``timestamp`` (UTC), ``value`` and one column per ``group_by`` label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import pandas as pd
from sqlalchemy import Engine, func, select

from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.evaluation_models import EvaluationResultRecord
from agentotel.warehouse.models import EvaluationRun


@runtime_checkable
class MetricSource(Protocol):
    def series(
        self,
        metric: str,
        start: datetime,
        end: datetime,
        step: timedelta,
        filters: Mapping[str, Any] | None = None,
        group_by: Sequence[str] | None = None,
    ) -> pd.DataFrame: ...


def empty_frame(group_by: Sequence[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.Series([], dtype="datetime64[ns, UTC]"), "value": [], **{g: [] for g in group_by or ()}})


class InMemoryMetricSource:
    """Series held in memory: ``{metric: DataFrame(timestamp, value, <label columns>)}``.

    ``series`` filters by time and label equality, buckets by ``step`` (mean per bucket) and keeps the
    requested ``group_by`` columns, like the analytics engine does on the warehouse.
    """

    def __init__(self, frames: Mapping[str, pd.DataFrame] | None = None) -> None:
        self.frames: dict[str, pd.DataFrame] = {}
        for name, frame in (frames or {}).items():
            self.set(name, frame)

    def set(self, metric: str, frame: pd.DataFrame) -> None:
        frame = frame.copy()
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        self.frames[metric] = frame

    def series(self, metric, start, end, step, filters=None, group_by=None) -> pd.DataFrame:
        group_by = list(group_by or [])
        frame = self.frames.get(metric)
        if frame is None or frame.empty:
            return empty_frame(group_by)
        mask = (frame["timestamp"] >= pd.Timestamp(start)) & (frame["timestamp"] < pd.Timestamp(end))
        for key, wanted in (filters or {}).items():
            if key not in frame.columns:
                return empty_frame(group_by)
            mask &= frame[key].isin(wanted) if isinstance(wanted, (list, tuple, set)) else frame[key] == wanted
        frame = frame[mask]
        if frame.empty:
            return empty_frame(group_by)
        missing = [g for g in group_by if g not in frame.columns]
        if missing:
            raise KeyError(f"metric {metric!r} has no label(s) {missing}")
        bucket = frame["timestamp"].dt.floor(pd.Timedelta(step))
        out = frame.assign(timestamp=bucket).groupby(["timestamp", *group_by], as_index=False)["value"].mean()
        return out[["timestamp", "value", *group_by]].sort_values("timestamp", ignore_index=True)


def granularity_for(step: timedelta) -> str:
    """``step`` as the analytics engine's granularity (a pandas duration such as ``"60s"``)."""
    return f"{max(1, int(step.total_seconds()))}s"


class AnalyticsMetricSource:
    """Adapter to ``agentotel.warehouse.analytics.AnalyticsEngine(engine).get_time_series``."""

    def __init__(self, engine: Engine, analytics: AnalyticsEngine | None = None) -> None:
        self.analytics = analytics if analytics is not None else AnalyticsEngine(engine, cache_ttl=0)  # fresh data

    def series(self, metric, start, end, step, filters=None, group_by=None) -> pd.DataFrame:
        frame = self.analytics.get_time_series(
            metric, start, end, granularity_for(step), filters=dict(filters) if filters else None,
            group_by=list(group_by) if group_by else None,
        )
        if frame is None or len(frame) == 0:
            return empty_frame(group_by)
        frame = frame.copy()
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        return frame


EVALUATION_PREFIX = "evaluation:"
EVALUATION_LABELS = {"agent": "agent_name", "agent_version": "agent_version", "benchmark": "benchmark_id",
                     "source": "source"}


class EvaluationMetricSource:
    """``evaluation:<metric>``: the mean score of each completed run in ``evaluation_runs``
    (``summary.metrics.<metric>.mean``) at its completion time, and every online score of a production
    execution in ``evaluation_results`` at the execution's time (``agentotel eval online``); labels
    ``agent``, ``agent_version``, ``benchmark`` (``online`` for online scores) and ``source`` (``run`` |
    ``online``). E.g. "faithfulness p50 < 0.7 for 10m": metric ``evaluation:judge.faithfulness``, filters
    ``{source: online}``, ``aggregation: median``, ``window: 10m``, ``for: 10m``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def series(self, metric, start, end, step, filters=None, group_by=None) -> pd.DataFrame:
        group_by = list(group_by or [])
        name = metric[len(EVALUATION_PREFIX):] if metric.startswith(EVALUATION_PREFIX) else metric
        for key in [*(filters or {}), *group_by]:
            if key not in EVALUATION_LABELS:
                raise KeyError(f"evaluation metrics have labels {sorted(EVALUATION_LABELS)}, not {key!r}")
        when = func.coalesce(EvaluationRun.completed_at, EvaluationRun.timestamp)
        query = select(when.label("timestamp"), EvaluationRun.summary, EvaluationRun.agent_name,
                       EvaluationRun.agent_version, EvaluationRun.benchmark_id).where(
            EvaluationRun.status == "completed", EvaluationRun.timestamp >= start - timedelta(days=1),
            EvaluationRun.timestamp < end)
        online = select(EvaluationResultRecord.execution_time.label("timestamp"), EvaluationResultRecord.score_value,
                        EvaluationResultRecord.agent_name, EvaluationResultRecord.agent_version).where(
            EvaluationResultRecord.name == name, EvaluationResultRecord.score_value.is_not(None),
            EvaluationResultRecord.execution_time >= start, EvaluationResultRecord.execution_time < end)
        records = []
        with self.engine.connect() as conn:
            for row in conn.execute(query):
                score = ((row.summary or {}).get("metrics") or {}).get(name) or {}
                if score.get("mean") is None:
                    continue
                records.append({"timestamp": row.timestamp, "value": float(score["mean"]), "agent": row.agent_name,
                                "agent_version": row.agent_version, "benchmark": row.benchmark_id, "source": "run"})
            for row in conn.execute(online):
                records.append({"timestamp": row.timestamp, "value": float(row.score_value), "agent": row.agent_name,
                                "agent_version": row.agent_version, "benchmark": "online", "source": "online"})
        if not records:
            return empty_frame(group_by)
        return InMemoryMetricSource({name: pd.DataFrame(records)}).series(name, start, end, step, filters, group_by)


class WarehouseMetricSource:
    """Everything rules can read from the warehouse: the analytics engine's metrics (and ``metric:<name>``
    raw rows) plus ``evaluation:<metric>`` scores."""

    def __init__(self, engine: Engine, analytics: AnalyticsEngine | None = None) -> None:
        self.analytics = AnalyticsMetricSource(engine, analytics)
        self.evaluation = EvaluationMetricSource(engine)

    def series(self, metric, start, end, step, filters=None, group_by=None) -> pd.DataFrame:
        if metric.startswith(EVALUATION_PREFIX):
            return self.evaluation.series(metric, start, end, step, filters, group_by)
        return self.analytics.series(metric, start, end, step, filters, group_by)

