"""LLM: calls, tokens, cost, latency percentiles and error rate per model and provider; cost over time; the
list of individual calls (filterable; clicking a row opens the call in its trace). Models are named as
``/metrics`` names them (the response model, else the request model)."""

from __future__ import annotations

import streamlit as st

from agentotel.dashboard import calls as call_lists
from agentotel.dashboard import charts, common, data
from agentotel.dashboard import format as fmt

ctx = common.page("LLM calls")
options = common.load(data.dimension_options, ctx.url, "llm", ("provider", "model", "agent"), ctx.start, ctx.end) or {}
provider = common.choice("Provider", options.get("provider", []), "llm_provider")
model = common.choice("Model", options.get("model", []), "llm_model")
agent = common.choice("Agent", options.get("agent", []), "llm_agent")
filters = common.filters_of(provider=provider, model=model, agent=agent)

got = common.load_many({
    "stats": (data.llm_stats, ctx.url, ctx.start, ctx.end, ("provider", "model"), filters),
    "cost": (data.time_series, ctx.url, "cost", ctx.start, ctx.end, ctx.granularity, filters, "model"),
    "tokens": (data.time_series, ctx.url, "tokens", ctx.start, ctx.end, ctx.granularity, filters, "model"),
    "latency": (data.time_series, ctx.url, "llm_latency_p95", ctx.start, ctx.end, ctx.granularity, filters),
})
stats = got["stats"]
if stats is not None and (stats.empty or stats["count"].sum() == 0):
    common.empty_state("LLM calls")
elif stats is not None:
    row = st.columns(5)
    calls = int(stats["count"].sum())
    errors = int(stats["error_count"].sum())
    row[0].metric("Calls", fmt.number(calls))
    row[1].metric("Error rate", fmt.percent(errors / calls if calls else float("nan")))
    row[2].metric("Input tokens", fmt.number(stats["input_tokens"].sum()))
    row[3].metric("Output tokens", fmt.number(stats["output_tokens"].sum()))
    row[4].metric("Cost", fmt.usd(stats["cost_usd"].sum()))

    st.subheader("Per model")
    columns = ["provider", "model", "count", "error_rate", "latency_p50", "latency_p95", "latency_p99",
               "input_tokens", "output_tokens", "cost_usd", "cost_per_call"]
    table = stats[[c for c in columns if c in stats]]
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"error_rate": st.column_config.NumberColumn("error rate", format="percent"),
                                "latency_p50": st.column_config.NumberColumn("p50 (ms)", format="%.0f"),
                                "latency_p95": st.column_config.NumberColumn("p95 (ms)", format="%.0f"),
                                "latency_p99": st.column_config.NumberColumn("p99 (ms)", format="%.0f"),
                                "cost_usd": common.cost_column(),
                                "cost_per_call": common.cost_column("cost / call")})
    common.download_csv(table, "llm_models.csv", key="dl_llm")

    left, right = st.columns(2)
    cost = got["cost"]
    if cost is not None and not cost.empty:
        left.altair_chart(charts.series(common.chart_frame(cost, ctx), "Cost over time", "USD", color="model", mark="bar",
                                        y_format="$,.4~f", time_format=ctx.time_format), width="stretch")
    tokens = got["tokens"]
    if tokens is not None and not tokens.empty:
        right.altair_chart(charts.series(common.chart_frame(tokens, ctx), "Tokens over time", "tokens", color="model",
                                         time_format=ctx.time_format), width="stretch")
    left, right = st.columns(2)
    latency = got["latency"]
    if latency is not None and not latency.empty:
        left.altair_chart(charts.series(common.chart_frame(latency, ctx), "Latency p95 (all models)", "ms",
                                        time_format=ctx.time_format), width="stretch")
    right.altair_chart(charts.bars(stats.assign(label=stats["model"].astype(str)), "label", "error_rate",
                                   "Error rate per model", "error rate", ".0%"), width="stretch")

    call_lists.llm_calls(ctx, filters)
