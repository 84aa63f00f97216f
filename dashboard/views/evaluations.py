"""Evaluations: runs, metrics with confidence intervals, run comparisons with regressions highlighted, and
online evaluation of production traffic charted per agent version."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import altair as alt
import pandas as pd
import streamlit as st

from agentotel.dashboard import charts, common, data
from agentotel.dashboard import format as fmt
from agentotel.dashboard.trace_view import TRACE_ID

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


def _trace_link(trace_id: object) -> str | None:
    """A link to a case's trace on the Traces page (trace ids are checked: hex only)."""
    return f"traces?trace={trace_id}" if isinstance(trace_id, str) and TRACE_ID.match(trace_id) else None


def _cases(run_id: str) -> None:
    """The run's cases: input, expected, output, scores, figures and a link to each case's trace; a row's
    full texts below the table when it is selected."""
    cases = common.load(data.run_cases, ctx.url, run_id)
    if cases is None:
        return
    if cases.empty:
        st.text("This run stored no case results.")
        return
    scores = [c for c in cases.columns if c.startswith("score:")]
    shown = cases.assign(trace=[_trace_link(t) for t in cases["trace_id"]])
    event = st.dataframe(
        shown, hide_index=True, width="stretch", key="ev_cases", on_select="rerun", selection_mode=common.CLICKABLE, placeholder="–",
        column_order=["case_id", "input", "expected", "output", *scores, "error", "latency_ms", "input_tokens",
                      "output_tokens", "cost_usd", "model", "tags", "trace"],
        column_config={"input": st.column_config.TextColumn("input", width="medium"),
                       "expected": st.column_config.TextColumn("expected", width="medium"),
                       "output": st.column_config.TextColumn("output", width="medium"),
                       **{c: st.column_config.NumberColumn(c.removeprefix("score:"), format="%.3f") for c in scores},
                       "latency_ms": st.column_config.NumberColumn("latency (ms)", format="%.0f"),
                       "cost_usd": common.cost_column(),
                       "trace": st.column_config.LinkColumn("trace", display_text="open trace")},
    )
    common.download_csv(cases, f"cases_{run_id}.csv", key="dl_cases")
    row = common.picked_row(event)
    if row is not None and row < len(cases):
        case = cases.iloc[row]
        with st.container(border=True):
            st.text(f"case {case['case_id']}")
            for label, column in (("Input", "input"), ("Expected", "expected"), ("Output", "output"), ("Error", "error")):
                value = case[column]
                if isinstance(value, str) and value:
                    st.caption(label)
                    st.code(value, language=None, wrap_lines=True)
            link = _trace_link(case["trace_id"])
            if link:
                st.markdown(f"[Open the case's trace]({link})")


def _case_diff(run_id: str, baseline: str) -> None:
    """The two runs case by case: regressed cases first, then improvements, then unchanged ones."""
    diff = common.load(data.case_diff, ctx.url, run_id, baseline)
    if diff is None:
        return
    if diff.empty:
        st.text("The two runs have no case in common.")
        return
    changed_only = st.toggle("Only cases that changed", value=True, key="ev_diff_changed")
    shown = diff[diff["verdict"] != "same"] if changed_only else diff
    counts = diff["verdict"].value_counts()
    st.text(f"{counts.get('worse', 0) + counts.get('error', 0)} regressed, {counts.get('better', 0) + counts.get('fixed', 0)}"
            f" improved, {counts.get('same', 0)} unchanged (case × metric)")
    if shown.empty:
        return
    shown = shown.assign(current_trace=[_trace_link(t) for t in shown["trace_current"]],
                         baseline_trace=[_trace_link(t) for t in shown["trace_baseline"]])

    def _colour(row: pd.Series) -> list[str]:
        colour = {"worse": "#f8d7da", "error": "#f8d7da", "better": "#d4edda", "fixed": "#d4edda"}.get(row["verdict"], "")
        return [f"background-color: {colour}" if colour else ""] * len(row)

    columns = ["case_id", "metric", "verdict", "baseline", "current", "delta", "output_baseline", "output_current",
               "baseline_trace", "current_trace"]
    st.dataframe(shown[columns].style.apply(_colour, axis=1).format(precision=3, subset=["baseline", "current", "delta"]),
                 hide_index=True, width="stretch",
                 column_config={"output_baseline": st.column_config.TextColumn("baseline output", width="medium"),
                                "output_current": st.column_config.TextColumn("current output", width="medium"),
                                "baseline_trace": st.column_config.LinkColumn("baseline trace", display_text="open"),
                                "current_trace": st.column_config.LinkColumn("current trace", display_text="open")})
    common.download_csv(diff, "case_diff.csv", key="dl_case_diff")


