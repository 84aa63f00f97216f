"""Analytics: anomalies marked on a series, forecasts with intervals, correlations between metrics."""

from __future__ import annotations

import streamlit as st

from agentotel.dashboard import charts, common, data
from agentotel.dashboard import format as fmt

METRICS = {
    "Executions": "executions", "Error rate": "error_rate", "Latency p95": "latency_p95", "LLM calls": "llm_calls",
    "LLM latency p95": "llm_latency_p95", "Tokens": "tokens", "Cost": "cost", "Tool calls": "tool_calls",
    "Tool error rate": "tool_error_rate",
}

RATES = ("error_rate", "tool_error_rate")  # between 0 and 1; every metric here is >= 0

ctx = common.page("Analytics")
options = common.load(data.dimension_options, ctx.url, "executions", ("agent",), ctx.start, ctx.end) or {}
agent = common.choice("Agent", options.get("agent", []), "an_agent")
filters = common.filters_of(agent=agent)
label = st.selectbox("Metric", list(METRICS), key="an_metric")
metric = METRICS[label]

overview = common.load(data.overview, ctx.url, ctx.start, ctx.end, filters)
if overview is not None and overview["executions"] == 0 and overview["llm_calls"] == 0 and overview["tool_calls"] == 0:
    common.empty_state()
elif overview is not None:
    view = st.radio("Analysis", ["Anomalies", "Forecast", "Correlations"], horizontal=True, key="an_view")
    if view == "Anomalies":  # only the chosen analysis is computed
        window = st.slider("Baseline window (buckets)", 5, 120, 30, key="an_window")
        scores = common.load(data.anomalies, ctx.url, metric, ctx.start, ctx.end, ctx.granularity, window, filters)
        if scores is not None:
            st.altair_chart(charts.anomalies(common.chart_frame(scores, ctx), f"{label}: anomalies", ctx.time_format),
                            width="stretch")
            flagged = scores[scores["is_anomaly"].fillna(False).astype(bool)]
            st.text(f"{fmt.number(len(flagged))} anomalous buckets of {fmt.number(len(scores))} ({ctx.granularity} each)")
            if not flagged.empty:
                # a flat baseline (no spread) scores a change as infinite: show it as "no spread", not "Infinity"
                shown = fmt.finite_columns(common.localize(flagged, ctx, ["timestamp"]))
                st.dataframe(shown, hide_index=True, width="stretch",
                             column_config={"timestamp": common.time_column(ctx, "bucket"),
                                            "robust_score": st.column_config.NumberColumn(
                                                "z-score", format="%.2f",
                                                help="empty: the baseline had no spread (any change is anomalous)")})
    elif view == "Forecast":
        steps = st.slider("Buckets ahead", 5, 60, 12, key="an_steps")
        history = common.load(data.time_series, ctx.url, metric, ctx.start, ctx.end, ctx.granularity, filters)
        prediction = common.load(data.forecast, ctx.url, metric, steps, ctx.start, ctx.end, ctx.granularity, filters)
        if history is not None and prediction is not None:
            ceiling = 1.0 if metric in RATES else None
            st.altair_chart(charts.forecast(common.chart_frame(history, ctx), common.chart_frame(prediction, ctx),
                                            f"{label}: forecast with 95% interval", ctx.time_format, 0.0, ceiling),
                            width="stretch")
            st.text(f"model: {prediction['model'].iloc[0] if len(prediction) else '–'}")
            common.download_csv(prediction.assign(**{c: prediction[c].clip(lower=0.0) for c in ("forecast", "lower", "upper")
                                                     if c in prediction}), "forecast.csv", key="dl_forecast")
    else:
        picked = st.multiselect("Metrics", list(METRICS), default=["Executions", "Latency p95", "Tokens", "Cost"],
                                key="an_corr")
        if len(picked) >= 2:
            table = common.load(data.correlations, ctx.url, tuple(METRICS[p] for p in picked), ctx.start, ctx.end,
                                ctx.granularity, filters)
            if table is not None and not table.empty:
                st.altair_chart(charts.heatmap(table, "Correlation (Pearson r)"), width="stretch")
                st.dataframe(table, hide_index=True, width="stretch")
        else:
            st.text("Pick at least two metrics.")
