"""Tool calls per tool, agent or service: counts, errors and latency, and the tools failing most, read
through the ``AnalyticsEngine`` (rollups + TTL cache)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.bounds import check_limit


def tool_stats(analytics: AnalyticsEngine, start: datetime, end: datetime, by: Sequence[str] = ("tool",),
               filters: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Tool calls per ``by`` (subset of agent/service/tool), most calls first: count, errors, error_rate,
    latency stats."""
    frame = analytics.family_summary("tools", list(by), filters, start, end)
    return frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def top_failing_tools(analytics: AnalyticsEngine, start: datetime, end: datetime, limit: int = 10,
                      filters: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Tools with the most failed calls (ties: higher error rate first)."""
    frame = tool_stats(analytics, start, end, filters=filters)
    frame = frame[frame["error_count"] > 0]
    ranked = frame.sort_values(["error_count", "error_rate"], ascending=False, kind="stable")
    return ranked.head(check_limit(limit)).reset_index(drop=True)
