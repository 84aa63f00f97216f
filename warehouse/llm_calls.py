"""LLM calls per provider, model, agent or service: counts, errors, latency percentiles, tokens and cost,
read through the ``AnalyticsEngine`` (rollups + TTL cache); and the list of individual calls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, or_, select

from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.bounds import check_choice, check_limit, top_rows, wanted
from agentotel.warehouse.models import LLMCall
from agentotel.warehouse.search import (
    SearchFilter,
    call_conditions,
    call_row_conditions,
    contains,
    frame_of,
    previews,
)
from agentotel.warehouse.traces import model_label

_llm = LLMCall.__table__

MODEL_SORTS = ("count", "error_count", "error_rate", "latency_avg", "latency_p95", "cost_usd", "total_tokens",
               "input_tokens", "output_tokens")


def llm_stats(analytics: AnalyticsEngine, start: datetime, end: datetime, by: Sequence[str] = ("provider", "model"),
              filters: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """LLM calls per ``by`` (subset of agent/service/provider/model), most calls first: count, errors,
    error_rate, latency avg/p50/p95/p99, tokens, cost_usd and cost_per_call."""
    frame = analytics.family_summary("llm", list(by), filters, start, end)
    frame["cost_per_call"] = frame["cost_usd"] / frame["count"].where(frame["count"] > 0)
    return frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def top_models(analytics: AnalyticsEngine, start: datetime, end: datetime, by: str = "count", limit: int = 10,
               filters: Mapping[str, Any] | None = None, quantiles: Sequence[float] = ()) -> pd.DataFrame:
    """Models (with provider) ranked by ``by`` (one of ``MODEL_SORTS``); latency percentiles only for
    ``quantiles`` (the sort's own added)."""
    check_choice(by, MODEL_SORTS, "sort")
    frame = analytics.family_summary("llm", ["provider", "model"], filters, start, end, quantiles=wanted(by, quantiles))
    return top_rows(frame, by, limit)


CALL_SORTS = ("start_time", "duration_ms", "cost_usd", "total_tokens", "time_to_first_token_ms")
CALL_COLUMNS = ["start_time", "trace_id", "span_id", "agent_name", "service_name", "provider", "request_model",
                "response_model", "model", "operation", "input_tokens", "output_tokens", "cached_input_tokens",
                "cost_usd", "duration_ms", "time_to_first_token_ms", "finish_reason", "success", "error_type",
                "streaming", "input_preview"]


def llm_call_list(engine: Engine, search: SearchFilter | None = None, sort: str = "start_time",
                  descending: bool = True, limit: int = 100) -> pd.DataFrame:
    """Individual model calls in the window of ``search``, narrowed by the rest of it (agent, service,
    model, provider, status, latency/cost/token ranges, an attribute or content of the call's own span, the
    session or user of its run, a tool used in its trace), ``CALL_COLUMNS``, sorted by one of ``CALL_SORTS``.
    ``model`` names the model as ``/metrics`` does (``traces.model_label``)."""
    check_choice(sort, CALL_SORTS, "sort")
    limit = check_limit(limit)
    flt = search or SearchFilter()
    llm = _llm.c
    tokens = func.coalesce(llm.input_tokens, 0) + func.coalesce(llm.output_tokens, 0)
    where: list[Any] = call_row_conditions(flt, _llm)
    if flt.model:
        where.append(or_(contains(llm.request_model, flt.model), contains(llm.response_model, flt.model)))
    if flt.provider:
        where.append(contains(llm.provider, flt.provider))
    for bound, column, op in ((flt.min_cost, llm.cost_usd, "ge"), (flt.max_cost, llm.cost_usd, "le"),
                              (flt.min_tokens, tokens, "ge"), (flt.max_tokens, tokens, "le")):
        if bound is not None:
            where.append(column >= float(bound) if op == "ge" else column <= float(bound))
    with engine.connect() as conn:
        where += call_conditions(conn, flt, _llm)
        order = tokens if sort == "total_tokens" else llm[sort]
        stmt = (select(*[llm[c] for c in CALL_COLUMNS if c in llm and c not in ("model",)])
                .where(*where).order_by(order.desc() if descending else order.asc(), llm.trace_id, llm.span_id)
                .limit(limit))
        frame = frame_of(conn.execute(stmt))
        if frame.empty:
            return pd.DataFrame(columns=CALL_COLUMNS)
        frame["input_preview"] = previews(conn, frame, "input")
    frame["model"] = [model_label(r, p) for r, p in zip(frame["request_model"], frame["response_model"], strict=True)]
    return frame[CALL_COLUMNS]