if runs is not None and runs.empty:
    st.info("No evaluation runs yet. Run a benchmark suite against an agent, for example:")
    st.code("agentotel eval run suite.yaml --agent my_module:my_agent", language="bash")
elif runs is not None:
    table = runs.assign(
        cases=[(s or {}).get("n_cases") for s in runs["summary"]],
        errors=[(s or {}).get("n_errors") for s in runs["summary"]],
    ).drop(columns=["summary"])
    st.dataframe(common.localize(table, ctx, ["timestamp", "completed_at"]), hide_index=True, width="stretch",
                 column_config={"timestamp": common.time_column(ctx, "started"),
                                "completed_at": common.time_column(ctx, "completed")})
    common.download_csv(table, "evaluation_runs.csv", key="dl_runs")

    labels = {r.id: f"{r.timestamp:%Y-%m-%d %H:%M} {ctx.tz_name} · {r.agent_name or '?'} {r.agent_version or ''} · "
                    f"{r.benchmark_id}" for r in common.localize(runs, ctx, ["timestamp"]).itertuples()}
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
        st.altair_chart(charts.interval_chart(metrics, "mean", "ci_low", "ci_high", "metric",
                                              "Mean per metric with its 95% confidence interval"), width="stretch")

    st.subheader("Cases")
    _cases(run_id)

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
                           + fmt.plain_markdown("; ".join(f"{metric}: {why}" for metric, why in untestable.items())))
            if not comparison.empty:
                # the statistics of each metric next to it: the difference with its 95% CI, the test, the
                # Benjamini-Hochberg adjusted p (and the raw one), Cohen's d and Cliff's delta
                columns = [c for c in ("metric", "mean_baseline", "mean_current", "difference", "ci_low", "ci_high",
                                       "pct_change", "test", "p_value", "p_value_raw", "effect_size", "cliffs_delta",
                                       "n_baseline", "n_current", "is_regression", "is_improvement", "note")
                           if c in comparison]
                shown = comparison[columns]

                def _highlight(row: pd.Series) -> list[str]:
                    colour = ("background-color: #f8d7da" if row.get("is_regression")
                              else "background-color: #d4edda" if row.get("is_improvement") else "")
                    return [colour] * len(row)

                st.dataframe(shown.style.apply(_highlight, axis=1).format(precision=4), hide_index=True,
                             width="stretch",
                             column_config={"ci_low": st.column_config.NumberColumn("diff CI low"),
                                            "ci_high": st.column_config.NumberColumn("diff CI high"),
                                            "p_value": st.column_config.NumberColumn("p (BH-adjusted)"),
                                            "p_value_raw": st.column_config.NumberColumn("p (raw)"),
                                            "effect_size": st.column_config.NumberColumn("Cohen's d"),
                                            "cliffs_delta": st.column_config.NumberColumn("Cliff's delta")})
                common.download_csv(shown, "comparison.csv", key="dl_comparison")
                st.text(f"{fmt.number(len(regressions))} regressions, "
                        f"{fmt.number(len(report.get('improvements') or []))} improvements "
                        f"(alpha {report.get('alpha')}; practical thresholds per metric, e.g. latency max(10 %, 5 ms))")
            st.subheader("Case by case")
            _case_diff(run_id, baseline)

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
    online_format = "%H:%M" if hours <= 24 else "%b %d %H:%M"
    chart = alt.Chart(common.chart_frame(shown, ctx)).mark_line(point=True).encode(
        x=charts.time_x("bucket", online_format), y=alt.Y("mean:Q", title=f"{metric} (mean per {bucket} min)"),
        color=alt.Color("version:N", title="agent version"),
        tooltip=["version", alt.Tooltip("bucket:T", format=online_format), "n", alt.Tooltip("mean:Q", format=".3f"),
                 alt.Tooltip("median:Q", format=".3f")])
    st.altair_chart(chart.properties(height=260), width="stretch")
    totals = (shown.assign(weighted=shown["mean"] * shown["n"])
              .groupby(["agent_name", "agent_version"], dropna=False)[["n", "weighted"]].sum().reset_index())
    per_version = totals.assign(mean=totals["weighted"] / totals["n"]).rename(columns={"n": "executions"})[
        ["agent_name", "agent_version", "executions", "mean"]]
    st.dataframe(per_version, hide_index=True, width="stretch",
                 column_config={"mean": st.column_config.NumberColumn("mean", format="%.3f")})
