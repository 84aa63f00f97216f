"""Altair charts of the dashboard (span names and labels become SVG text: inert)."""

from __future__ import annotations

import math
from typing import Any

import altair as alt
import pandas as pd

SPAN_COLOURS = {
    "agent": "#4C78A8",
    "llm": "#F58518",
    "tool": "#54A24B",
    "chain": "#B279A2",
    "retriever": "#72B7B2",
    "embedding": "#EECA3B",
    "other": "#9D9D9D",
}


ENTRY = "(entry)"  # the caller of a trace's top agents in warehouse.agent_graph
ROW_STEP = 24  # px per row of a chart with a discrete axis (a fixed total height collapses its plot area)


def time_x(field: str = "timestamp", time_format: str = "%H:%M", title: str | None = None) -> alt.X:
    """A time axis with 24-hour labels (Vega's default multi-format uses 12-hour "03 PM")."""
    return alt.X(f"{field}:T", title=title, axis=alt.Axis(format=time_format, labelOverlap=True))


def series(frame: pd.DataFrame, title: str, y_title: str, color: str | None = None, mark: str = "line",
           y_format: str | None = None, time_format: str = "%H:%M") -> alt.Chart:
    """A time series (``timestamp``, ``value``[, ``color``]) as lines or bars; times are wall-clock times of
    the page's time zone (``common.chart_frame``)."""
    base = alt.Chart(frame, title=title)
    base = base.mark_bar() if mark == "bar" else base.mark_line(point=alt.OverlayMarkDef(size=18))
    y = alt.Y("value:Q", title=y_title, axis=alt.Axis(format=y_format) if y_format else alt.Axis())
    tooltip = [alt.Tooltip("timestamp:T", format=time_format), alt.Tooltip("value:Q", format=y_format or ",.4~g")]
    encoding: dict[str, Any] = {"x": time_x("timestamp", time_format), "y": y, "tooltip": tooltip}
    if color:
        encoding["color"] = alt.Color(f"{color}:N", title=color)
        tooltip.append(alt.Tooltip(f"{color}:N"))
    return base.encode(**encoding).properties(height=240)


