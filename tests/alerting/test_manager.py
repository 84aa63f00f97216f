"""AlertManager on the real warehouse: the contract used by other components, silences, audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from agentotel.alerting import queries as q
from agentotel.alerting.manager import AlertManager, AlertNotFound


def test_create_alert_contract_and_dedup_while_firing(engine):
    manager = AlertManager(engine)
    alert_id = manager.create_alert("eval-regression", "warning", "accuracy dropped 12%", {"agent": "a"}, value=0.12)
    assert isinstance(alert_id, int)
    again = manager.create_alert("eval-regression", "error", "accuracy dropped 20%", {"agent": "a"}, value=0.2)
    assert again == alert_id
    other = manager.create_alert("eval-regression", "warning", "b dropped", {"agent": "b"})
    assert other != alert_id
    active = {a["id"]: a for a in manager.get_active_alerts()}
    assert set(active) == {alert_id, other}
    assert active[alert_id]["severity"] == "error" and active[alert_id]["value"] == 0.2
    assert active[alert_id]["message"] == "accuracy dropped 20%"
    with pytest.raises(ValueError, match="severity"):
        manager.create_alert("r", "urgent", "x")


def test_acknowledge_and_resolve_are_audited(engine):
    manager = AlertManager(engine)
    alert_id = manager.create_alert("r1", "critical", "down", {"agent": "a"})
    acked = manager.acknowledge_alert(alert_id, by="alice")
    assert acked["acknowledged"] and acked["acknowledged_by"] == "alice" and acked["acknowledged_at"]
    manager.acknowledge_alert(alert_id, by="bob")  # already acknowledged: no change, no audit row
    assert manager.get_alert(alert_id)["acknowledged_by"] == "alice"
    assert manager.get_active_alerts(include_acknowledged=False) == []
    resolved = manager.resolve_alert(alert_id, by="carol")
    assert resolved["status"] == "resolved" and resolved["ends_at"]
    assert manager.get_active_alerts() == []
    log = q.audit_log(engine)
    actions = [(r["actor"], r["action"], r["target_id"]) for r in reversed(log)]
    assert actions == [("system", "create", str(alert_id)), ("alice", "acknowledge", str(alert_id)),
                       ("carol", "resolve", str(alert_id))]
    assert log[0]["before"] == {"status": "firing"} and log[0]["after"] == {"status": "resolved"}
    with pytest.raises(AlertNotFound):
        manager.resolve_alert(999999)
    with pytest.raises(ValueError, match="by"):
        manager.acknowledge_alert(manager.create_alert("r3", "info", "x"), by="")


def test_acknowledging_a_resolved_alert_is_refused(engine):
    manager = AlertManager(engine)
    alert_id = manager.create_alert("r", "warning", "m")
    manager.resolve_alert(alert_id)
    with pytest.raises(ValueError, match="already resolved"):
        manager.acknowledge_alert(alert_id, by="alice")


def test_silences_match_labels_and_expire(engine):
    manager = AlertManager(engine)
    a = manager.create_alert("latency", "warning", "slow", {"agent": "a"})
    b = manager.create_alert("latency", "warning", "slow", {"agent": "b"})
    silence = manager.add_silence({"agent": "a", "rule_id": "latency"}, by="alice", duration=timedelta(hours=1),
                                  comment="deploy")
    silenced = {x["id"]: x["silenced"] for x in manager.get_active_alerts()}
    assert silenced == {a: True, b: False}
    assert [s["id"] for s in q.silences(engine)] == [silence]
    manager.expire_silence(silence, by="bob")
    assert not any(x["silenced"] for x in manager.get_active_alerts())
    assert q.silences(engine) == []
    actions = [(r["actor"], r["action"]) for r in q.audit_log(engine) if r["target_type"] == "silence"]
    assert actions == [("bob", "expire_silence"), ("alice", "silence")]
    with pytest.raises(ValueError):
        manager.add_silence({}, by="alice", duration=timedelta(hours=1))
    with pytest.raises(ValueError):
        manager.add_silence({"agent": "a"}, by="alice")


def test_audit_log_is_append_only(engine):
    manager = AlertManager(engine)
    manager.create_alert("r", "warning", "m")
    for statement in ("UPDATE alert_audit_log SET actor = 'mallory'", "DELETE FROM alert_audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(text(statement))
    assert [r["actor"] for r in q.audit_log(engine)] == ["system"]


def test_queries_for_the_dashboard(engine):
    manager = AlertManager(engine)
    a = manager.create_alert("r", "warning", "m", {"agent": "a"})
    manager.create_alert("r", "warning", "m", {"agent": "b"})
    manager.acknowledge_alert(a, by="alice")
    assert q.alert_counts(engine) == {"pending": 0, "firing": 2, "acknowledged": 1, "unacknowledged": 1, "resolved": 0}
    manager.resolve_alert(a)
    assert q.alert_counts(engine) == {"pending": 0, "firing": 1, "acknowledged": 0, "unacknowledged": 1, "resolved": 1}
    assert [x["id"] for x in q.alerts(engine, status="resolved")] == [a]
    assert len(q.alerts(engine)) == 2
    assert q.notifications(engine) == [] and q.dead_letters(engine) == [] and q.channel_stats(engine) == []
    assert q.audit_log(engine)[0]["action"] == "resolve"
