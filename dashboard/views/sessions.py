"""Sessions: conversations grouped by ``gen_ai.conversation.id`` (first and last time, traces, turns, tokens,
cost, errors, user, agents), searched and filtered from the sidebar; clicking a row opens the session: the
whole conversation across its traces in order, each turn linking to its trace. ``?session=<id>`` opens
a session directly. Content is rendered inert."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from agentotel.core.messages import last_user_text, parse_messages
from agentotel.dashboard import auth, common, content, data, filters
from agentotel.dashboard import format as fmt
from agentotel.dashboard.trace_view import TRACE_ID

SORTS = {"Latest activity first": "last_time", "Oldest start first": "first_time", "Most traces first": "traces",
         "Most agent runs first": "runs", "Most errors first": "errors"}


def show_session(ctx: common.PageContext, session: str) -> None:
    if st.button("← All sessions", key="ss_back"):
        del st.query_params["session"]
        st.rerun()
    st.text(f"session {session}")
    turns = common.load(data.session_turns, ctx.url, session)
    if turns is None:
        return
    if turns.empty:
        st.warning("No agent run belongs to this session (yet).")
        return
    auth.audit_decryption(ctx.user, f"session {session}")
    failed = int((~turns["success"].astype(bool)).sum())
    row = st.columns(5)
    row[0].metric("Turns", fmt.number(len(turns)), help=f"in {turns['trace_id'].nunique()} traces")
    row[1].metric("Tokens in / out", f"{fmt.number(turns['input_tokens'].sum())} / {fmt.number(turns['output_tokens'].sum())}")
    row[2].metric("Cost", fmt.usd_precise(turns["cost_usd"].sum()))
    row[3].metric("Failed turns", fmt.number(failed))
    row[4].metric("User", str(turns["user"].dropna().iloc[0])[:40] if turns["user"].notna().any() else "–")
    times = common.localize(turns, ctx, ["start_time"])["start_time"]
    st.caption(f"From {times.iloc[0]:%Y-%m-%d %H:%M:%S} to {times.iloc[-1]:%Y-%m-%d %H:%M:%S} ({ctx.tz_name})")
    st.subheader("Conversation")
    for number, (turn, at) in enumerate(zip(turns.itertuples(), times, strict=True), start=1):
        with st.container(border=True):
            head, link = st.columns([5, 1])
            with head:
                st.text(f"Turn {number} · {at:%H:%M:%S} · {turn.agent_name or '–'} {turn.agent_version or ''} · "
                        f"{fmt.duration_ms(turn.duration_ms)} · {fmt.number(turn.input_tokens + turn.output_tokens)} "
                        f"tokens · {fmt.usd_precise(turn.cost_usd)}" + ("" if turn.success else " · FAILED"))
            if TRACE_ID.match(str(turn.trace_id)):  # hex only: safe inside a Markdown link
                link.markdown(f"[Open trace](traces?trace={turn.trace_id})")
            asked = last_user_text(turn.input)
            content.conversation(parse_messages(asked, "user") if asked else [], empty="(the question was not captured)")
            if turn.tools:
                st.text(f"tools: {turn.tools}")
            content.conversation(parse_messages(turn.output, "assistant"), empty="(the answer was not captured)")
            if not turn.success and isinstance(turn.error_message, str):
                st.text(f"error: {turn.error_message[:500]}")


ctx = common.page("Sessions")
session = common.query_value("session")
if session:
    show_session(ctx, session[:255])
    st.stop()

values = filters.search_filters("ss")
with st.sidebar:
    sort = SORTS[st.selectbox("Order", list(SORTS), key="ss_sort")]
    limit = st.slider("Rows", 10, 500, 100, step=10, key="ss_limit")
found = common.load(data.session_list, ctx.url, ctx.start, ctx.end, values or None, sort, limit)
if found is not None and found.empty:
    if values:
        st.info("No session matches these filters.")
    else:
        st.info("No sessions in this time range. A session groups the traces that carry the same "
                "gen_ai.conversation.id (set it on your agent spans, e.g. with AgentTracer's conversation id).")
elif found is not None:
    st.caption(f"{fmt.number(len(found))} sessions, {ctx.range_label.lower()} · click a row to open the conversation")
    shown = common.localize(found, ctx, ["first_time", "last_time"])
    event = st.dataframe(
        shown, hide_index=True, width="stretch", key="ss_list", on_select="rerun", height=common.table_height(len(shown)), selection_mode=common.CLICKABLE, placeholder="–",
        column_order=["session", "last_time", "first_time", "turns", "traces", "errors", "user", "agents",
                      "input_tokens", "output_tokens", "cost_usd"],
        column_config={"first_time": common.time_column(ctx, "first"), "last_time": common.time_column(ctx, "last"),
                       "errors": st.column_config.NumberColumn("failed runs", format="%d"),
                       "input_tokens": st.column_config.NumberColumn("tokens in", format="%d"),
                       "output_tokens": st.column_config.NumberColumn("tokens out", format="%d"),
                       "cost_usd": common.cost_column()},
    )
    row = common.picked_row(event)
    if row is not None and row < len(found):
        st.query_params["session"] = str(found["session"].iloc[row])
        st.rerun()
    common.download_csv(pd.DataFrame(shown), "sessions.csv", key="dl_sessions")
