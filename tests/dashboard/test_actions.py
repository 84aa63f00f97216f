"""Buttons that change the database: acknowledge / resolve an alert, promote / roll back a version — each
leaves one audit row naming the signed-in user (P6); viewers get no buttons."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agentotel.alerting.manager import AlertManager
from agentotel.dashboard.auth import API_KEYS_ENV, USERS_ENV, hash_api_key, hash_password
from agentotel.registry import AgentMetadata, AgentRegistry, VersionManager
from agentotel.warehouse.alerting_models import AlertAuditLog
from agentotel.warehouse.registry_models import RegistryAuditEntry
from tests.dashboard.support import dashboard_env
from tests.dashboard.test_pages import assert_clean, run_page

USERS = ",".join([f"olivia:operator:{hash_password('olivia-pass', iterations=1000)}",
                  f"victor:viewer:{hash_password('victor-pass', iterations=1000)}"])


def alert_audit(engine, alert_id: int) -> list[tuple[str, str]]:
    t = AlertAuditLog.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.actor, t.c.action).where(t.c.target_type == "alert", t.c.target_id == str(alert_id))
                            .order_by(t.c.id)).all()
    return [tuple(r) for r in rows]


def registry_audit(engine) -> list[tuple[str, str, str, str | None]]:
    t = RegistryAuditEntry.__table__
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.actor, t.c.action, t.c.outcome, t.c.environment).order_by(t.c.id)).all()
    return [tuple(r) for r in rows]


def sign_in(at, username: str, password: str):
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    return at.button[0].click().run()


@pytest.mark.slow
def test_operator_acknowledges_then_resolves_an_alert(engine, db_url, monkeypatch):
    dashboard_env(monkeypatch, db_url, **{USERS_ENV: USERS})
    manager = AlertManager(engine)
    alert_id = manager.create_alert("high-error-rate", "critical", "Error rate 40% on sql-agent",
                                    labels={"agent": "sql-agent"}, value=0.4, by="rules")
    at = sign_in(run_page("alerts"), "olivia", "olivia-pass")
    assert_clean(at)
    assert at.selectbox(key="al_pick").value == alert_id
    at.button(key="al_ack").click().run()
    assert_clean(at)
    alert = manager.get_alert(alert_id)
    assert alert["acknowledged"] is True and alert["acknowledged_by"] == "olivia"
    at.button(key="al_resolve").click().run()
    assert manager.get_alert(alert_id)["status"] == "resolved"
    assert alert_audit(engine, alert_id) == [("rules", "create"), ("olivia", "acknowledge"), ("olivia", "resolve")]
    assert {m.label: m.value for m in at.metric}["Firing"] == "0"


@pytest.mark.slow
def test_viewer_sees_alerts_but_no_action_buttons(engine, db_url, monkeypatch):
    dashboard_env(monkeypatch, db_url, **{USERS_ENV: USERS})
    AlertManager(engine).create_alert("slow", "warning", "p95 slow", labels={"agent": "a"}, by="rules")
    at = sign_in(run_page("alerts"), "victor", "victor-pass")
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Firing"] == "1"
    assert not [b for b in at.button if b.key in ("al_ack", "al_resolve")]
    assert any("operator role" in i.value for i in at.info)


def _register(engine) -> None:
    registry = AgentRegistry(engine)
    for version in ("1.2.0", "1.3.0"):
        registry.register_agent(AgentMetadata("support-agent", version), actor="seed")
    registry.versions.promote("support-agent", "1.2.0", "dev", actor="seed")


def _submit(at, label: str):
    return next(b for b in at.button if b.label == label).click().run()


@pytest.mark.slow
def test_operator_promotes_and_rolls_back_with_audit(engine, db_url, monkeypatch):
    dashboard_env(monkeypatch, db_url, **{API_KEYS_ENV: f"ci-bot:operator:{hash_api_key('k-123456789')}"})
    _register(engine)
    at = run_page("agents")
    at.text_input(key="login_api_key").input("k-123456789")
    at = at.button[0].click().run()
    assert_clean(at)
    at.selectbox(key="ag_name").set_value("support-agent")
    at.selectbox(key="ag_promote_version").set_value("1.3.0")
    at.selectbox(key="ag_promote_env").set_value("dev")
    at.text_input(key="ag_promote_reason").input("fixes refunds")
    at = _submit(at, "Promote")
    assert_clean(at)
    versions = VersionManager(engine)
    assert versions.active_version("support-agent", "dev") == "1.3.0"
    assert {m.label: m.value for m in at.metric}["dev"] == "1.3.0"

    # staging needs a completed evaluation run: the gate refuses, the page explains, the attempt is audited
    at.selectbox(key="ag_promote_env").set_value("staging")
    at = _submit(at, "Promote")
    assert not at.exception
    refusal = [w.value for w in at.warning if w.value.startswith("Refused")]
    assert refusal and "refused by the gate" in refusal[0]  # the reason in the message itself, at once
    assert not any("cannot be done" in e.value for e in [*at.warning, *at.error])
    assert versions.active_version("support-agent", "staging") is None
    audit = next(d.value for d in at.dataframe if "outcome" in d.value and "reason" in d.value)  # the page's list
    refused = audit[audit["outcome"] == "refused"]
    assert list(refused["environment"]) == ["staging"] and "refused by the gate" in refused["reason"].iloc[0]

    at.selectbox(key="ag_rollback_env").set_value("dev")
    at.text_input(key="ag_rollback_reason").input("answers got worse")
    at = _submit(at, "Roll back")
    assert_clean(at)
    assert versions.active_version("support-agent", "dev") == "1.2.0"
    mine = [row for row in registry_audit(engine) if row[0] == "ci-bot"]
    assert mine == [("ci-bot", "promote", "ok", "dev"), ("ci-bot", "promote", "refused", "staging"),
                    ("ci-bot", "rollback", "ok", "dev")]


def test_rollback_needs_a_reason(engine, db_url, monkeypatch):
    dashboard_env(monkeypatch, db_url)
    _register(engine)
    at = run_page("agents", ag_name="support-agent")
    at.selectbox(key="ag_rollback_env").set_value("dev")
    at = _submit(at, "Roll back")
    assert any("needs a reason" in w.value for w in at.warning)
    assert VersionManager(engine).active_version("support-agent", "dev") == "1.2.0"


@pytest.mark.slow
def test_alerts_page_shows_deliveries_and_dead_letters(engine, db_url, monkeypatch):
    from datetime import timedelta

    from agentotel.alerting.queue import NotificationQueue
    from agentotel.core.utc import utcnow

    dashboard_env(monkeypatch, db_url)
    manager = AlertManager(engine)
    alert_id = manager.create_alert("tool-error-rate", "warning", "run_sql failing", labels={"tool": "run_sql"}, by="rules")
    queue = NotificationQueue(engine)  # no handler for "pagerduty": the delivery becomes a dead letter
    assert queue.enqueue(manager.get_alert(alert_id), "pagerduty") is not None
    assert queue.enqueue(manager.get_alert(alert_id), "slack", now=utcnow() + timedelta(hours=1)) is not None
    queue.process_due(now=utcnow() + timedelta(minutes=5))
    at = run_page("alerts")
    assert_clean(at)
    deliveries = [d.value for d in at.dataframe if tuple(d.value.columns)[:3] == ("id", "alert_id", "channel")]
    assert len(deliveries) == 2  # all notifications, then the dead letters
    everything = deliveries[0]
    assert dict(zip(everything["channel"], everything["status"])) == {"pagerduty": "dead", "slack": "pending"}
    dead = [d.value for d in at.dataframe if "status" in d.value and set(d.value["status"]) == {"dead"}]
    assert dead and dead[0]["channel"].tolist() == ["pagerduty"]
    assert "no handler configured" in dead[0]["last_error"].iloc[0]
    at.selectbox(key="al_delivery_status").set_value("pending").run()
    pending = [d.value for d in at.dataframe if "status" in d.value and set(d.value["status"]) == {"pending"}]
    assert pending and pending[0]["channel"].tolist() == ["slack"]
