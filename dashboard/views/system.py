"""System: the performance monitor's CPU / memory / disk / network metrics and the receiver's health."""

from __future__ import annotations

import streamlit as st

from agentotel.dashboard import charts, common, data
from agentotel.dashboard import format as fmt

SYSTEM_PREFIXES = ("process.", "system.", "agentotel.monitor.")
PREFERRED = ("cpu", "memory")



def _shown(value: float | None, unit: str | None) -> str:
    """A metric value with its UCUM unit formatted (bytes in KiB/MiB/GiB, seconds as durations, ratios as %)."""
    if unit == "By":
        return fmt.byte_size(value)
    if unit == "s":
        return fmt.seconds(value)
    if unit == "ms":
        return fmt.duration_ms(value)
    if unit == "1" and value is not None and 0 <= float(value) <= 1:
        return fmt.percent(value)
    return f"{fmt.number(value, 2)} {unit or ''}".strip()


def _axis(unit: str) -> tuple[str, str | None]:
    """(title, d3 format) of a chart's value axis for a UCUM unit."""
    return {"By": ("bytes", "~s"), "s": ("seconds", ",.3~f"), "ms": ("ms", ",.0f"), "1": ("ratio", ".0%")}.get(
        unit, (unit or "value", None))


ctx = common.page("System")

st.subheader("Receiver")
health = common.load(data.ingest_health, ctx.url)
if health is not None:
    row = st.columns(4)
    since = health["seconds_since_span"]
    row[0].metric("Last span", "never" if since is None else f"{fmt.duration_ms(max(since, 0) * 1000)} ago")
    row[1].metric("Spans, last 5 min", fmt.number(health["spans_last_5m"]))
    row[2].metric("Spans, last hour", fmt.number(health["spans_last_1h"]))
    row[3].metric("Metric points, last 5 min", fmt.number(health["metric_points_last_5m"]))
    if since is None:
        st.info("The receiver has not written any span yet.")
    elif since > 300:
        st.warning("No span arrived in the last 5 minutes: is the receiver running and are agents sending to it?")

metrics_url = data.receiver_metrics_url()
receiver = common.load(data.receiver_health, metrics_url)
if receiver is None:
    st.text(f"The receiver's /metrics endpoint ({metrics_url}) does not answer; is agentotel receive running? "
            "(With API keys configured it needs one: AGENTOTEL_DASHBOARD_RECEIVER_METRICS_KEY.)")
else:
    written = receiver.get("agentotel_receiver_written_total", 0.0)
    received = receiver.get("agentotel_receiver_received_total", 0.0)
    row = st.columns(4)
    row[0].metric("Received (items)", fmt.number(received))
    row[1].metric("Written (items)", fmt.number(written))
    row[2].metric("Rejected (items)", fmt.number(receiver.get("agentotel_receiver_rejected_total", 0.0)))
    row[3].metric("Write queue", f"{fmt.number(receiver.get('agentotel_receiver_spool_records', 0.0))} requests",
                  help=f"drain lag {fmt.duration_ms(receiver.get('agentotel_receiver_drain_lag_seconds', 0.0) * 1000)}")
    errors = receiver.get("agentotel_receiver_export_errors_total", 0.0)
    if errors:
        st.warning(f"{fmt.number(errors)} export requests were answered with an error since the receiver started.")

names = common.load(data.metric_names, ctx.url, ctx.start, ctx.end) or []
receiver_names = tuple(n for n in names if n.startswith(("agentotel.receiver", "agentotel_receiver", "otelcol")))
if receiver_names:
    latest = common.load(data.latest_metric_values, ctx.url, receiver_names, ctx.start)
    if latest is not None and not latest.empty:
        st.dataframe(common.localize(latest, ctx, ["timestamp"]), hide_index=True, width="stretch",
                     column_config={"timestamp": common.time_column(ctx, "at")})

st.subheader("Hosts and processes")
system_names = [n for n in names if n.startswith(SYSTEM_PREFIXES)]
if not system_names:
    st.info("No CPU, memory, disk or network metrics in this time range. The performance monitor sends them "
            "when an agent calls instrument() (or runs under opentelemetry-instrument) with metrics export on:")
    st.code("export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317\nexport OTEL_METRICS_EXPORTER=otlp", language="bash")
else:
    default = [n for n in system_names if any(p in n for p in PREFERRED)][:4] or system_names[:2]
    picked = st.multiselect("Metrics", system_names, default=default, key="sys_metrics")
    latest = common.load(data.latest_metric_values, ctx.url, tuple(picked), ctx.start)
    units: dict[str, str] = {}
    if latest is not None and not latest.empty:
        if "unit" in latest:
            units = {str(n): str(u) for n, u in zip(latest["metric_name"], latest["unit"], strict=True) if u}
            latest = latest.assign(latest=[_shown(v, u) for v, u in zip(latest["value"], latest["unit"], strict=True)])
        st.dataframe(common.localize(latest, ctx, ["timestamp"]), hide_index=True, width="stretch",
                     column_order=["metric_name", "service_name", "latest", "value", "unit", "timestamp"],
                     column_config={"value": st.column_config.NumberColumn("raw value", format="%.4g"),
                                    "timestamp": common.time_column(ctx, "at")})
    columns = st.columns(2)
    for i, name in enumerate(picked):
        series = common.load(data.time_series, ctx.url, f"metric:{name}", ctx.start, ctx.end, ctx.granularity, None,
                             "service")
        if series is not None and not series.empty:
            unit = units.get(name, "")
            y_title, y_format = _axis(unit)
            columns[i % 2].altair_chart(charts.series(common.chart_frame(series, ctx), name, y_title, color="service",
                                                      y_format=y_format, time_format=ctx.time_format), width="stretch")

if ctx.user.can("admin"):
    st.subheader("Audit trail")
    trail = common.load(data.audit_trail, ctx.url)
    if trail is not None and not trail.empty:
        st.dataframe(common.localize(trail, ctx, ["at"]), hide_index=True, width="stretch",
                     column_config={"at": common.time_column(ctx, "at")})
        common.download_csv(trail, "audit.csv", key="dl_audit")
    elif trail is not None:
        st.text("No audited action yet.")
