"""Tool calls per tool, agent or service: counts, errors and latency, and the tools failing most, read
through the ``AnalyticsEngine`` (rollups + TTL cache)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.bounds import check_choice, check_limit
from agentotel.warehouse.models import ToolCall
from agentotel.warehouse.search import (
    SearchFilter,
    call_conditions,
    call_row_conditions,
    contains,
    frame_of,
    previews,
)

_tools = ToolCall.__table__


def tool_stats(analytics: AnalyticsEngine, start: datetime, end: datetime, by: Sequence[str] = ("tool",),
               filters: Mapping[str, Any] | None = None,
               quantiles: Sequence[float] = (0.5, 0.95, 0.99)) -> pd.DataFrame:
    """Tool calls per ``by`` (subset of agent/service/tool), most calls first: count, errors, error_rate,
    latency avg and the ``quantiles`` (``()``: none, the cheap read)."""
    frame = analytics.family_summary("tools", list(by), filters, start, end, quantiles=tuple(quantiles))
    return frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def top_failing_tools(analytics: AnalyticsEngine, start: datetime, end: datetime, limit: int = 10,
                      filters: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Tools with the most failed calls (ties: higher error rate first); no percentiles (``tool_stats`` for them)."""
    frame = tool_stats(analytics, start, end, filters=filters, quantiles=())
    frame = frame[frame["error_count"] > 0]
    ranked = frame.sort_values(["error_count", "error_rate"], ascending=False, kind="stable")
    return ranked.head(check_limit(limit)).reset_index(drop=True)


CALL_SORTS = ("start_time", "duration_ms")
CALL_COLUMNS = ["start_time", "trace_id", "span_id", "agent_name", "service_name", "tool_name", "tool_call_id",
                "duration_ms", "success", "error_message", "arguments", "result"]


def tool_call_list(engine: Engine, search: SearchFilter | None = None, sort: str = "start_time",
                   descending: bool = True, limit: int = 100) -> pd.DataFrame:
    """Individual tool calls in the window of ``search``, narrowed by the rest of it (agent, service,
    tool, status, latency range, an attribute or content of the call's own span, the session or user of
    its run), ``CALL_COLUMNS`` with one-line previews of the arguments and the result, sorted by one of
    ``CALL_SORTS``."""
    check_choice(sort, CALL_SORTS, "sort")
    limit = check_limit(limit)
    flt = search or SearchFilter()
    tool = _tools.c
    where: list[Any] = call_row_conditions(flt, _tools)
    if flt.tool:
        where.append(contains(tool.tool_name, flt.tool))
    with engine.connect() as conn:
        where += call_conditions(conn, flt, _tools)
        order = tool[sort]
        stmt = (select(*[tool[c] for c in CALL_COLUMNS if c in tool])
                .where(*where).order_by(order.desc() if descending else order.asc(), tool.trace_id, tool.span_id)
                .limit(limit))
        frame = frame_of(conn.execute(stmt))
        if frame.empty:
            return pd.DataFrame(columns=CALL_COLUMNS)
        frame["arguments"] = previews(conn, frame, "input")
        frame["result"] = previews(conn, frame, "output")
    return frame[CALL_COLUMNS]
