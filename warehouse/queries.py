"""Dashboard queries: KPIs, top lists, LLM and tool statistics, trace lists and a trace's spans.

Aggregates go through ``AnalyticsEngine`` (rollups + TTL cache); trace lists read ``spans`` directly.
Every value is a bind parameter; sort columns and filters are checked against whitelists.

- ``overview(source, start, end, filters)`` -> dict of KPIs for a window
- ``top_agents(source, start, end, by, limit)`` / ``top_models(...)`` / ``top_failing_tools(...)``
- ``llm_stats(source, start, end, by=("provider", "model"))`` / ``tool_stats(source, start, end)``
- ``dimension_values(source, key, start, end)`` -> the agents/models/... seen (for filter widgets)
- ``recent_traces(engine, start, end, agent, service, status, trace_id, sort, descending, limit, offset)``
- ``trace_spans(engine, trace_id)`` -> the spans of one trace with depth and offset for a waterfall
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, and_, case, exists, func, select

from agentotel.warehouse.analytics import AnalyticsEngine, _utc
from agentotel.warehouse.models import Span

AGENT_SORTS = ("count", "error_count", "error_rate", "latency_avg", "latency_p95", "cost_usd", "total_tokens")
MODEL_SORTS = ("count", "error_count", "error_rate", "latency_avg", "latency_p95", "cost_usd", "total_tokens", "input_tokens", "output_tokens")
TRACE_SORTS = {"start_time": "start_time", "duration_ms": "duration_ms", "name": "name", "service_name": "service_name", "agent_name": "agent_name"}
TRACE_STATUSES = ("ok", "error")
MAX_LIMIT = 1000


def _analytics(source: Engine | AnalyticsEngine) -> AnalyticsEngine:
    return source if isinstance(source, AnalyticsEngine) else AnalyticsEngine(source, cache_ttl=0)


def _engine(source: Engine | AnalyticsEngine) -> Engine:
    return source.engine if isinstance(source, AnalyticsEngine) else source


def overview(source: Engine | AnalyticsEngine, start: datetime, end: datetime, filters: Mapping[str, Any] | None = None) -> dict[str, float]:
    """KPIs of ``[start, end)``: executions, success/error rate, latency avg/p50/p95/p99 (ms), llm_calls,
    llm_error_rate, tokens (input/output/total), cost_usd, tool_calls, tool_error_rate, active_agents.
    ``filters`` may use ``agent`` and ``service`` (they apply to every family)."""
    analytics = _analytics(source)
    executions = _one(analytics.family_summary("executions", None, filters, start, end))
    llm = _one(analytics.family_summary("llm", None, filters, start, end))
    tools = _one(analytics.family_summary("tools", None, filters, start, end))
    agents = analytics.get_aggregations("executions", "agent", filters, start, end)
    return {
        "executions": int(executions.get("count", 0)),
        "success_rate": 1 - executions.get("error_rate", math.nan),
        "error_rate": executions.get("error_rate", math.nan),
        "latency_avg_ms": executions.get("latency_avg", math.nan),
        "latency_p50_ms": executions.get("latency_p50", math.nan),
        "latency_p95_ms": executions.get("latency_p95", math.nan),
        "latency_p99_ms": executions.get("latency_p99", math.nan),
        "llm_calls": int(llm.get("count", 0)),
        "llm_error_rate": llm.get("error_rate", math.nan),
        "input_tokens": int(llm.get("input_tokens", 0)),
        "output_tokens": int(llm.get("output_tokens", 0)),
        "total_tokens": int(llm.get("total_tokens", 0)),
        "cost_usd": float(llm.get("cost_usd", 0.0)),
        "tool_calls": int(tools.get("count", 0)),
        "tool_error_rate": tools.get("error_rate", math.nan),
        "active_agents": int((agents["value"] > 0).sum()) if len(agents) else 0,
    }


def _one(frame: pd.DataFrame) -> dict[str, float]:
    return {k: (float(v) if v is not None else math.nan) for k, v in frame.iloc[0].items()} if len(frame) else {}


def top_agents(
    source: Engine | AnalyticsEngine, start: datetime, end: datetime, by: str = "count", limit: int = 10, filters=None
) -> pd.DataFrame:
    """Agents ranked by ``by`` (one of ``AGENT_SORTS``): execution stats joined with LLM tokens and cost."""
    if by not in AGENT_SORTS:
        raise ValueError(f"sort must be one of {AGENT_SORTS}")
    analytics = _analytics(source)
    executions = analytics.family_summary("executions", "agent", filters, start, end)
    llm = analytics.family_summary("llm", "agent", filters, start, end)[["agent", "total_tokens", "cost_usd"]]
    frame = executions.merge(llm, on="agent", how="left").fillna({"total_tokens": 0, "cost_usd": 0.0})
    return _rank(frame, by, limit)


def top_models(
    source: Engine | AnalyticsEngine, start: datetime, end: datetime, by: str = "count", limit: int = 10, filters=None
) -> pd.DataFrame:
    """Models (with provider) ranked by ``by`` (one of ``MODEL_SORTS``)."""
    if by not in MODEL_SORTS:
        raise ValueError(f"sort must be one of {MODEL_SORTS}")
    return _rank(_analytics(source).family_summary("llm", ["provider", "model"], filters, start, end), by, limit)


def llm_stats(
    source: Engine | AnalyticsEngine, start: datetime, end: datetime, by: Sequence[str] = ("provider", "model"), filters=None
) -> pd.DataFrame:
    """LLM calls per ``by`` (subset of agent/service/provider/model): count, errors, error_rate, latency
    avg/p50/p95/p99, tokens, cost_usd and cost_per_call."""
    frame = _analytics(source).family_summary("llm", list(by), filters, start, end)
    frame["cost_per_call"] = frame["cost_usd"] / frame["count"].where(frame["count"] > 0)
    return frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def tool_stats(source: Engine | AnalyticsEngine, start: datetime, end: datetime, by: Sequence[str] = ("tool",), filters=None) -> pd.DataFrame:
    """Tool calls per ``by`` (subset of agent/service/tool): count, errors, error_rate, latency stats."""
    frame = _analytics(source).family_summary("tools", list(by), filters, start, end)
    return frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def top_failing_tools(source: Engine | AnalyticsEngine, start: datetime, end: datetime, limit: int = 10, filters=None) -> pd.DataFrame:
    """Tools with the most failed calls (ties: higher error rate first)."""
    frame = tool_stats(source, start, end, filters=filters)
    frame = frame[frame["error_count"] > 0]
    return frame.sort_values(["error_count", "error_rate"], ascending=False, kind="stable").head(_limit(limit)).reset_index(drop=True)


def dimension_values(source: Engine | AnalyticsEngine, key: str, start: datetime, end: datetime) -> list[str]:
    """Distinct values of ``key`` (agent, service, model, provider, tool) seen in ``[start, end)``."""
    family = {"agent": "executions", "service": "executions", "model": "llm", "provider": "llm", "tool": "tools"}.get(key)
    if family is None:
        raise ValueError("key must be agent, service, model, provider or tool")
    frame = _analytics(source).family_summary(family, key, None, start, end, quantiles=())
    return sorted(v for v in frame[key].tolist() if v is not None)


def _rank(frame: pd.DataFrame, by: str, limit: int) -> pd.DataFrame:
    return frame.sort_values(by, ascending=False, na_position="last", kind="stable").head(_limit(limit)).reset_index(drop=True)


def _limit(limit: int) -> int:
    limit = int(limit)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def recent_traces(
    source: Engine | AnalyticsEngine,
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
    if sort not in TRACE_SORTS:
        raise ValueError(f"sort must be one of {sorted(TRACE_SORTS)}")
    if status is not None and status not in TRACE_STATUSES:
        raise ValueError(f"status must be one of {TRACE_STATUSES}")
    if int(offset) < 0:
        raise ValueError("offset must be >= 0")
    spans = Span.__table__
    inner = spans.alias("s2")
    failed = exists().where(and_(inner.c.trace_id == spans.c.trace_id, inner.c.status_code == "ERROR"))
    stmt = select(
        spans.c.trace_id, spans.c.span_id, spans.c.name, spans.c.service_name, spans.c.agent_name,
        spans.c.start_time, spans.c.end_time, spans.c.duration_ms, spans.c.status_code,
    ).where(spans.c.parent_span_id.is_(None))
    if trace_id:
        stmt = stmt.where(spans.c.trace_id == trace_id.lower())
    if start is not None:
        stmt = stmt.where(spans.c.start_time >= _utc(start))
    if end is not None:
        stmt = stmt.where(spans.c.start_time < _utc(end))
    if agent:
        stmt = stmt.where(spans.c.agent_name == agent)
    if service:
        stmt = stmt.where(spans.c.service_name == service)
    if status == "error":
        stmt = stmt.where(failed)
    elif status == "ok":
        stmt = stmt.where(~failed)
    column = spans.c[TRACE_SORTS[sort]]
    stmt = stmt.order_by(column.desc() if descending else column.asc(), spans.c.trace_id).limit(_limit(limit)).offset(int(offset))
    with _engine(source).connect() as conn:
        result = conn.execute(stmt)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        if frame.empty:
            return frame.assign(status=[], span_count=[], error_count=[])
        counts = conn.execute(
            select(
                spans.c.trace_id,
                func.count().label("span_count"),
                func.sum(case((spans.c.status_code == "ERROR", 1), else_=0)).label("error_count"),
            )
            .where(spans.c.trace_id.in_(frame["trace_id"].tolist()))
            .group_by(spans.c.trace_id)
        )
        counts = pd.DataFrame(counts.fetchall(), columns=["trace_id", "span_count", "error_count"])
    frame = frame.merge(counts, on="trace_id", how="left")
    frame["error_count"] = frame["error_count"].fillna(0).astype(int)
    frame["status"] = ["error" if e > 0 else "ok" for e in frame["error_count"]]
    return frame


def trace_spans(source: Engine | AnalyticsEngine, trace_id: str) -> pd.DataFrame:
    """All spans of ``trace_id`` ordered by start, with ``depth`` (0 = root) and ``offset_ms`` from the
    trace's first span: the rows of a waterfall chart."""
    spans = Span.__table__
    columns = [
        spans.c.trace_id, spans.c.span_id, spans.c.parent_span_id, spans.c.name, spans.c.span_type, spans.c.kind,
        spans.c.service_name, spans.c.agent_name, spans.c.start_time, spans.c.end_time, spans.c.duration_ms,
        spans.c.status_code, spans.c.status_message, spans.c.attributes, spans.c.events,
        spans.c.start_time_unix_nano,
    ]
    stmt = select(*columns).where(spans.c.trace_id == trace_id.lower()).order_by(spans.c.start_time_unix_nano, spans.c.span_id)
    with _engine(source).connect() as conn:
        result = conn.execute(stmt)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    if frame.empty:
        return frame.assign(depth=[], offset_ms=[])
    parents = dict(zip(frame["span_id"], frame["parent_span_id"], strict=True))
    depth = []
    for span_id in frame["span_id"]:
        level, current, seen = 0, parents.get(span_id), {span_id}
        while current in parents and current not in seen:  # missing parents (not yet arrived) stop the walk
            seen.add(current)
            level += 1
            current = parents.get(current)
        depth.append(level)
    frame["depth"] = depth
    first = int(frame["start_time_unix_nano"].min())
    frame["offset_ms"] = (frame["start_time_unix_nano"].astype("int64") - first) / 1e6
    return frame.drop(columns=["start_time_unix_nano"])
