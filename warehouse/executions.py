"""Agent executions ranked per agent: execution counts, errors and latency with the agent's LLM tokens
and cost, read through the ``AnalyticsEngine`` (rollups + TTL cache)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.bounds import check_choice, top_rows

AGENT_SORTS = ("count", "error_count", "error_rate", "latency_avg", "latency_p95", "cost_usd", "total_tokens")


def top_agents(analytics: AnalyticsEngine, start: datetime, end: datetime, by: str = "count", limit: int = 10,
               filters: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Agents ranked by ``by`` (one of ``AGENT_SORTS``): execution stats joined with LLM tokens and cost."""
    check_choice(by, AGENT_SORTS, "sort")
    executions = analytics.family_summary("executions", "agent", filters, start, end)
    llm = analytics.family_summary("llm", "agent", filters, start, end)[["agent", "total_tokens", "cost_usd"]]
    frame = executions.merge(llm, on="agent", how="left").fillna({"total_tokens": 0, "cost_usd": 0.0})
    return top_rows(frame, by, limit)
