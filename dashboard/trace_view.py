"""One trace: its figures, the evaluation scores attached to it, the span tree (indented, collapsible, type
icon, duration, tokens, cost, error mark) beside the waterfall, and the selected span's pane. Selecting a
span in the tree or in the waterfall opens its pane and puts it in the URL (``?trace=…&span=…``).

The pane starts with what matters for the span's type (model call: provider, models, tokens, cost, time to
first token, finish reason, parameters; tool: name, arguments, result, error; agent: input, output, totals and
resource use), then the conversation as chat, then raw attributes, events and resource (collapsed).
Everything that came from telemetry is rendered inert (``st.text``, ``st.code``, ``st.json``, tables, charts).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import streamlit as st

from agentotel.core import semconv as sc
from agentotel.core.messages import last_user_text, parse_messages
from agentotel.dashboard import auth, charts, common, content, data
from agentotel.dashboard import format as fmt

TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")
SPAN_ID = re.compile(r"^[0-9a-fA-F]{16}$")
ICONS = {"agent": "🤖", "llm": "💬", "tool": "🔧", "chain": "⛓", "retriever": "📚", "embedding": "🧮", "other": "•"}
PARAMETERS = (sc.REQUEST_TEMPERATURE, sc.REQUEST_MAX_TOKENS, sc.REQUEST_TOP_P, sc.REQUEST_TOP_K,
              sc.REQUEST_FREQUENCY_PENALTY, sc.REQUEST_PRESENCE_PENALTY, sc.REQUEST_STOP, sc.REQUEST_SEED,
              sc.REQUEST_CHOICE_COUNT, sc.REQUEST_STREAM)
TREE_KEY = "tv_tree"
WATERFALL_KEY = "tv_waterfall"


def open_span(trace_id: str, span_id: str | None) -> None:
    """Point the URL at a trace (and span) of the current page."""
    st.query_params["trace"] = trace_id
    if span_id:
        st.query_params["span"] = span_id
    elif "span" in st.query_params:
        del st.query_params["span"]


def close() -> None:
    for key in ("trace", "span"):
        if key in st.query_params:
            del st.query_params[key]


def show(ctx: common.PageContext, trace_id: str, span_id: str | None) -> None:
    """The whole trace view for ``trace_id`` (32 hex characters, checked by the caller)."""
    trace_id = trace_id.lower()
    if st.button("← All traces", key="tv_back"):
        close()
        st.rerun()
    spans = common.load(data.trace_spans, ctx.url, trace_id)
    if spans is None:
        return
    if spans.empty:
        st.warning("No trace with this id in the warehouse (yet).")
        st.text(trace_id)
        return
    auth.audit_decryption(ctx.user, f"trace {trace_id}")
    span_ids = spans["span_id"].tolist()
    selected = span_id.lower() if span_id and span_id.lower() in span_ids else span_ids[0]
    runs = common.load(data.trace_executions, ctx.url, trace_id)
    _header(ctx, trace_id, spans)
    _scores(ctx, trace_id, spans)

    left, right = st.columns([6, 5])  # the tree's columns show whole in 6/11 of a 1400 px window
    with left:
        st.subheader("Spans")
        visible = _collapse_controls(trace_id, spans)
        picked = _tree(spans[spans["span_id"].isin(visible)], selected)
    with right:
        st.subheader("Waterfall")
        clicked = _waterfall(spans[spans["span_id"].isin(visible)], selected)
    for choice in (picked, clicked):
        if choice and choice != selected:
            open_span(trace_id, choice)
            st.rerun()
    st.divider()
    _pane(ctx, trace_id, spans[spans["span_id"] == selected].iloc[0], runs)


def preview(ctx: common.PageContext, trace_id: str) -> None:
    """The waterfall of one trace under a list (the first one: what the list's order puts on top)."""
    spans = common.load(data.trace_spans, ctx.url, trace_id)
    if spans is None or spans.empty:
        return
    st.subheader("Waterfall")
    st.caption("The first trace of the list; click a row to open a trace with its spans, conversation and scores.")
    st.text(f"trace {trace_id} · {len(spans)} spans · {fmt.duration_ms(spans['duration_ms'].iloc[0])}")
    st.altair_chart(charts.waterfall(spans), width="stretch")


def _header(ctx: common.PageContext, trace_id: str, spans: pd.DataFrame) -> None:
    root = spans.iloc[0]
    st.text(f"trace {trace_id}\n{root['name']}")
    llm = spans[spans["span_type"].isin(["llm", "embedding"]) & spans["input_tokens"].notna()]
    errors = int((spans["status_code"] == "ERROR").sum())
    row = st.columns(6)
    row[0].metric("Duration", fmt.duration_ms(root["duration_ms"]))
    row[1].metric("Spans", fmt.number(len(spans)), help=f"{errors} with an error" if errors else None)
    row[2].metric("LLM calls", fmt.number(int(spans["span_type"].isin(["llm", "embedding"]).sum())))
    row[3].metric("Tokens in / out", f"{fmt.number(llm['input_tokens'].sum())} / {fmt.number(llm['output_tokens'].sum())}")
    row[4].metric("Cost", fmt.usd_precise(spans["cost_usd"].fillna(0).sum()))
    row[5].metric("Errors", fmt.number(errors))
    started = pd.Timestamp(root["start_time"]).tz_convert(ctx.tz)
    st.caption(f"Started {started:%Y-%m-%d %H:%M:%S} ({ctx.tz_name})")


def _scores(ctx: common.PageContext, trace_id: str, spans: pd.DataFrame) -> None:
    """Online evaluation results of the trace's runs and ``gen_ai.evaluation.result`` events on its spans."""
    stored = common.load(data.trace_scores, ctx.url, trace_id)
    rows = [] if stored is None else stored.to_dict("records")
    for span in spans.itertuples():
        for event in span.events or []:
            if isinstance(event, dict) and event.get("name") == sc.EVENT_EVALUATION_RESULT:
                attrs = event.get("attributes") or {}
                rows.append({"source": "span event", "name": attrs.get(sc.EVALUATION_NAME),
                             "value": attrs.get(sc.EVALUATION_SCORE_VALUE), "label": attrs.get(sc.EVALUATION_SCORE_LABEL),
                             "explanation": attrs.get(sc.EVALUATION_EXPLANATION), "span_id": span.span_id, "at": None})
    if not rows:
        return
    st.subheader("Evaluation scores")
    frame = pd.DataFrame(rows, columns=["source", "name", "value", "label", "explanation", "span_id", "at"])
    frame = common.localize(frame, ctx, ["at"])
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={"value": st.column_config.NumberColumn("score", format="%.3f"),
                                "at": common.time_column(ctx, "evaluated")})


