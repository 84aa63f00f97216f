"""Traces and their spans: search traces by their root span, a trace's spans as a waterfall, one span's
captured content. Every value is a bind parameter; sort columns and statuses are whitelisted."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, case, exists, func, select

from agentotel.core.utc import as_utc
from agentotel.warehouse.bounds import check_choice, check_limit
from agentotel.warehouse.models import Span

TRACE_SORTS = {"start_time": "start_time", "duration_ms": "duration_ms", "name": "name", "service_name": "service_name",
               "agent_name": "agent_name"}
TRACE_STATUSES = ("ok", "error")

_spans = Span.__table__


def recent_traces(
    engine: Engine,
    start: datetime | None = None,
    end: datetime | None = None,
    agent: str | None = None,
    service: str | None = None,
    status: str | None = None,
    trace_id: str | None = None,
    sort: str = "start_time",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> pd.DataFrame:
    """Traces by their root span (no parent): trace_id, name, service_name, agent_name, start_time,
    duration_ms, status ('error' when any span of the trace failed), span_count, error_count.

    ``status`` is ``ok`` or ``error``; ``sort`` one of ``TRACE_SORTS``."""
    check_choice(sort, TRACE_SORTS, "sort")
    check_choice(status, TRACE_STATUSES, "status")
    if int(offset) < 0:
        raise ValueError("offset must be >= 0")
    s = _spans
    inner = s.alias("s2")
    failed = exists().where(and_(inner.c.trace_id == s.c.trace_id, inner.c.status_code == "ERROR"))
    stmt = select(
        s.c.trace_id, s.c.span_id, s.c.name, s.c.service_name, s.c.agent_name,
        s.c.start_time, s.c.end_time, s.c.duration_ms, s.c.status_code,
    ).where(s.c.parent_span_id.is_(None))
    if trace_id:
        stmt = stmt.where(s.c.trace_id == trace_id.lower())
    if start is not None:
        stmt = stmt.where(s.c.start_time >= as_utc(start))
    if end is not None:
        stmt = stmt.where(s.c.start_time < as_utc(end))
    if agent:
        stmt = stmt.where(s.c.agent_name == agent)
    if service:
        stmt = stmt.where(s.c.service_name == service)
    if status == "error":
        stmt = stmt.where(failed)
    elif status == "ok":
        stmt = stmt.where(~failed)
    column = s.c[TRACE_SORTS[sort]]
    stmt = stmt.order_by(column.desc() if descending else column.asc(), s.c.trace_id)
    stmt = stmt.limit(check_limit(limit)).offset(int(offset))
    with engine.connect() as conn:
        result = conn.execute(stmt)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        if frame.empty:
            return frame.assign(status=[], span_count=[], error_count=[])
        counts = conn.execute(
            select(
                s.c.trace_id,
                func.count().label("span_count"),
                func.sum(case((s.c.status_code == "ERROR", 1), else_=0)).label("error_count"),
            )
            .where(s.c.trace_id.in_(frame["trace_id"].tolist()))
            .group_by(s.c.trace_id)
        )
        counts = pd.DataFrame(counts.fetchall(), columns=["trace_id", "span_count", "error_count"])
    frame = frame.merge(counts, on="trace_id", how="left")
    frame["error_count"] = frame["error_count"].fillna(0).astype(int)
    frame["status"] = ["error" if e > 0 else "ok" for e in frame["error_count"]]
    return frame


def trace_spans(engine: Engine, trace_id: str) -> pd.DataFrame:
    """All spans of ``trace_id`` ordered by start, with ``depth`` (0 = root) and ``offset_ms`` from the
    trace's first span: the rows of a waterfall chart."""
    s = _spans
    stmt = select(
        s.c.trace_id, s.c.span_id, s.c.parent_span_id, s.c.name, s.c.span_type, s.c.kind,
        s.c.service_name, s.c.agent_name, s.c.start_time, s.c.end_time, s.c.duration_ms,
        s.c.status_code, s.c.status_message, s.c.attributes, s.c.events, s.c.start_time_unix_nano,
    ).where(s.c.trace_id == trace_id.lower()).order_by(s.c.start_time_unix_nano, s.c.span_id)
    with engine.connect() as conn:
        result = conn.execute(stmt)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    if frame.empty:
        return frame.assign(depth=[], offset_ms=[])
    frame["depth"] = _depths(dict(zip(frame["span_id"], frame["parent_span_id"], strict=True)), frame["span_id"])
    first = int(frame["start_time_unix_nano"].min())
    frame["offset_ms"] = (frame["start_time_unix_nano"].astype("int64") - first) / 1e6
    return frame.drop(columns=["start_time_unix_nano"])


def _depths(parents: dict[str, str | None], span_ids: pd.Series) -> list[int]:
    depths = []
    for span_id in span_ids:
        level, current, seen = 0, parents.get(span_id), {span_id}
        while current in parents and current not in seen:  # missing parents (not yet arrived) stop the walk
            seen.add(current)
            level += 1
            current = parents.get(current)
        depths.append(level)
    return depths


def span_content(engine: Engine, trace_id: str, span_id: str) -> dict[str, Any]:
    """One span's input/output (captured content), attributes, resource attributes, events, links and
    status message; an empty dict when there is no such span."""
    s = _spans
    stmt = select(
        s.c.trace_id, s.c.span_id, s.c.name, s.c.input, s.c.output, s.c.attributes, s.c.resource_attributes,
        s.c.events, s.c.links, s.c.status_code, s.c.status_message, s.c.scope_name, s.c.scope_version,
    ).where(s.c.trace_id == str(trace_id).lower(), s.c.span_id == str(span_id).lower())
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row is not None else {}
