"""Agent executions ranked per agent: execution counts, errors and latency with the agent's LLM tokens
and cost, read through the ``AnalyticsEngine`` (rollups + TTL cache); per-agent resource use of runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from agentotel.core import semconv as sc
from agentotel.core.utc import as_utc
from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.bounds import check_choice, top_rows, wanted
from agentotel.warehouse.models import AgentExecution

_ex = AgentExecution.__table__

AGENT_SORTS = ("count", "error_count", "error_rate", "latency_avg", "latency_p95", "cost_usd", "total_tokens")


def top_agents(analytics: AnalyticsEngine, start: datetime, end: datetime, by: str = "count", limit: int = 10,
               filters: Mapping[str, Any] | None = None, quantiles: Sequence[float] = (0.95,)) -> pd.DataFrame:
    """Agents ranked by ``by`` (one of ``AGENT_SORTS``): execution stats joined with LLM tokens and cost.
    Latency percentiles only for ``quantiles`` (the sort's own added): each costs a sketch merge."""
    check_choice(by, AGENT_SORTS, "sort")
    executions = analytics.family_summary("executions", "agent", filters, start, end, quantiles=wanted(by, quantiles))
    llm = analytics.family_summary("llm", "agent", filters, start, end, quantiles=())[["agent", "total_tokens", "cost_usd"]]
    frame = executions.merge(llm, on="agent", how="left").fillna({"total_tokens": 0, "cost_usd": 0.0})
    return top_rows(frame, by, limit)


RESOURCE_COLUMNS = ["agent_name", "agent_version", "runs", "rss_peak_p50", "rss_peak_p95", "rss_growth_p95",
                    "cpu_time_p50", "cpu_time_p95"]
RESOURCE_SAMPLE = 100_000


def agent_resources(engine: Engine, start: datetime, end: datetime, agent: str | None = None) -> pd.DataFrame:
    """Per agent and version, the resource use of its runs in ``[start, end)`` (``agent_executions.metadata``,
    ``semconv.EXEC_RESOURCE_KEYS``): runs that reported it, p50/p95 of peak RSS (bytes), p95 of RSS growth
    (end - start, bytes) and p50/p95 of thread CPU time (s); from the newest ``RESOURCE_SAMPLE`` runs."""
    ex = _ex.c
    meta = ex["metadata"]
    where = [ex.timestamp >= as_utc(start), ex.timestamp < as_utc(end), meta.is_not(None)]
    if agent:
        where.append(ex.agent_name == agent)
    stmt = (select(ex.agent_name, ex.agent_version, meta[sc.EXEC_RSS_PEAK].as_float().label("peak"),
                   meta[sc.EXEC_RSS_START].as_float().label("rss_start"), meta[sc.EXEC_RSS_END].as_float().label("rss_end"),
                   meta[sc.EXEC_THREAD_CPU_TIME].as_float().label("cpu"))
            .where(*where).order_by(ex.timestamp.desc()).limit(RESOURCE_SAMPLE))
    with engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(stmt).all(),
                            columns=["agent_name", "agent_version", "peak", "rss_start", "rss_end", "cpu"])
    rows = rows.dropna(subset=["peak", "cpu"], how="all")
    if rows.empty:
        return pd.DataFrame(columns=RESOURCE_COLUMNS)
    rows["growth"] = rows["rss_end"] - rows["rss_start"]
    rows["agent_version"] = rows["agent_version"].fillna("")
    grouped = rows.groupby(["agent_name", "agent_version"], dropna=False)
    out = grouped.agg(
        runs=("peak", "size"),
        rss_peak_p50=("peak", lambda v: v.quantile(0.5)), rss_peak_p95=("peak", lambda v: v.quantile(0.95)),
        rss_growth_p95=("growth", lambda v: v.quantile(0.95)),
        cpu_time_p50=("cpu", lambda v: v.quantile(0.5)), cpu_time_p95=("cpu", lambda v: v.quantile(0.95)),
    ).reset_index()
    return out.sort_values(["agent_name", "agent_version"]).reset_index(drop=True)[RESOURCE_COLUMNS]
