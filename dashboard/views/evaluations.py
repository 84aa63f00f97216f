"""Evaluations: runs, metrics with confidence intervals, run comparisons with regressions highlighted, and
online evaluation of production traffic charted per agent version."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import altair as alt
import pandas as pd
import streamlit as st

from agentotel.dashboard import common, data
from agentotel.dashboard import format as fmt

STATUSES = {"Any status": None, "Completed": "completed", "Failed": "failed", "Running": "running"}

ctx = common.page("Evaluations")
everything = common.load(data.evaluation_runs, ctx.url)
agents = sorted({a for a in everything["agent_name"].tolist() if a}) if everything is not None else []
agent = common.choice("Agent", agents, "ev_agent")
status = STATUSES[st.sidebar.selectbox("Status", list(STATUSES), key="ev_status")]
runs = common.load(data.evaluation_runs, ctx.url, agent, status)


def _summary_table(summary: dict) -> pd.DataFrame:
    rows = [{"metric": name, **{k: s.get(k) for k in ("n", "mean", "ci_low", "ci_high", "std", "median")}}
            for name, s in ((summary or {}).get("metrics") or {}).items()]
    return pd.DataFrame(rows, columns=["metric", "n", "mean", "ci_low", "ci_high", "std", "median"])


if runs is not None and runs.empty:
    st.info("No evaluation runs yet. Run a benchmark suite against an agent, for example:")
    st.code("agentotel eval run suite.yaml --agent my_module:my_agent", language="bash")
elif runs is not None:
    table = runs.assign(
        cases=[(s or {}).get("n_cases") for s in runs["summary"]],
        errors=[(s or {}).get("n_errors") for s in runs["summary"]],
    ).drop(columns=["summary"])
    st.dataframe(table, hide_index=True, width="stretch")
    common.download_csv(table, "evaluation_runs.csv", key="dl_runs")

    labels = {r.id: f"{r.timestamp:%Y-%m-%d %H:%M} · {r.agent_name or '?'} {r.agent_version or ''} · {r.benchmark_id}"
              for r in runs.itertuples()}
    run_id = st.selectbox("Run", list(labels), key="ev_run", format_func=lambda i: labels.get(i, i))
    run = runs[runs["id"] == run_id].iloc[0]
    st.subheader("Metrics with 95% confidence intervals")
    metrics = _summary_table(run["summary"])
    if metrics.empty:
        st.text(f"Run {run_id} has no metric summary (status: {run['status']}).")
    else:
        st.dataframe(metrics, hide_index=True, width="stretch",
                     column_config={c: st.column_config.NumberColumn(c, format="%.3f")
                                    for c in ("mean", "ci_low", "ci_high", "std", "median")})
        points = alt.Chart(metrics).mark_point(filled=True, size=80).encode(
            x=alt.X("mean:Q", title="mean (95% CI)"), y=alt.Y("metric:N", title=None))
        rules = alt.Chart(metrics).mark_rule().encode(x="ci_low:Q", x2="ci_high:Q", y="metric:N")
        st.altair_chart((rules + points).properties(height=max(120, 30 * len(metrics))), width="stretch")

    st.subheader("Compare with a baseline")
    completed = runs[(runs["status"] == "completed") & (runs["id"] != run_id)]
    if completed.empty:
        st.text("No other completed run to compare with.")
    else:
        baseline = st.selectbox("Baseline run", completed["id"].tolist(), key="ev_baseline",
                                format_func=lambda i: labels.get(i, i))
        report = common.load(data.compare_runs, ctx.url, run_id, baseline)
        if report is not None:
            comparison = pd.DataFrame(report.get("metrics") or [])
            regressions = report.get("regressions") or []
            if regressions:
                st.error(f"Regression in {len(regressions)} metric(s):")
                st.text(", ".join(map(str, regressions)))
            else:
                st.success("No significant regression.")
            untestable = report.get("untestable") or {}
            if untestable:
                st.warning("Not tested (the promotion gate refuses on these): "
                           + "; ".join(f"{metric}: {why}" for metric, why in untestable.items()))
            if not comparison.empty:
                columns = [c for c in ("metric", "mean_baseline", "mean_current", "difference", "pct_change", "p_value",
                                       "effect_size", "is_regression", "is_improvement") if c in comparison]
                shown = comparison[columns]

                def _highlight(row: pd.Series) -> list[str]:
                    colour = ("background-color: #f8d7da" if row.get("is_regression")
                              else "background-color: #d4edda" if row.get("is_improvement") else "")
                    return [colour] * len(row)

                st.dataframe(shown.style.apply(_highlight, axis=1).format(precision=4), hide_index=True,
                             width="stretch")
                common.download_csv(shown, "comparison.csv", key="dl_comparison")
                st.text(f"{fmt.number(len(regressions))} regressions, "
                        f"{fmt.number(len(report.get('improvements') or []))} improvements "
                        f"(alpha {report.get('alpha')}; practical thresholds per metric, e.g. latency max(10 %, 5 ms))")

st.subheader("Online evaluation of production traffic")
ONLINE_WINDOWS = {"Last 24 hours": (24, 5), "Last 7 days": (24 * 7, 60), "Last hour": (1, 1)}
window = st.selectbox("Window", list(ONLINE_WINDOWS), key="ev_online_window")
hours, bucket = ONLINE_WINDOWS[window]
since = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(hours=hours)
online = common.load(data.online_scores, ctx.url, since, agent, bucket)
if online is not None and online.empty:
    st.info("No online scores yet. Score a sampled share of production executions with:")
    st.code("agentotel eval online --sample-rate 0.1 --evaluator coherence --evaluator toxicity", language="bash")
elif online is not None:
    metric = st.selectbox("Online metric", sorted(online["metric"].unique()), key="ev_online_metric")
    shown = online[online["metric"] == metric].assign(
        version=lambda f: f["agent_name"].fillna("?") + " " + f["agent_version"].fillna(""))
    chart = alt.Chart(common.chart_frame(shown)).mark_line(point=True).encode(
        x=alt.X("bucket:T", title=None), y=alt.Y("mean:Q", title=f"{metric} (mean per {bucket} min)"),
        color=alt.Color("version:N", title="agent version"),
        tooltip=["version", "bucket:T", "n", alt.Tooltip("mean:Q", format=".3f"), alt.Tooltip("median:Q", format=".3f")])
    st.altair_chart(chart.properties(height=260), width="stretch")
    totals = (shown.assign(weighted=shown["mean"] * shown["n"])
              .groupby(["agent_name", "agent_version"], dropna=False)[["n", "weighted"]].sum().reset_index())
    per_version = totals.assign(mean=totals["weighted"] / totals["n"]).rename(columns={"n": "executions"})[
        ["agent_name", "agent_version", "executions", "mean"]]
    st.dataframe(per_version, hide_index=True, width="stretch",
                 column_config={"mean": st.column_config.NumberColumn("mean", format="%.3f")})
