"""Agents & registry: versions and environments; the agent graph (sub-agents, tools and models it calls, with
calls, error rate and p95 on each edge) and its resource use (peak RSS and CPU time per run, p50/p95); promote
and roll back (operator role), history, audit."""

from __future__ import annotations

import streamlit as st

from agentotel.dashboard import charts, common, data
from agentotel.dashboard import format as fmt

ENVIRONMENTS = ("dev", "staging", "prod")

ctx = common.page("Agents & registry")
versions = common.load(data.agent_versions, ctx.url)
if versions is not None and versions.empty:
    common.empty_state("agents")
elif versions is not None:
    names = sorted(versions["name"].unique().tolist())
    name = st.selectbox("Agent", names, key="ag_name")
    mine = versions[versions["name"] == name]
    states = common.load(data.environment_states, ctx.url, name)
    active = {} if states is None else dict(zip(states["environment"], states["version"]))

    row = st.columns(4)
    row[0].metric("Versions", fmt.number(len(mine)))
    for column, env in zip(row[1:], ENVIRONMENTS):
        column.metric(env, active.get(env, "–"))

    st.subheader("Versions")
    st.dataframe(common.localize(mine.drop(columns=["name"]), ctx, ["created_at", "last_seen_at"]), hide_index=True,
                 width="stretch", column_config={"created_at": common.time_column(ctx, "created"),
                                                 "last_seen_at": common.time_column(ctx, "last seen")})
    st.subheader(f"Per version, {ctx.range_label.lower()}")
    per_version = common.load(data.version_stats, ctx.url, name, ctx.start, ctx.end)
    if per_version is not None and not per_version.empty:
        st.dataframe(common.localize(per_version, ctx, ["last_execution"]), hide_index=True, width="stretch",
                     column_config={"error_rate": st.column_config.NumberColumn("error rate", format="percent"),
                                    "cost_usd": common.cost_column(),
                                    "avg_duration_ms": st.column_config.NumberColumn("avg (ms)", format="%.0f"),
                                    "last_execution": common.time_column(ctx, "last execution")})
        executions = int(per_version["executions"].sum())
        st.text(f"{fmt.number(executions)} executions, cost {fmt.usd_precise(per_version['cost_usd'].sum())}")

    st.subheader("Agent graph")
    st.caption(f"From this agent's newest {fmt.number(data.GRAPH_RUNS)} runs in the range.")
    seen = [v for v in (per_version["version"].tolist() if per_version is not None else []) if v]
    graph_version = st.selectbox("Version", ["All versions", *seen], key="ag_graph_version")
    edges = common.load(data.agent_graph, ctx.url, ctx.start, ctx.end, name,
                        None if graph_version == "All versions" else graph_version)
    if edges is not None and edges.empty:
        st.text(f"No run of this agent {ctx.range_label.lower()}: nothing to draw.")
    elif edges is not None:
        st.graphviz_chart(charts.graph_dot(edges), width="stretch")
        st.dataframe(edges, hide_index=True, width="stretch",
                     column_config={"error_rate": st.column_config.NumberColumn("error rate", format="percent"),
                                    "p50_ms": st.column_config.NumberColumn("p50 (ms)", format="%.0f"),
                                    "p95_ms": st.column_config.NumberColumn("p95 (ms)", format="%.0f")})

    st.subheader("Resource use per run")
    used = common.load(data.agent_resources, ctx.url, ctx.start, ctx.end, name)
    if used is not None and used.empty:
        st.text("No run reported its memory and CPU use (instrument() records them on invoke_agent spans).")
    elif used is not None:
        st.dataframe(used.drop(columns=["agent_name"]), hide_index=True, width="stretch",
                     column_config={"rss_peak_p50": st.column_config.NumberColumn("peak RSS p50", format="bytes"),
                                    "rss_peak_p95": st.column_config.NumberColumn("peak RSS p95", format="bytes"),
                                    "rss_growth_p95": st.column_config.NumberColumn("RSS growth p95", format="bytes"),
                                    "cpu_time_p50": st.column_config.NumberColumn("CPU time p50 (s)", format="%.3f"),
                                    "cpu_time_p95": st.column_config.NumberColumn("CPU time p95 (s)", format="%.3f")})

    registered = mine[mine["source"] == "registry"]["version"].tolist()
    if not ctx.user.can("operator"):
        st.info("Promoting and rolling back versions needs the operator role.")
    elif not registered:
        st.info("No registered version of this agent yet: register one with agentotel registry register.")
    else:
        left, right = st.columns(2)
        with left, st.form("promote_form"):
            st.subheader("Promote")
            version = st.selectbox("Version", registered[::-1], key="ag_promote_version")
            environment = st.selectbox("To environment", ENVIRONMENTS, key="ag_promote_env")
            reason = st.text_input("Reason", key="ag_promote_reason")
            override = st.text_input("Override reason (forces past a refusing gate; audited)", key="ag_promote_override")
            promote = st.form_submit_button("Promote")
        with right, st.form("rollback_form"):
            st.subheader("Roll back")
            rb_environment = st.selectbox("Environment", ENVIRONMENTS, key="ag_rollback_env")
            rb_reason = st.text_input("Reason (required)", key="ag_rollback_reason")
            rollback = st.form_submit_button("Roll back")
        if promote:
            done = common.load(data.promote, ctx.url, name, version, environment, actor=ctx.user.name, reason=reason,
                               override_reason=override, expected_active=active.get(environment))
            if done is not None:
                common.flash("Promoted.", f"{name} {done.version} is now active in {done.environment}")
        if rollback:
            if not rb_reason.strip():
                st.warning("A rollback needs a reason.")
            else:
                done = common.load(data.rollback, ctx.url, name, rb_environment, actor=ctx.user.name,
                                   reason=rb_reason, expected_active=active.get(rb_environment))
                if done is not None:
                    common.flash("Rolled back.", f"{name} {done.version} is now active in {done.environment}")

    st.subheader("Environments")
    states = common.load(data.environment_states, ctx.url, name)
    if states is not None and not states.empty:
        st.dataframe(common.localize(states.drop(columns=["agent_name", "deployment_id"]), ctx, ["since"]),
                     hide_index=True, width="stretch", column_config={"since": common.time_column(ctx, "since")})
    else:
        st.text("No version of this agent has been promoted yet.")
    st.subheader("Deployment history")
    history = common.load(data.deployments, ctx.url, name)
    if history is not None and not history.empty:
        st.dataframe(common.localize(history, ctx, ["created_at"]), hide_index=True, width="stretch",
                     column_config={"created_at": common.time_column(ctx, "at")})
        common.download_csv(history, f"deployments_{name}.csv", key="dl_deployments")
    st.subheader("Audit log")
    audit = common.load(data.registry_audit, ctx.url, name)
    if audit is not None and not audit.empty:
        st.dataframe(common.localize(audit, ctx, ["at"]), hide_index=True, width="stretch",
                     column_config={"at": common.time_column(ctx, "at"),
                                    "reason": st.column_config.TextColumn("reason", width="large")})
