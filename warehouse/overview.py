"""A time window across executions, LLM calls and tool calls: its KPIs and the dimension values seen in it
(for filter widgets). Read through the ``AnalyticsEngine`` (rollups + TTL cache)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from agentotel.warehouse.analytics import AnalyticsEngine


def overview(analytics: AnalyticsEngine, start: datetime, end: datetime,
             filters: Mapping[str, Any] | None = None) -> dict[str, float]:
    """KPIs of ``[start, end)``: executions, success/error rate, latency avg/p50/p95/p99 (ms), llm_calls,
    llm_error_rate, tokens (input/output/total), cost_usd, tool_calls, tool_error_rate, active_agents.
    ``filters`` may use ``agent`` and ``service`` (they apply to every family)."""
    executions = _one(analytics.family_summary("executions", None, filters, start, end))
    llm = _one(analytics.family_summary("llm", None, filters, start, end, quantiles=()))  # no percentile shown
    tools = _one(analytics.family_summary("tools", None, filters, start, end, quantiles=()))
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


def dimension_values(analytics: AnalyticsEngine, family: str, keys: Sequence[str], start: datetime,
                     end: datetime) -> dict[str, list[str]]:
    """The distinct values of each of ``keys`` in one family (``executions``, ``llm``, ``tools``) seen in
    ``[start, end)``, sorted, read in one pass (the analytics engine refuses a key the family lacks)."""
    frame = analytics.family_summary(family, list(keys), None, start, end, quantiles=())
    return {key: sorted({str(v) for v in frame[key].tolist() if v is not None and v == v}) for key in keys}
