"""Altair charts of the dashboard (span names and labels become SVG text: inert)."""

from __future__ import annotations

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


def series(frame: pd.DataFrame, title: str, y_title: str, color: str | None = None, mark: str = "line",
           y_format: str | None = None) -> alt.Chart:
    """A time series (``timestamp``, ``value``[, ``color``]) as lines or bars."""
    base = alt.Chart(frame, title=title)
    base = base.mark_bar() if mark == "bar" else base.mark_line(point=alt.OverlayMarkDef(size=18))
    y = alt.Y("value:Q", title=y_title, axis=alt.Axis(format=y_format) if y_format else alt.Axis())
    tooltip = [alt.Tooltip("timestamp:T", format="%H:%M"), alt.Tooltip("value:Q", format=",.4~g")]
    encoding: dict[str, Any] = {"x": alt.X("timestamp:T", title=None), "y": y, "tooltip": tooltip}
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
        .properties(height=max(120, 26 * len(frame)))
    )


def waterfall(spans: pd.DataFrame) -> alt.Chart:
    """A trace's spans as a Gantt chart: one row per span (indented by depth), coloured by type."""
    frame = spans.copy()
    frame["row"] = [f"{i:03d} {'  ' * int(d)}{str(n)[:60]}" for i, (d, n) in enumerate(zip(frame["depth"], frame["name"]))]
    frame["end_ms"] = frame["offset_ms"] + frame["duration_ms"].astype(float)
    frame["type"] = frame["span_type"].fillna("other")
    return (
        alt.Chart(frame)
        .mark_bar(cornerRadius=2, height={"band": 0.7})
        .encode(
            x=alt.X("offset_ms:Q", title="ms since trace start"),
            x2="end_ms:Q",
            y=alt.Y("row:N", sort=None, title=None, axis=alt.Axis(labelLimit=360, labelOverlap=False)),
            color=alt.Color("type:N", title="span type",
                            scale=alt.Scale(domain=list(SPAN_COLOURS), range=list(SPAN_COLOURS.values()))),
            tooltip=[alt.Tooltip("type:N"), alt.Tooltip("duration_ms:Q", title="duration (ms)", format=",.1f"),
                     alt.Tooltip("status_code:N", title="status")],
        )
        .properties(height=max(120, 30 * len(frame)))
    )


def anomalies(frame: pd.DataFrame, title: str) -> alt.Chart:
    """The series with its expected value and anomalous buckets marked in red."""
    base = alt.Chart(frame, title=title).encode(x=alt.X("timestamp:T", title=None))
    line = base.mark_line().encode(y=alt.Y("value:Q", title=None))
    expected = base.mark_line(strokeDash=[4, 3], color="#9D9D9D").encode(y="expected:Q")
    points = (
        base.transform_filter(alt.datum.is_anomaly)
        .mark_point(color="#E45756", size=90, filled=True)
        .encode(y="value:Q", tooltip=[alt.Tooltip("timestamp:T"), alt.Tooltip("value:Q", format=",.4~g"),
                                      alt.Tooltip("robust_score:Q", format=".2f")])
    )
    return (line + expected + points).properties(height=260)


def forecast(history: pd.DataFrame, prediction: pd.DataFrame, title: str) -> alt.Chart:
    """History, forecast and its interval band."""
    hist = alt.Chart(history).mark_line().encode(x=alt.X("timestamp:T", title=None), y=alt.Y("value:Q", title=None))
    band = alt.Chart(prediction).mark_area(opacity=0.25, color="#F58518").encode(x="timestamp:T", y="lower:Q", y2="upper:Q")
    mean = alt.Chart(prediction).mark_line(color="#F58518", strokeDash=[5, 3]).encode(
        x="timestamp:T", y="forecast:Q",
        tooltip=[alt.Tooltip("timestamp:T"), alt.Tooltip("forecast:Q", format=",.4~g"),
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
