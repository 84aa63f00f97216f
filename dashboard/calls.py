"""The lists of individual LLM and tool calls of the LLM and Tools pages: the shared search filters (content,
status, latency, cost and token ranges, attribute, session, user) on top of the page's own selections;
clicking a row opens the call's span in its trace."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from agentotel.dashboard import common, data, filters
from agentotel.dashboard import format as fmt

SORTS = {"Newest first": "start_time", "Slowest first": "duration_ms", "Most expensive first": "cost_usd",
         "Most tokens first": "total_tokens"}
TOOL_SORTS = {"Newest first": "start_time", "Slowest first": "duration_ms"}


def open_in_trace(trace_id: str, span_id: str) -> None:
    """Switch to the Traces page with the call's span selected."""
    st.switch_page("views/traces.py", query_params={"trace": trace_id, "span": span_id})


def _controls(prefix: str, fields: tuple[str, ...], sorts: dict[str, str]) -> tuple[dict[str, Any], str, int]:
    with st.expander("Search and filter calls", expanded=False):
        columns = st.columns(3)
        values: dict[str, Any] = {}
        for i, field in enumerate(fields):
            values.update(filters.search_filters(prefix, (field,), container=columns[i % 3], group_more=False))
        left, right = st.columns(2)
        sort = sorts[left.selectbox("Order", list(sorts), key=f"{prefix}_sort")]
        limit = right.slider("Rows", 10, 500, 100, step=10, key=f"{prefix}_limit")
    return values, sort, limit


def _call_list(ctx: common.PageContext, found: pd.DataFrame | None, kind: str, column_order: list[str],
               column_config: dict[str, Any]) -> None:
    """The calls ``found`` as a table (``kind``: ``llm`` or ``tool``) whose row click opens the call in its
    trace, with a CSV download."""
    if found is None:
        return
    if found.empty:
        st.text("No call matches these filters.")
        return
    st.caption(f"{fmt.number(len(found))} calls · click a row to open it in its trace")
    shown = common.localize(found, ctx, ["start_time"])
    event = st.dataframe(
        shown, hide_index=True, width="stretch", key=f"{kind}_call_list", on_select="rerun",
        selection_mode=common.CLICKABLE, placeholder="–", column_order=column_order,
        column_config={"start_time": common.time_column(ctx, "start"), **column_config},
    )
    row = common.picked_row(event)
    if row is not None and row < len(found):
        open_in_trace(str(found["trace_id"].iloc[row]), str(found["span_id"].iloc[row]))
    common.download_csv(shown, f"{kind}_calls.csv", key=f"dl_{kind}_calls")


def llm_calls(ctx: common.PageContext, page_filters: dict[str, str]) -> None:
    st.subheader("Calls")
    values, sort, limit = _controls("llmc", ("text", "status", "duration", "cost", "tokens", "attribute", "session",
                                             "user", "service"), SORTS)
    found = common.load(data.llm_call_list, ctx.url, ctx.start, ctx.end, {**page_filters, **values}, sort, limit)
    _call_list(
        ctx, found, "llm",
        ["start_time", "agent_name", "provider", "model", "input_preview", "input_tokens", "output_tokens",
         "cached_input_tokens", "cost_usd", "duration_ms", "time_to_first_token_ms", "finish_reason", "success",
         "error_type", "request_model", "response_model"],
        {"input_preview": st.column_config.TextColumn("input", width="large"),
         "input_tokens": st.column_config.NumberColumn("tokens in", format="%d"),
         "output_tokens": st.column_config.NumberColumn("tokens out", format="%d"),
         "cached_input_tokens": st.column_config.NumberColumn("cached", format="%d"),
         "cost_usd": common.cost_column(),
         "duration_ms": st.column_config.NumberColumn("duration (ms)", format="%.0f"),
         "time_to_first_token_ms": st.column_config.NumberColumn("TTFT (ms)", format="%.0f")},
    )


def tool_calls(ctx: common.PageContext, page_filters: dict[str, str]) -> None:
    st.subheader("Calls")
    values, sort, limit = _controls("tlc", ("text", "status", "duration", "attribute", "session", "user", "service"),
                                    TOOL_SORTS)
    found = common.load(data.tool_call_list, ctx.url, ctx.start, ctx.end, {**page_filters, **values}, sort, limit)
    _call_list(
        ctx, found, "tool",
        ["start_time", "agent_name", "tool_name", "arguments", "result", "success", "error_message", "duration_ms",
         "tool_call_id"],
        {"arguments": st.column_config.TextColumn("arguments", width="medium"),
         "result": st.column_config.TextColumn("result", width="medium"),
         "duration_ms": st.column_config.NumberColumn("duration (ms)", format="%.1f")},
    )
