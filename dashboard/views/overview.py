"""Overview: executions per minute, success rate, latency percentiles, tokens, cost, top agents and
models, trends."""

from __future__ import annotations

import streamlit as st

from agentotel.dashboard import charts, common, data
from agentotel.dashboard import format as fmt

ctx = common.page("Overview")
options = common.load(data.dimension_options, ctx.url, "executions", ("agent", "service"), ctx.start, ctx.end) or {}
agent = common.choice("Agent", options.get("agent", []), "ov_agent")
service = common.choice("Service", options.get("service", []), "ov_service")
filters = common.filters_of(agent=agent, service=service)

series = ("executions", "success_rate", "latency_p95", "cost")
got = common.load_many({
    "kpis": (data.overview, ctx.url, ctx.start, ctx.end, filters),
    **{m: (data.time_series, ctx.url, m, ctx.start, ctx.end, ctx.granularity, filters) for m in series},
    "agents": (data.top_agents, ctx.url, ctx.start, ctx.end, "count", 10, filters),
    "models": (data.top_models, ctx.url, ctx.start, ctx.end, "count", 10, filters),
})
kpis = got["kpis"]
if kpis is not None and kpis["executions"] == 0 and kpis["llm_calls"] == 0 and kpis["tool_calls"] == 0:
    common.empty_state()
elif kpis is not None:
    minutes = max((ctx.end - ctx.start).total_seconds() / 60, 1)
    row = st.columns(4)
    row[0].metric("Executions", fmt.number(kpis["executions"]), help=f"{fmt.number(kpis['executions'] / minutes, 2)} per minute")
    row[1].metric("Success rate", fmt.percent(kpis["success_rate"]))
    row[2].metric("Latency p50", fmt.duration_ms(kpis["latency_p50_ms"]))
    row[3].metric("Latency p95", fmt.duration_ms(kpis["latency_p95_ms"]))
    row = st.columns(4)
    row[0].metric("LLM calls", fmt.number(kpis["llm_calls"]))
    row[1].metric("Tokens", fmt.number(kpis["total_tokens"]))
    row[2].metric("Cost", fmt.usd(kpis["cost_usd"]))
    row[3].metric("Active agents", fmt.number(kpis["active_agents"]))
    st.caption(f"Executions per minute: {fmt.number(kpis['executions'] / minutes, 2)} · "
               f"tool calls: {fmt.number(kpis['tool_calls'])} · tool error rate: {fmt.percent(kpis['tool_error_rate'])}")

    left, right = st.columns(2)
    if got["executions"] is not None:
        left.altair_chart(charts.series(common.chart_frame(got["executions"], ctx), "Executions", "executions",
                                        mark="bar", time_format=ctx.time_format), width="stretch")
    if got["success_rate"] is not None:
        right.altair_chart(charts.series(common.chart_frame(got["success_rate"], ctx), "Success rate", "success",
                                         y_format="%", time_format=ctx.time_format), width="stretch")
    left, right = st.columns(2)
    if got["latency_p95"] is not None:
        left.altair_chart(charts.series(common.chart_frame(got["latency_p95"], ctx), "Latency p95", "ms",
                                        time_format=ctx.time_format), width="stretch")
    if got["cost"] is not None:
        right.altair_chart(charts.series(common.chart_frame(got["cost"], ctx), "Cost", "USD", mark="bar",
                                         y_format="$,.4~f", time_format=ctx.time_format), width="stretch")

    left, right = st.columns(2)
    with left:
        st.subheader("Top agents")
        agents = got["agents"]
        if agents is not None and not agents.empty:
            st.dataframe(agents[["agent", "count", "error_rate", "latency_p95", "total_tokens", "cost_usd"]],
                         hide_index=True, width="stretch",
                         column_config={"error_rate": st.column_config.NumberColumn("error rate", format="percent"),
                                        "latency_p95": st.column_config.NumberColumn("p95 (ms)", format="%.0f"),
                                        "cost_usd": common.cost_column()})
            common.download_csv(agents, "top_agents.csv", key="dl_top_agents")
    with right:
        st.subheader("Top models")
        models = got["models"]
        if models is not None and not models.empty:
            st.dataframe(models[["provider", "model", "count", "error_rate", "total_tokens", "cost_usd"]],
                         hide_index=True, width="stretch",
                         column_config={"error_rate": st.column_config.NumberColumn("error rate", format="percent"),
                                        "cost_usd": common.cost_column()})
            common.download_csv(models, "top_models.csv", key="dl_top_models")