def _collapse_controls(trace_id: str, spans: pd.DataFrame) -> set[str]:
    """Collapse and expand controls; returns the spans to show (descendants of collapsed spans hidden)."""
    key = f"tv_collapsed_{trace_id}"
    parents = spans.loc[spans["child_count"] > 0, "span_id"].tolist()
    names = dict(zip(spans["span_id"], spans["name"], strict=True))
    a, b = st.columns(2)
    if a.button("Collapse all", key="tv_collapse_all"):
        st.session_state[key] = parents[1:] if parents else []
    if b.button("Expand all", key="tv_expand_all"):
        st.session_state[key] = []
    collapsed = st.multiselect("Collapsed spans", parents, key=key,
                               format_func=lambda s: f"{str(names.get(s, ''))[:60]} ({s[:6]})")
    hidden: set[str] = set()
    children: dict[str, list[str]] = {}
    for span_id, parent in zip(spans["span_id"], spans["parent_span_id"], strict=True):
        children.setdefault(parent, []).append(span_id)
    stack = [c for p in collapsed for c in children.get(p, [])]
    while stack:
        node = stack.pop()
        if node not in hidden:
            hidden.add(node)
            stack.extend(children.get(node, []))
    return set(spans["span_id"]) - hidden


TYPE_ICONS = {"agent": "🤖", "llm": "💬", "tool": "🔧", "chain": "🔗", "retriever": "🔎", "embedding": "🧮",
              "other": "·"}


def tree_rows(spans: pd.DataFrame, collapsed: set[str] | None = None) -> pd.DataFrame:
    """The span tree as table rows: an indented label (expand mark, type icon, ⚠ when the span failed, name),
    duration, tokens and cost; the type and error mark also as columns of their own."""
    collapsed = collapsed or set()
    labels = []
    for span in spans.itertuples():
        mark = ("▸ " if span.span_id in collapsed else "▾ ") if span.child_count else "  "
        icon = TYPE_ICONS.get(str(span.span_type), TYPE_ICONS["other"])
        failed = "⚠ " if span.status_code == "ERROR" else ""
        labels.append(f"{'    ' * int(span.depth)}{mark}{icon} {failed}{str(span.name)[:80]}")
    tokens = spans["input_tokens"].fillna(0) + spans["output_tokens"].fillna(0)
    return pd.DataFrame({
        "span": labels,
        "type": spans["span_type"].fillna("other"),
        "duration_ms": spans["duration_ms"].astype(float),
        "tokens": [int(t) if t else None for t in tokens],
        "cost_usd": spans["cost_usd"],
        "error": ["⚠" if s == "ERROR" else "" for s in spans["status_code"]],
        "span_id": spans["span_id"],
    })


