"""Traces: the list (start, agent and version, input preview, status, duration, tokens in/out, cost, models,
LLM and tool call counts, session, user), searched and filtered from the sidebar; clicking a row opens the
trace. ``?trace=<id>&span=<id>`` opens a trace (and span) directly; content is rendered inert."""

from __future__ import annotations

from urllib.parse import quote

import streamlit as st

from agentotel.dashboard import common, data, filters, trace_view
from agentotel.dashboard import format as fmt

SORTS = {"Newest first": ("start_time", True), "Oldest first": ("start_time", False),
         "Slowest first": ("duration_ms", True), "Fastest first": ("duration_ms", False),
         "Most expensive first": ("cost_usd", True), "Most tokens first": ("total_tokens", True),
         "Most LLM calls first": ("llm_calls", True)}
LIST_KEY = "tr_list"



def _open_typed() -> None:
    """A trace id typed into "Open trace" opens that trace (and the field empties for the way back)."""
    typed = str(st.session_state.get("tr_trace_id") or "").strip()
    if trace_view.TRACE_ID.match(typed):
        trace_view.open_span(typed.lower(), None)
        st.session_state["tr_trace_id"] = ""
    elif typed:
        st.session_state["tr_bad_trace_id"] = True


ctx = common.page("Traces")
with st.sidebar:
    st.caption("Open trace")
    st.text_input("Trace id", key="tr_trace_id", placeholder="32 hex characters", on_change=_open_typed)
if st.session_state.pop("tr_bad_trace_id", False):
    st.warning("A trace id is 32 hexadecimal characters; showing the list without it.")

trace_id = common.query_value("trace", trace_view.TRACE_ID)
if trace_id:
    trace_view.show(ctx, trace_id, common.query_value("span", trace_view.SPAN_ID))
    st.stop()

values = filters.search_filters("tr")
with st.sidebar:
    sort, descending = SORTS[st.selectbox("Order", list(SORTS), key="tr_sort")]
    limit = st.slider("Rows", 10, 500, 100, step=10, key="tr_limit")

traces = common.load(data.recent_traces, ctx.url, ctx.start, ctx.end, sort=sort, descending=descending, limit=limit,
                     filters=values or None)
if traces is not None and traces.empty:
    if values:
        st.info("No trace matches these filters.")
    else:
        common.empty_state("traces")
elif traces is not None:
    st.caption(f"{fmt.number(len(traces))} traces, {ctx.range_label.lower()} · click a row to open its trace")
    shown = common.localize(traces, ctx, ["start_time"]).assign(
        agent=[f"{a or '–'} {v or ''}".strip() for a, v in zip(traces["agent_name"], traces["agent_version"], strict=True)],
        session_link=[f"sessions?session={quote(str(s), safe='')}" if isinstance(s, str) and s else None
                      for s in traces["session"]],
    )
    columns = ["start_time", "agent", "input_preview", "status", "duration_ms", "input_tokens", "output_tokens",
               "cost_usd", "models", "llm_calls", "tool_calls", "session_link", "user", "name", "service_name", "trace_id"]
    event = st.dataframe(
        shown[columns], hide_index=True, width="stretch", key=LIST_KEY, on_select="rerun", height=common.table_height(len(shown)),
        selection_mode=common.CLICKABLE, placeholder="–",
        column_config={
            "start_time": common.time_column(ctx, "start"),
            "input_preview": st.column_config.TextColumn("input", width="large"),
            "duration_ms": st.column_config.NumberColumn("duration (ms)", format="%.0f"),
            "input_tokens": st.column_config.NumberColumn("tokens in", format="%d"),
            "output_tokens": st.column_config.NumberColumn("tokens out", format="%d"),
            "cost_usd": common.cost_column(),
            "llm_calls": st.column_config.NumberColumn("LLM calls", format="%d"),
            "tool_calls": st.column_config.NumberColumn("tool calls", format="%d"),
            "session_link": st.column_config.LinkColumn("session", display_text=r"session=(.*)$"),
            "name": st.column_config.TextColumn("root span"),
            "service_name": st.column_config.TextColumn("service"),
        },
    )
    row = common.picked_row(event)
    if row is not None and row < len(traces):  # (the list is not drawn with a trace: it comes back unselected)
        trace_view.open_span(str(traces["trace_id"].iloc[row]), None)
        st.rerun()
    common.download_csv(shown[[c for c in columns if c != "session_link"] + ["session"]], "traces.csv", key="dl_traces")
    trace_view.preview(ctx, str(traces["trace_id"].iloc[0]))
