"""Tools: usage, error rate and latency per tool."""

from __future__ import annotations

import streamlit as st

from agentotel.dashboard import charts, common, data
from agentotel.dashboard import format as fmt

ctx = common.page("Tools")
tool = common.choice("Tool", common.load(data.dimension_values, ctx.url, "tool", ctx.start, ctx.end) or [], "tl_tool")
agent = common.choice("Agent", common.load(data.dimension_values, ctx.url, "agent", ctx.start, ctx.end) or [], "tl_agent")
filters = common.filters_of(tool=tool, agent=agent)

stats = common.load(data.tool_stats, ctx.url, ctx.start, ctx.end, ("tool",), filters)
if stats is not None and (stats.empty or stats["count"].sum() == 0):
    common.empty_state("tool calls")
elif stats is not None:
    calls = int(stats["count"].sum())
    errors = int(stats["error_count"].sum())
    row = st.columns(3)
    row[0].metric("Tool calls", fmt.number(calls))
    row[1].metric("Failed calls", fmt.number(errors))
    row[2].metric("Error rate", fmt.percent(errors / calls if calls else float("nan")))
    table = stats[["tool", "count", "error_count", "error_rate", "latency_avg", "latency_p50", "latency_p95"]]
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"error_rate": st.column_config.NumberColumn("error rate", format="percent"),
                                "latency_avg": st.column_config.NumberColumn("avg (ms)", format="%.1f"),
                                "latency_p50": st.column_config.NumberColumn("p50 (ms)", format="%.1f"),
                                "latency_p95": st.column_config.NumberColumn("p95 (ms)", format="%.1f")})
    common.download_csv(table, "tools.csv", key="dl_tools")
    left, right = st.columns(2)
    left.altair_chart(charts.bars(table, "tool", "count", "Calls per tool", "calls"), width="stretch")
    right.altair_chart(charts.bars(table, "tool", "error_rate", "Error rate per tool", "error rate", ".0%"),
                       width="stretch")
    usage = common.load(data.time_series, ctx.url, "tool_calls", ctx.start, ctx.end, ctx.granularity, filters, "tool")
    if usage is not None and not usage.empty:
        st.altair_chart(charts.series(common.chart_frame(usage), "Tool calls over time", "calls", color="tool", mark="bar"),
                        width="stretch")
