"""How fresh the warehouse is: when the receiver last wrote a span or a metric point, and how much it
wrote lately (the System page's receiver health, read from the tables rather than the receiver)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from agentotel.core.utc import as_utc, utcnow
from agentotel.warehouse.models import Metric, Span


def ingest_health(engine: Engine, now: datetime | None = None) -> dict[str, Any]:
    """Newest span and metric times, seconds since then, spans and metric points in the last 5 minutes
    and spans in the last hour."""
    now = as_utc(now) or utcnow()
    spans = Span.__table__
    metrics = Metric.__table__

    def count(table, column, since: timedelta):
        return select(func.count()).select_from(table).where(column >= now - since)

    with engine.connect() as conn:
        last_span = as_utc(conn.execute(select(func.max(spans.c.start_time))).scalar())
        last_metric = as_utc(conn.execute(select(func.max(metrics.c.timestamp))).scalar())
        spans_5m = conn.execute(count(spans, spans.c.start_time, timedelta(minutes=5))).scalar_one()
        spans_1h = conn.execute(count(spans, spans.c.start_time, timedelta(hours=1))).scalar_one()
        points_5m = conn.execute(count(metrics, metrics.c.timestamp, timedelta(minutes=5))).scalar_one()
    return {
        "last_span_at": last_span,
        "last_metric_at": last_metric,
        "seconds_since_span": (now - last_span).total_seconds() if last_span else None,
        "seconds_since_metric": (now - last_metric).total_seconds() if last_metric else None,
        "spans_last_5m": int(spans_5m),
        "spans_last_1h": int(spans_1h),
        "metric_points_last_5m": int(points_5m),
    }
