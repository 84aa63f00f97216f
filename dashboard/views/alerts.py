"""Alerts: pending / firing / resolved, acknowledge and resolve (operator role), notification delivery
status and dead letters."""

from __future__ import annotations

import streamlit as st

from agentotel.dashboard import common, data
from agentotel.dashboard import format as fmt

SEVERITIES = ("critical", "error", "warning", "info")
DELIVERY_STATUSES = ("pending", "sending", "delivered", "dead", "skipped", "suppressed")

ctx = common.page("Alerts")
severity = common.choice("Severity", SEVERITIES, "al_severity")
counts = common.load(data.alert_counts, ctx.url)
if counts is not None:
    row = st.columns(4)
    row[0].metric("Firing", fmt.number(counts["firing"]))
    row[1].metric("Unacknowledged", fmt.number(counts["unacknowledged"]))
    row[2].metric("Pending", fmt.number(counts["pending"]))
    row[3].metric("Resolved", fmt.number(counts["resolved"]))

firing_tab, pending_tab, resolved_tab, delivery_tab = st.tabs(["Firing", "Pending", "Resolved", "Notifications"])

with firing_tab:
    firing = common.load(data.alerts, ctx.url, "firing", severity)
    if firing is not None and firing.empty:
        st.success("Nothing is firing.")
    elif firing is not None:
        shown = firing[["id", "severity", "rule_id", "message", "value", "labels", "acknowledged", "acknowledged_by",
                        "timestamp"]]
        st.dataframe(shown, hide_index=True, width="stretch")
        common.download_csv(shown, "firing_alerts.csv", key="dl_firing")
        if ctx.user.can("operator"):
            messages = dict(zip(firing["id"], firing["rule_id"]))
            alert_id = st.selectbox("Alert", firing["id"].tolist(), key="al_pick",
                                    format_func=lambda i: f"#{i} {str(messages.get(i, ''))[:80]}")
            left, right = st.columns(2)
            if left.button("Acknowledge", key="al_ack"):
                done = common.load(data.acknowledge_alert, ctx.url, alert_id, ctx.user.name)
                if done is not None:
                    common.flash("Acknowledged.", f"alert #{alert_id}")
            if right.button("Resolve", key="al_resolve"):
                done = common.load(data.resolve_alert, ctx.url, alert_id, ctx.user.name)
                if done is not None:
                    common.flash("Resolved.", f"alert #{alert_id}")
        else:
            st.info("Acknowledging and resolving alerts needs the operator role.")

with pending_tab:
    pending = common.load(data.pending_alert_series, ctx.url)
    if pending is not None and pending.empty:
        st.text("No rule is pending (a pending rule's condition holds but its 'for' time has not passed).")
    elif pending is not None:
        st.dataframe(pending, hide_index=True, width="stretch")

with resolved_tab:
    resolved = common.load(data.alerts, ctx.url, "resolved", severity, ctx.start, ctx.end)
    if resolved is not None and resolved.empty:
        st.text(f"No alert resolved in the {ctx.range_label.lower()}.")
    elif resolved is not None:
        shown = resolved[["id", "severity", "rule_id", "message", "timestamp", "resolved_at", "acknowledged_by"]]
        st.dataframe(shown, hide_index=True, width="stretch")
        common.download_csv(shown, "resolved_alerts.csv", key="dl_resolved")

with delivery_tab:
    status = st.selectbox("Delivery status", ["All", *DELIVERY_STATUSES], key="al_delivery_status")
    deliveries = common.load(data.notifications, ctx.url, None if status == "All" else status)
    if deliveries is not None and deliveries.empty:
        st.text("No notifications queued.")
    elif deliveries is not None:
        st.dataframe(deliveries, hide_index=True, width="stretch")
        common.download_csv(deliveries, "notifications.csv", key="dl_notifications")
    st.subheader("Dead letters")
    dead = common.load(data.notifications, ctx.url, "dead")
    if dead is not None and dead.empty:
        st.text("No dead letters: every notification was delivered or is still being retried.")
    elif dead is not None:
        st.dataframe(dead, hide_index=True, width="stretch")
    st.subheader("Channels")
    channels = common.load(data.channel_states, ctx.url)
    if channels is not None and not channels.empty:
        st.dataframe(channels, hide_index=True, width="stretch")
