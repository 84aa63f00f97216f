"""LLM calls per provider, model, agent or service: counts, errors, latency percentiles, tokens and cost,
read through the ``AnalyticsEngine`` (rollups + TTL cache)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.bounds import check_choice, top_rows

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
               filters: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Models (with provider) ranked by ``by`` (one of ``MODEL_SORTS``)."""
    check_choice(by, MODEL_SORTS, "sort")
    return top_rows(analytics.family_summary("llm", ["provider", "model"], filters, start, end), by, limit)
