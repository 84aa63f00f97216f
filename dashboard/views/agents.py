"""Agents & registry: versions and environments; promote and roll back (operator role), history, audit."""

from __future__ import annotations

import streamlit as st

from agentotel.dashboard import common, data
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
    st.dataframe(mine.drop(columns=["name"]), hide_index=True, width="stretch")
    st.subheader(f"Per version, {ctx.range_label.lower()}")
    per_version = common.load(data.version_stats, ctx.url, name, ctx.start, ctx.end)
    if per_version is not None and not per_version.empty:
        st.dataframe(per_version, hide_index=True, width="stretch",
                     column_config={"error_rate": st.column_config.NumberColumn("error rate", format="percent"),
                                    "cost_usd": st.column_config.NumberColumn("cost", format="dollar"),
                                    "avg_duration_ms": st.column_config.NumberColumn("avg (ms)", format="%.0f")})
        executions = int(per_version["executions"].sum())
        st.text(f"{fmt.number(executions)} executions, cost {fmt.usd(per_version['cost_usd'].sum())}")

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
        st.dataframe(states.drop(columns=["agent_name", "deployment_id"]), hide_index=True, width="stretch")
    else:
        st.text("No version of this agent has been promoted yet.")
    st.subheader("Deployment history")
    history = common.load(data.deployments, ctx.url, name)
    if history is not None and not history.empty:
        st.dataframe(history, hide_index=True, width="stretch")
        common.download_csv(history, f"deployments_{name}.csv", key="dl_deployments")
    st.subheader("Audit log")
    audit = common.load(data.registry_audit, ctx.url, name)
    if audit is not None and not audit.empty:
        st.dataframe(audit, hide_index=True, width="stretch")