def _tree(spans: pd.DataFrame, selected: str) -> str | None:
    """The tree as a single-row-selectable table; returns the span a click selected."""
    rows = tree_rows(spans)
    ids = rows["span_id"].tolist()
    default: Any = {"selection": {"rows": [ids.index(selected)] if selected in ids else [], "columns": [], "cells": []}}
    event = st.dataframe(
        rows, hide_index=True, width="stretch", key=f"{TREE_KEY}_{selected}", on_select="rerun",
        selection_mode=common.CLICKABLE, selection_default=default, placeholder="", height="auto" if len(rows) <= 16 else 600,
        column_order=["span", "duration_ms", "tokens", "cost_usd"],  # type and failure: the label's icon and ⚠
        column_config={"span": st.column_config.TextColumn("span", width="medium"),
                       "duration_ms": st.column_config.NumberColumn("ms", format="%.1f", width="small",
                                                                    help="duration in milliseconds"),
                       "tokens": st.column_config.NumberColumn("tokens", format="%d", width="small"),
                       "cost_usd": common.cost_column(width="small")},
    )
    row = common.picked_row(event)
    return ids[row] if row is not None and row < len(ids) else None


def _waterfall(spans: pd.DataFrame, selected: str) -> str | None:
    event = st.altair_chart(charts.waterfall(spans, selected), width="stretch", key=f"{WATERFALL_KEY}_{selected}",
                            on_select="rerun", selection_mode="span")
    try:
        points = event.selection["span"]
    except (AttributeError, KeyError, TypeError):
        return None
    if isinstance(points, list) and points and isinstance(points[0], dict):
        return str(points[0].get("span_id") or "") or None
    return None


# --------------------------------------------------------------------------------------------- the pane


def _pane(ctx: common.PageContext, trace_id: str, span: pd.Series, runs: pd.DataFrame | None) -> None:
    found = common.load(data.span_content, ctx.url, trace_id, span["span_id"]) or {}
    kind = span["span_type"] if span["span_type"] in ICONS else "other"
    st.subheader("Span details")
    st.markdown(f"**{ICONS[kind]} Selected {kind} span**")
    status = span["status_code"] + (f" ({span['status_message']})" if span["status_message"] else "")
    started = pd.Timestamp(span["start_time"]).tz_convert(ctx.tz)
    st.text(f"{span['name']}\nspan {span['span_id']} · status {status} · {fmt.duration_ms(span['duration_ms'])} · "
            f"started {started:%H:%M:%S.%f}"[:-3] + f" ({ctx.tz_name}) · service {span['service_name'] or '–'}")
    attributes = found.get("attributes") or {}
    if kind in ("llm", "embedding"):
        _model_call(span, attributes)
    elif kind == "tool":
        _tool_call(span, found)
    elif kind == "agent":
        _agent_io(found)
        _agent_run(span, runs)
    if kind != "tool":
        inputs = parse_messages(found.get("input"), "user")
        outputs = parse_messages(found.get("output"), "assistant")
        if inputs or outputs:
            st.markdown("**Conversation**")
            content.conversation(inputs + outputs)
    _exceptions(span)
    with st.expander("Attributes"):
        st.json(readable(attributes), expanded=True)
    with st.expander("Events, links and resource"):
        st.json({"events": found.get("events") or [], "links": found.get("links") or [],
                 "resource": found.get("resource_attributes") or {},
                 "scope": f"{found.get('scope_name') or ''} {found.get('scope_version') or ''}".strip()}, expanded=False)


def readable(attributes: dict[str, Any]) -> dict[str, Any]:
    """Attributes with JSON-valued strings (captured messages, tool arguments) parsed, so they show as
    structures rather than escaped one-line strings."""
    out: dict[str, Any] = {}
    for key, value in attributes.items():
        if isinstance(value, str) and value[:1] in ("[", "{"):
            try:
                out[key] = json.loads(value)
                continue
            except ValueError:
                pass
        out[key] = value
    return out


