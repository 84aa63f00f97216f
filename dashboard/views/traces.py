"""Traces: search by agent, service, status, time and trace id; a trace's waterfall and each span's
attributes and captured content (rendered inert: code/text/JSON elements, never Markdown or HTML)."""

from __future__ import annotations

import re

import streamlit as st

from agentotel.dashboard import charts, common, data
from agentotel.dashboard import format as fmt

TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
SORTS = {"Newest first": ("start_time", True), "Oldest first": ("start_time", False),
         "Slowest first": ("duration_ms", True), "Fastest first": ("duration_ms", False)}
STATUSES = {"Any status": None, "Errors only": "error", "Successful only": "ok"}

ctx = common.page("Traces")
with st.sidebar:
    trace_text = st.text_input("Trace id", key="tr_trace_id", placeholder="32 hex characters").strip()
    agent = st.text_input("Agent", key="tr_agent", placeholder="exact agent name").strip() or None
    service = st.text_input("Service", key="tr_service", placeholder="exact service name").strip() or None
    status = STATUSES[st.selectbox("Status", list(STATUSES), key="tr_status")]
    sort, descending = SORTS[st.selectbox("Order", list(SORTS), key="tr_sort")]
    limit = st.slider("Rows", 10, 500, 100, step=10, key="tr_limit")

trace_id = None
if trace_text:
    if TRACE_ID.match(trace_text):
        trace_id = trace_text.lower()
    else:
        st.warning("A trace id is 32 hexadecimal characters; showing traces without that filter.")

# A trace id search looks at all time; otherwise the sidebar's window applies.
start, end = (None, None) if trace_id else (ctx.start, ctx.end)
traces = common.load(data.recent_traces, ctx.url, start, end, agent, service, status, trace_id, sort, descending, limit)
if traces is not None and traces.empty:
    if trace_id or agent or service or status:
        st.info("No trace matches these filters.")
    else:
        common.empty_state("traces")
elif traces is not None:
    st.caption(f"{fmt.number(len(traces))} traces")
    shown = traces[["start_time", "trace_id", "name", "agent_name", "service_name", "duration_ms", "status",
                    "span_count", "error_count"]]
    st.dataframe(shown, hide_index=True, width="stretch",
                 column_config={"duration_ms": st.column_config.NumberColumn("duration (ms)", format="%.1f"),
                                "start_time": st.column_config.DatetimeColumn("start (UTC)", format="YYYY-MM-DD HH:mm:ss")})
    common.download_csv(shown, "traces.csv", key="dl_traces")

    ids = traces["trace_id"].tolist()
    names = dict(zip(traces["trace_id"], traces["name"]))
    selected = st.selectbox("Open trace", ids, key="tr_open",
                            format_func=lambda t: f"{t[:12]}…  {str(names.get(t, ''))[:60]}")
    spans = common.load(data.trace_spans, ctx.url, selected) if selected else None
    if spans is not None and not spans.empty:
        st.subheader("Waterfall")
        st.text(f"trace {selected} · {len(spans)} spans · {fmt.duration_ms(spans['duration_ms'].max())}")
        st.altair_chart(charts.waterfall(spans), width="stretch", height=max(160, 32 * len(spans) + 60))

        st.subheader("Span details")
        span_names = dict(zip(spans["span_id"], spans["name"]))
        span_types = dict(zip(spans["span_id"], spans["span_type"]))
        span_id = st.selectbox("Span", spans["span_id"].tolist(), key="tr_span",
                               format_func=lambda s: f"{span_types.get(s, '')}: {str(span_names.get(s, ''))[:80]} ({s})")
        content = common.load(data.span_content, ctx.url, selected, span_id) or {}
        if content:
            st.text(f"name: {content.get('name')}\nstatus: {content.get('status_code')}"
                    + (f" ({content['status_message']})" if content.get("status_message") else "")
                    + f"\nscope: {content.get('scope_name') or '–'} {content.get('scope_version') or ''}")
            left, right = st.columns(2)
            with left:
                st.caption("Input (captured content)")
                st.code(content.get("input") or "(not captured)", language=None, wrap_lines=True)
            with right:
                st.caption("Output (captured content)")
                st.code(content.get("output") or "(not captured)", language=None, wrap_lines=True)
            st.caption("Attributes")
            st.json(content.get("attributes") or {}, expanded=True)
            with st.expander("Events, links and resource"):
                st.json({"events": content.get("events") or [], "links": content.get("links") or [],
                         "resource": content.get("resource_attributes") or {}}, expanded=False)