def bars(frame: pd.DataFrame, category: str, value: str, title: str, value_title: str,
         value_format: str | None = None) -> alt.Chart:
    """Horizontal bars, largest first."""
    return (
        alt.Chart(frame, title=title)
        .mark_bar()
        .encode(
            x=alt.X(f"{value}:Q", title=value_title, axis=alt.Axis(format=value_format) if value_format else alt.Axis()),
            y=alt.Y(f"{category}:N", sort="-x", title=None),
            tooltip=[alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{value}:Q", format=value_format or ",.4~g")],
        )
        .properties(height=alt.Step(ROW_STEP))
    )


def waterfall(spans: pd.DataFrame, selected: str | None = None) -> alt.Chart:
    """A trace's spans (in tree order) as a Gantt chart: one row per span (indented by depth), coloured by
    type, the selected span outlined. Clicking a bar selects its span (selection parameter ``span``)."""
    frame = spans[["span_id", "name", "depth", "span_type", "offset_ms", "duration_ms", "status_code"]].copy()
    frame["row"] = [f"{i + 1:03d} {'  ' * int(d)}{str(n)[:60]}" for i, (d, n) in enumerate(zip(frame["depth"], frame["name"]))]
    frame["end_ms"] = frame["offset_ms"] + frame["duration_ms"].astype(float)
    frame["type"] = frame["span_type"].fillna("other")
    frame["chosen"] = frame["span_id"] == selected
    pick = alt.selection_point(name="span", fields=["span_id"], on="click", clear=False)
    return (
        alt.Chart(frame)
        .mark_bar(cornerRadius=2, height={"band": 0.7})
        .encode(
            x=alt.X("offset_ms:Q", title="ms since trace start"),
            x2="end_ms:Q",
            y=alt.Y("row:N", sort=None, title=None, axis=alt.Axis(labelLimit=360, labelOverlap=False)),
            color=alt.Color("type:N", title="span type",
                            scale=alt.Scale(domain=list(SPAN_COLOURS), range=list(SPAN_COLOURS.values()))),
            stroke=alt.condition("datum.chosen", alt.value("#111111"), alt.value(None)),
            strokeWidth=alt.condition("datum.chosen", alt.value(2), alt.value(0)),
            tooltip=[alt.Tooltip("name:N"), alt.Tooltip("type:N"),
                     alt.Tooltip("duration_ms:Q", title="duration (ms)", format=",.1f"),
                     alt.Tooltip("status_code:N", title="status")],
        )
        .add_params(pick)
        .properties(height=alt.Step(ROW_STEP))
    )


def interval_chart(frame: pd.DataFrame, value: str, low: str, high: str, category: str, title: str) -> alt.Chart:
    """A point per ``category`` at ``value`` with a rule from ``low`` to ``high`` (confidence intervals)."""
    base = alt.Chart(frame, title=title)
    rules = base.mark_rule(strokeWidth=2).encode(x=alt.X(f"{low}:Q", title=f"{value} (95% CI)"), x2=f"{high}:Q",
                                                 y=alt.Y(f"{category}:N", title=None))
    points = base.mark_point(filled=True, size=80).encode(
        x=f"{value}:Q", y=f"{category}:N",
        tooltip=[alt.Tooltip(f"{category}:N"), alt.Tooltip(f"{value}:Q", format=".4f"),
                 alt.Tooltip(f"{low}:Q", format=".4f"), alt.Tooltip(f"{high}:Q", format=".4f")])
    return (rules + points).properties(height=alt.Step(ROW_STEP + 6))


def anomalies(frame: pd.DataFrame, title: str, time_format: str = "%H:%M") -> alt.Chart:
    """The series with its expected value and anomalous buckets marked in red."""
    base = alt.Chart(frame, title=title).encode(x=time_x("timestamp", time_format))
    line = base.mark_line().encode(y=alt.Y("value:Q", title=None))
    expected = base.mark_line(strokeDash=[4, 3], color="#9D9D9D").encode(y="expected:Q")
    points = (
        base.transform_filter(alt.datum.is_anomaly)
        .mark_point(color="#E45756", size=90, filled=True)
        .encode(y="value:Q", tooltip=[alt.Tooltip("timestamp:T", format=time_format),
                                      alt.Tooltip("value:Q", format=",.4~g"), alt.Tooltip("robust_score:Q", format=".2f")])
    )
    return (line + expected + points).properties(height=260)


def forecast(history: pd.DataFrame, prediction: pd.DataFrame, title: str, time_format: str = "%H:%M",
             floor: float | None = 0.0, ceiling: float | None = None) -> alt.Chart:
    """History, forecast and its interval band; the band and the forecast are clipped to ``[floor, ceiling]``
    (counts, costs and latencies are never negative; rates never above 1)."""
    prediction = prediction.copy()
    for column in ("forecast", "lower", "upper"):
        if column in prediction:
            prediction[column] = prediction[column].clip(lower=floor, upper=ceiling)
    hist = alt.Chart(history).mark_line().encode(x=time_x("timestamp", time_format), y=alt.Y("value:Q", title=None))
    band = alt.Chart(prediction).mark_area(opacity=0.25, color="#F58518").encode(x="timestamp:T", y="lower:Q", y2="upper:Q")
    mean = alt.Chart(prediction).mark_line(color="#F58518", strokeDash=[5, 3]).encode(
        x="timestamp:T", y="forecast:Q",
        tooltip=[alt.Tooltip("timestamp:T", format=time_format), alt.Tooltip("forecast:Q", format=",.4~g"),
                 alt.Tooltip("lower:Q", format=",.4~g"), alt.Tooltip("upper:Q", format=",.4~g")],
    )
    return (band + hist + mean).properties(title=title, height=260)


def heatmap(frame: pd.DataFrame, title: str) -> alt.Chart:
    """Correlation coefficients (``metric_a``, ``metric_b``, ``pearson_r``) as a heat map."""
    both = pd.concat([frame, frame.rename(columns={"metric_a": "metric_b", "metric_b": "metric_a"})], ignore_index=True)
    base = alt.Chart(both, title=title).encode(x=alt.X("metric_a:N", title=None), y=alt.Y("metric_b:N", title=None))
    cells = base.mark_rect().encode(
        color=alt.Color("pearson_r:Q", scale=alt.Scale(domain=[-1, 1], scheme="redblue"), title="Pearson r"),
        tooltip=["metric_a:N", "metric_b:N", alt.Tooltip("pearson_r:Q", format=".2f"),
                 alt.Tooltip("pearson_p:Q", format=".3g")],
    )
    text = base.mark_text().encode(text=alt.Text("pearson_r:Q", format=".2f"))
    return (cells + text).properties(height=260)
def graph_dot(edges: pd.DataFrame, title: str = "") -> str:
    """The agent graph's edges (``warehouse.agent_graph``) as a Graphviz DOT document for
    ``st.graphviz_chart``: left to right, agents as boxes, tools as ellipses, models as notes, each edge
    labelled with its calls, error rate and p95. Names are quoted and escaped (plain-text labels, never HTML
    labels), so no name can change the document's structure."""
    lines = ["digraph agents {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=11];',
             '  edge [fontname="Helvetica", fontsize=9];']
    if title:
        lines.append(f"  label={_quote(title)}; labelloc=t;")
    shapes = {"agent": 'shape=box, style="rounded,filled", fillcolor="#dbe7f3"',
              "tool": 'shape=ellipse, style=filled, fillcolor="#dcefd9"',
              "model": 'shape=note, style=filled, fillcolor="#fde4c8"'}
    kinds: dict[str, str] = {}
    for row in edges.itertuples():
        kinds.setdefault(str(row.source), "agent")
        kinds[str(row.target)] = row.kind if row.kind != "agent" else "agent"
    for name, kind in kinds.items():
        shape = "shape=plaintext" if name == ENTRY else shapes[kind]
        lines.append(f"  {_quote(kind + ':' + name)} [label={_quote(name)}, {shape}];")
    for row in edges.itertuples():
        label = f"{int(row.calls)} calls"
        if row.errors:
            label += f"\\n{row.error_rate:.0%} errors"
        if row.p95_ms == row.p95_ms:  # not NaN
            label += f"\\np95 {_ms(row.p95_ms)}"
        colour = "#c0392b" if row.errors and row.error_rate >= 0.1 else "#555555"
        source = "agent:" + str(row.source)
        lines.append(f"  {_quote(source)} -> {_quote(row.kind + ':' + str(row.target))} "
                     f"[label=\"{label}\", color=\"{colour}\", penwidth={1 + min(4, math.log10(max(row.calls, 1))):.1f}];")
    lines.append("}")
    return "\n".join(lines)


def _ms(value: float) -> str:
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _quote(value: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, line breaks removed."""
    cleaned = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("\r", " ")
    return f'"{cleaned[:120]}"'