def _model_call(span: pd.Series, attributes: dict[str, Any]) -> None:
    row = st.columns(4)
    row[0].metric("Provider", str(span["provider"] or "–"))
    row[1].metric("Tokens in / out", f"{fmt.number(span['input_tokens'])} / {fmt.number(span['output_tokens'])}",
                  help=f"cached input tokens: {fmt.number(span['cached_input_tokens'])}")
    row[2].metric("Cost", fmt.usd_precise(span["cost_usd"]))
    row[3].metric("Time to first token", fmt.duration_ms(span["time_to_first_token_ms"]))
    details = {
        "request model": span["request_model"], "response model": span["response_model"],
        "cached input tokens": span["cached_input_tokens"], "finish reason": span["finish_reason"],
        **{key.removeprefix("gen_ai.request."): attributes[key] for key in PARAMETERS if key in attributes},
    }
    st.dataframe(_pairs(details), hide_index=True, width="stretch")


def _tool_call(span: pd.Series, found: dict[str, Any]) -> None:
    attributes = found.get("attributes") or {}
    st.text(f"tool {span['tool_name'] or attributes.get(sc.TOOL_NAME) or '?'}"
            + (f" · call id {attributes.get(sc.TOOL_CALL_ID)}" if attributes.get(sc.TOOL_CALL_ID) else ""))
    left, right = st.columns(2)
    with left:
        st.caption("Arguments")
        st.code(content.pretty(found.get("input") or attributes.get(sc.TOOL_CALL_ARGUMENTS) or "(not captured)"),
                language="json", wrap_lines=True)
    with right:
        st.caption("Result")
        result = found.get("output") or attributes.get(sc.TOOL_CALL_RESULT)
        content.long_text(content.pretty(result) if result else "(not captured)", code=True)
    if span["status_code"] == "ERROR":
        st.error("The tool call failed:")
        st.code(str(span["status_message"] or attributes.get(sc.ERROR_TYPE) or "error"), language=None)


def _agent_io(found: dict[str, Any]) -> None:
    """An agent run's input (what it was asked) and output (its answer), as text."""
    left, right = st.columns(2)
    with left:
        st.caption("Input")
        asked = last_user_text(found.get("input"))
        content.long_text(asked or "(not captured)", code=True)
    with right:
        st.caption("Output")
        answer = "\n".join(m.text for m in parse_messages(found.get("output"), "assistant") if m.text)
        content.long_text(answer or "(not captured)", code=True)


def _agent_run(span: pd.Series, runs: pd.DataFrame | None) -> None:
    mine = None if runs is None or runs.empty else runs[runs["span_id"] == span["span_id"]]
    if mine is None or mine.empty:
        st.text(f"agent {span['agent_name'] or '?'} {span['agent_version'] or ''}")
        return
    run = mine.iloc[0]
    st.text(f"agent {run['agent_name'] or '?'} {run['agent_version'] or ''}"
            + (f" · session {run['conversation_id']}" if run["conversation_id"] else "")
            + (f" · user {run['user_id']}" if run["user_id"] else ""))
    row = st.columns(5)
    row[0].metric("LLM calls", fmt.number(run["llm_call_count"]))
    row[1].metric("Tool calls", fmt.number(run["tool_call_count"]))
    row[2].metric("Tokens in / out", f"{fmt.number(run['input_tokens'])} / {fmt.number(run['output_tokens'])}")
    row[3].metric("Cost", fmt.usd_precise(run["cost_usd"]))
    row[4].metric("Duration", fmt.duration_ms(run["duration_ms"]))
    resources = run["metadata"] if isinstance(run["metadata"], dict) else {}
    if resources:
        used = st.columns(4)
        used[0].metric("Peak RSS", fmt.byte_size(resources.get(sc.EXEC_RSS_PEAK)))
        used[1].metric("RSS at start", fmt.byte_size(resources.get(sc.EXEC_RSS_START)))
        used[2].metric("RSS at end", fmt.byte_size(resources.get(sc.EXEC_RSS_END)))
        used[3].metric("Thread CPU time", fmt.seconds(resources.get(sc.EXEC_THREAD_CPU_TIME)))


def _exceptions(span: pd.Series) -> None:
    for event in span["events"] or []:
        if isinstance(event, dict) and event.get("name") == "exception":
            attrs = event.get("attributes") or {}
            st.error("Exception recorded on this span:")
            st.code("\n".join(str(attrs.get(k)) for k in ("exception.type", "exception.message", "exception.stacktrace")
                              if attrs.get(k)), language=None)


def _pairs(values: dict[str, Any]) -> pd.DataFrame:
    shown = {k: v for k, v in values.items() if v is not None and v == v}
    return pd.DataFrame({"field": list(shown), "value": [json.dumps(v) if isinstance(v, (list, dict)) else str(v)
                                                          for v in shown.values()]})
