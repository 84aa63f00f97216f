"""Tools: usage, error rate and latency per tool; the list of individual calls (filterable; clicking a row
opens the call in its trace)."""

from __future__ import annotations

import streamlit as st

from agentotel.dashboard import calls as call_lists
from agentotel.dashboard import charts, common, data
from agentotel.dashboard import format as fmt

ctx = common.page("Tools")
options = common.load(data.dimension_options, ctx.url, "tools", ("tool", "agent"), ctx.start, ctx.end) or {}
tool = common.choice("Tool", options.get("tool", []), "tl_tool")
agent = common.choice("Agent", options.get("agent", []), "tl_agent")
filters = common.filters_of(tool=tool, agent=agent)

got = common.load_many({
    "stats": (data.tool_stats, ctx.url, ctx.start, ctx.end, ("tool",), filters),
    "usage": (data.time_series, ctx.url, "tool_calls", ctx.start, ctx.end, ctx.granularity, filters, "tool"),
})
stats = got["stats"]
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
    usage = got["usage"]
    if usage is not None and not usage.empty:
        st.altair_chart(charts.series(common.chart_frame(usage, ctx), "Tool calls over time", "calls", color="tool",
                                      mark="bar", time_format=ctx.time_format), width="stretch")

    call_lists.tool_calls(ctx, filters)
