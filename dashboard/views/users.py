"""Users (``user.id`` / ``enduser.id`` and the dialects' spellings): sessions, traces, agent runs, failed
runs, tokens and cost per user; clicking a row (or ``?user=<id>``) shows the user's sessions and traces,
each linking to its own view."""

from __future__ import annotations

from urllib.parse import quote

import streamlit as st

from agentotel.dashboard import common, data, filters
from agentotel.dashboard import format as fmt

SORTS = {"Latest activity first": "last_time", "Most sessions first": "sessions", "Most traces first": "traces",
         "Most errors first": "errors"}


def show_user(ctx: common.PageContext, user: str) -> None:
    if st.button("← All users", key="us_back"):
        del st.query_params["user"]
        st.rerun()
    st.text(f"user {user}")
    mine = {"user": user}
    figures = common.load(data.user_list, ctx.url, ctx.start, ctx.end, mine, "last_time", 1)
    if figures is not None and not figures.empty:
        one = figures.iloc[0]
        row = st.columns(5)
        row[0].metric("Sessions", fmt.number(one["sessions"]))
        row[1].metric("Traces", fmt.number(one["traces"]))
        row[2].metric("Failed runs", fmt.number(one["errors"]))
        row[3].metric("Tokens", fmt.number(one["total_tokens"]))
        row[4].metric("Cost", fmt.usd_precise(one["cost_usd"]))
    else:
        st.info(f"No activity of this user {ctx.range_label.lower()}.")
    st.subheader("Sessions")
    found = common.load(data.session_list, ctx.url, ctx.start, ctx.end, mine, "last_time", 200)
    if found is not None and not found.empty:
        shown = common.localize(found, ctx, ["first_time", "last_time"]).assign(
            open=[f"sessions?session={quote(str(s), safe='')}" for s in found["session"]])
        st.dataframe(shown, hide_index=True, width="stretch",
                     column_order=["open", "last_time", "turns", "traces", "errors", "agents", "total_tokens", "cost_usd"],
                     column_config={"open": st.column_config.LinkColumn("session", display_text=r"session=(.*)$"),
                                    "last_time": common.time_column(ctx, "last"), "cost_usd": common.cost_column()})
    st.subheader("Traces")
    traces = common.load(data.recent_traces, ctx.url, ctx.start, ctx.end, limit=200, filters=mine)
    if traces is not None and not traces.empty:
        shown = common.localize(traces, ctx, ["start_time"]).assign(
            open=[f"traces?trace={t}" for t in traces["trace_id"]])
        st.dataframe(shown, hide_index=True, width="stretch",
                     column_order=["open", "start_time", "agent_name", "input_preview", "status", "duration_ms",
                                   "total_tokens", "cost_usd"],
                     column_config={"open": st.column_config.LinkColumn("trace", display_text=r"trace=(.{12})"),
                                    "start_time": common.time_column(ctx, "start"),
                                    "input_preview": st.column_config.TextColumn("input", width="large"),
                                    "duration_ms": st.column_config.NumberColumn("duration (ms)", format="%.0f"),
                                    "cost_usd": common.cost_column()})


ctx = common.page("Users")
user = common.query_value("user")
if user:
    show_user(ctx, user[:255])
    st.stop()

values = filters.search_filters("us", fields=("text", "agent", "service", "status", "model", "tool", "attribute"))
with st.sidebar:
    sort = SORTS[st.selectbox("Order", list(SORTS), key="us_sort")]
found = common.load(data.user_list, ctx.url, ctx.start, ctx.end, values or None, sort, 200)
if found is not None and found.empty:
    st.info("No users in this time range. Set user.id (or enduser.id) on your agent spans to see who uses them.")
elif found is not None:
    st.caption(f"{fmt.number(len(found))} users, {ctx.range_label.lower()} · click a row to open the user")
    shown = common.localize(found, ctx, ["first_time", "last_time"])
    event = st.dataframe(
        shown, hide_index=True, width="stretch", key="us_list", on_select="rerun", height=common.table_height(len(shown)), selection_mode=common.CLICKABLE, placeholder="–",
        column_config={"first_time": common.time_column(ctx, "first"), "last_time": common.time_column(ctx, "last"),
                       "errors": st.column_config.NumberColumn("failed runs", format="%d"),
                       "cost_usd": common.cost_column()},
    )
    row = common.picked_row(event)
    if row is not None and row < len(found):
        st.query_params["user"] = str(found["user"].iloc[row])
        st.rerun()
    common.download_csv(shown, "users.csv", key="dl_users")
