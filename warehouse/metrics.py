"""Metric points of the ``metrics`` table: the names seen and the newest value of each series. (Time
series of a metric come from ``AnalyticsEngine.get_time_series("metric:<name>", ...)``.)"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, func, select

from agentotel.core.utc import as_utc
from agentotel.warehouse.bounds import MAX_ROWS
from agentotel.warehouse.models import Metric

LATEST_COLUMNS = ["metric_name", "service_name", "value", "unit", "timestamp"]

_metrics = Metric.__table__


def metric_names(engine: Engine, start: datetime | None = None, end: datetime | None = None,
                 prefix: str | None = None) -> list[str]:
    """Distinct metric names (within ``[start, end)``; starting with ``prefix``), sorted; at most
    ``MAX_ROWS``."""
    t = _metrics
    stmt = select(t.c.metric_name).distinct()
    if start is not None:
        stmt = stmt.where(t.c.timestamp >= as_utc(start))
    if end is not None:
        stmt = stmt.where(t.c.timestamp < as_utc(end))
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(t.c.metric_name.like(escaped + "%", escape="\\"))
    with engine.connect() as conn:
        return sorted(str(name) for name in conn.execute(stmt.limit(MAX_ROWS)).scalars())


def latest_metric_values(engine: Engine, names: Sequence[str], start: datetime | None = None) -> pd.DataFrame:
    """The newest point of each metric in ``names`` per service (points at ``start`` or later): metric_name,
    service_name, value (the mean of points sharing that newest timestamp), unit, timestamp."""
    if not names:
        return pd.DataFrame(columns=LATEST_COLUMNS)
    t = _metrics
    newest_query = select(t.c.metric_name, t.c.service_name, func.max(t.c.timestamp).label("ts")).where(
        t.c.metric_name.in_(list(names))
    )
    if start is not None:
        newest_query = newest_query.where(t.c.timestamp >= as_utc(start))
    newest = newest_query.group_by(t.c.metric_name, t.c.service_name).subquery()
    stmt = (
        select(t.c.metric_name, t.c.service_name, func.avg(t.c.value).label("value"), func.max(t.c.unit).label("unit"),
               t.c.timestamp)
        .join(newest, (t.c.metric_name == newest.c.metric_name) & (t.c.timestamp == newest.c.ts)
              & (func.coalesce(t.c.service_name, "") == func.coalesce(newest.c.service_name, "")))
        .group_by(t.c.metric_name, t.c.service_name, t.c.timestamp)
        .order_by(t.c.metric_name, t.c.service_name)
    )
    with engine.connect() as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))
