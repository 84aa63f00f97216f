"""The service as a whole: rules → alerts → escalation tiers → channels, acknowledge / resolve follow-ups,
silences, the background thread and the command line."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from agentotel.alerting import queries as q
from agentotel.alerting.channels.registry import build_handlers
from agentotel.alerting.config import parse_rules
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.service import AlertingService, queue_settings_of, start_background
from agentotel.alerting.sources import InMemoryMetricSource
from agentotel.alerting.ssrf import AddressPolicy
from agentotel.cli import main
from agentotel.core.utc import utcnow
from tests.alerting.support import RecordingServer
from tests.support.polling import wait_for

LOOPBACK = AddressPolicy(["127.0.0.1"])


def config_text(chat: str, pager: str, oncall: str, rules: bool = True) -> str:
    text = f"""
settings: {{dedup_window: 1m, allow_hosts: [127.0.0.1]}}
channels:
  chat: {{type: webhook, url: "{chat}"}}
  pager: {{type: pagerduty, routing_key_env: AGENTOTEL_TEST_PD_KEY, url: "{pager}/v2/enqueue"}}
  oncall: {{type: webhook, url: "{oncall}"}}
escalation_policies:
  default:
    - {{after: 0s, channels: [chat, pager]}}
    - {{after: 10m, channels: [oncall]}}
rules:
  - id: high-error-rate
    type: threshold
    metric: error_rate
    group_by: [agent]
    window: 1m
    op: ">"
    value: 0.05
"""
    return text if rules else text.split("rules:")[0] + "rules: []\n"


@pytest.fixture
def servers(monkeypatch):
    monkeypatch.setenv("AGENTOTEL_TEST_PD_KEY", "pd-routing-key-1")
    with RecordingServer() as chat, RecordingServer(lambda r, n: (202, {}, b"{}")) as pager, RecordingServer() as oncall:
        yield chat, pager, oncall


def service_for(engine, servers, source=None) -> AlertingService:
    chat, pager, oncall = servers
    config = parse_rules(config_text(chat.url, pager.url, oncall.url), "rules.yaml")
    return AlertingService(engine, config, source or InMemoryMetricSource(),
                           build_handlers(config.channels, LOOPBACK), queue_settings_of(config))


def events(server) -> list[tuple[str, int]]:
    out = []
    for r in server.requests:
        body = r.json
        if "event_action" in body:
            out.append((body["event_action"], body["dedup_key"]))
        else:
            out += [(body["event"], a["id"]) for a in body["alerts"]]
    return out


def test_escalation_acknowledge_and_resolve_follow_ups(engine, servers):
    chat, pager, oncall = servers
    service = service_for(engine, servers)
    # alerts created by another component (e.g. evaluation regressions) through the same API
    other = AlertManager(engine)
    first = other.create_alert("eval-regression", "error", "accuracy -20%", {"agent": "a"}, value=-0.2)
    second = other.create_alert("eval-regression", "warning", "accuracy -5%", {"agent": "b"}, value=-0.05)
    service.tick()
    assert sorted(events(chat)) == [("trigger", first), ("trigger", second)]
    fp = {a["id"]: a["fingerprint"] for a in other.get_active_alerts()}
    assert sorted(events(pager)) == sorted([("trigger", fp[first]), ("trigger", fp[second])])
    assert events(oncall) == []

    other.acknowledge_alert(second, by="bob")  # acknowledged: no further escalation, PagerDuty acknowledge
    service.tick()
    service.manager.escalate(utcnow() + timedelta(minutes=11))
    service.queue.drain(timeout=5)
    assert events(oncall) == [("trigger", first)]
    assert ("acknowledge", fp[second]) in events(pager)
    assert ("acknowledge", second) not in events(chat)  # webhooks take trigger / resolve only

    other.resolve_alert(first, by="carol")
    service.queue.drain(timeout=5)
    assert ("resolve", first) in events(chat) and ("resolve", first) in events(oncall)
    assert ("resolve", fp[first]) in events(pager)
    statuses = {n["status"] for n in q.notifications(engine)}
    assert statuses <= {"delivered", "skipped"}


def test_silenced_alerts_are_not_notified_until_the_silence_ends(engine, servers):
    chat, _, _ = servers
    service = service_for(engine, servers)
    manager = service.manager
    silence = manager.add_silence({"agent": "a"}, by="alice", duration=timedelta(hours=1))
    alert_id = manager.create_alert("eval-regression", "error", "x", {"agent": "a"})
    service.tick()
    assert events(chat) == []
    manager.expire_silence(silence, by="alice")
    service.tick()
    assert events(chat) == [("trigger", alert_id)]


def test_rules_drive_notifications_end_to_end(engine, servers):
    chat, pager, _ = servers
    now = datetime.now(timezone.utc)
    source = InMemoryMetricSource({"error_rate": pd.DataFrame(
        {"timestamp": [now - timedelta(seconds=30)] * 2, "value": [0.5, 0.0], "agent": ["a", "b"]})})
    service = service_for(engine, servers, source)
    report = service.tick()
    assert report.counts["fired"] == 1
    [(event, alert_id)] = events(chat)
    assert event == "trigger" and service.manager.get_alert(alert_id)["labels"] == {"agent": "a"}
    source.set("error_rate", pd.DataFrame({"timestamp": [now], "value": [0.0], "agent": ["a"]}))
    report = service.tick(now=now + timedelta(seconds=1))
    service.queue.drain(timeout=5)
    assert report.counts["resolved"] == 1
    assert events(chat)[-1] == ("resolve", alert_id)


def test_background_thread_delivers_and_stops(sqlite_engine, servers, tmp_path, monkeypatch):
    chat, pager, oncall = servers
    rules = tmp_path / "rules.yaml"
    rules.write_text(config_text(chat.url, pager.url, oncall.url))
    stop = threading.Event()
    thread = start_background(sqlite_engine, rules, stop, source=InMemoryMetricSource(), poll_interval=0.1)
    try:
        alert_id = AlertManager(sqlite_engine).create_alert("eval-regression", "error", "x", {"agent": "z"})
        assert wait_for(lambda: events(chat) == [("trigger", alert_id)], timeout=10)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


# --- command line -------------------------------------------------------------------------------------------


def test_cli_list_ack_resolve_and_dead_letters(sqlite_engine, sqlite_db_url, capsys):
    manager = AlertManager(sqlite_engine)
    alert_id = manager.create_alert("latency", "warning", "p95 high", {"agent": "a"})
    assert main(["alerts", "list", "--db", sqlite_db_url]) == 0
    assert f"{alert_id}" in capsys.readouterr().out
    assert main(["alerts", "ack", str(alert_id), "--by", "alice", "--db", sqlite_db_url]) == 0
    assert manager.get_alert(alert_id)["acknowledged_by"] == "alice"
    assert main(["alerts", "resolve", str(alert_id), "--db", sqlite_db_url]) == 0
    assert manager.get_alert(alert_id)["status"] == "resolved"
    capsys.readouterr()
    assert main(["alerts", "ack", "424242", "--by", "x", "--db", sqlite_db_url]) == 2
    assert "no alert with id 424242" in capsys.readouterr().err
    assert main(["alerts", "dead-letters", "--db", sqlite_db_url]) == 0
    assert "no dead letters" in capsys.readouterr().out
    assert main(["alerts", "dead-letters", "--resend", "nope", "--db", sqlite_db_url]) == 2
    assert main(["alerts", "silence", "--match", "agent=a", "--for", "1h", "--by", "alice", "--db", sqlite_db_url]) == 0
    assert len(q.silences(sqlite_engine)) == 1


def test_cli_check_rules(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("rules:\n  - {id: a, type: threshold, metric: error_rate, value: 0.1}\n")
    assert main(["alerts", "check-rules", str(good)]) == 0
    assert "OK — 1 rules (1 threshold)" in capsys.readouterr().out
    typo = tmp_path / "typo.yaml"
    typo.write_text("rules:\n  - {id: a, type: threshold, metric: eror_rate, value: 0.1}\n")
    assert main(["alerts", "check-rules", str(typo)]) == 0
    assert "warning: rule 'a' (line 2): metric 'eror_rate' is not an analytics metric" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: a\n    type: threshold\n    metric: error_rate\n    value: lots\n")
    assert main(["alerts", "check-rules", str(bad)]) == 2
    assert f"{bad}:5: rule 'a': value: must be a number" in capsys.readouterr().err


def test_cli_run_once(sqlite_engine, sqlite_db_url, servers, tmp_path, capsys):
    chat, pager, oncall = servers
    rules = tmp_path / "rules.yaml"
    rules.write_text(config_text(chat.url, pager.url, oncall.url, rules=False))
    alert_id = AlertManager(sqlite_engine).create_alert("eval-regression", "error", "x", {"agent": "q"})
    assert main(["alerts", "run", "--once", "--rules", str(rules), "--db", sqlite_db_url]) == 0
    assert "notifications delivered: 2" in capsys.readouterr().out
    assert events(chat) == [("trigger", alert_id)]


def test_cli_run_once_without_a_rules_file_uses_the_default_settings(sqlite_engine, sqlite_db_url, monkeypatch, capsys):
    monkeypatch.delenv("AGENTOTEL_ALERT_RULES", raising=False)
    monkeypatch.delenv("AGENTOTEL_ALERT_RULES_FILE", raising=False)
    AlertManager(sqlite_engine).create_alert("eval-regression", "error", "x", {"agent": "q"})
    assert main(["alerts", "run", "--once", "--db", sqlite_db_url]) == 0
    out = capsys.readouterr().out
    assert "evaluated 0 rules: nothing pending or firing" in out and "notifications delivered: 0" in out


def test_rule_and_channel_changes_are_audited_without_secrets(engine, monkeypatch):
    from agentotel.alerting.service import record_config_change

    text = """
channels:
  slack: {type: slack, url: "https://hooks.slack.com/services/T0/B0/LITERALsecret99"}
  pd: {type: pagerduty, routing_key_env: AGENTOTEL_TEST_PD_KEY}
rules:
  - {id: errors, type: threshold, metric: error_rate, value: 0.05}
  - {id: latency, type: threshold, metric: latency_p95, value: 3000}
"""
    monkeypatch.setenv("AGENTOTEL_TEST_PD_KEY", "pd-key-from-env-77")
    config = parse_rules(text, "rules.yaml")
    build_handlers(config.channels, LOOPBACK)  # registers the secrets, as the service does
    assert record_config_change(engine, config, actor="alice")
    assert not record_config_change(engine, parse_rules(text, "rules.yaml"), actor="alice")  # unchanged: no row
    changed = parse_rules(text.replace("value: 0.05", "value: 0.1").replace("latency_p95", "latency_p99"), "rules.yaml")
    assert record_config_change(engine, changed, actor="bob")
    [latest, first] = [r for r in q.audit_log(engine) if r["target_type"] == "alerting_config"]
    assert (first["actor"], first["action"]) == ("alice", "config_load")
    assert (latest["actor"], latest["action"]) == ("bob", "config_change")
    assert latest["before"]["rules.errors"]["value"] == 0.05 and latest["after"]["rules.errors"]["value"] == 0.1
    assert set(latest["before"]) == {"rules.errors", "rules.latency"}
    dump = str(q.audit_log(engine))
    assert "LITERALsecret99" not in dump and "pd-key-from-env-77" not in dump
    assert first["after"]["channels.slack"]["options"]["url"] == "[REDACTED]"  # core.secrets' one marker
    assert first["after"]["channels.pd"]["options"]["routing_key_env"] == "AGENTOTEL_TEST_PD_KEY"

    # a snapshot stored before the one marker (secrets masked as ***) is the same configuration, not a change
    from agentotel.alerting.service import config_snapshot
    from agentotel.alerting.store import insert_audit

    legacy = config_snapshot(changed)
    legacy["channels"]["slack"]["options"]["url"] = "***"
    with engine.begin() as conn:  # the log is append-only: the old version's row is appended, as it wrote it
        insert_audit(conn, "bob", "config_change", "alerting_config", str(changed.file), None, {"snapshot": legacy})
    assert not record_config_change(engine, changed, actor="bob")
    assert record_config_change(engine, parse_rules(text, "rules.yaml"), actor="carol")  # a real change still is


def test_example_rules_start_without_channel_secrets(sqlite_engine, monkeypatch, caplog, tmp_path):
    """`agentotel up` loads the example file; channels whose secrets are not set are disabled, not fatal."""
    from pathlib import Path

    for var in ("SLACK_WEBHOOK_URL", "SMTP_PASSWORD", "PAGERDUTY_ROUTING_KEY"):
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(f"{var}_FILE", raising=False)
    example = tmp_path / "rules.yaml"  # the shipped file with a shorter group_wait
    shipped = (Path(__file__).parents[2] / "otel-config" / "alert-rules.example.yaml").read_text()
    assert "group_wait: 10s" in shipped
    example.write_text(shipped.replace("group_wait: 10s", "group_wait: 0s"))
    stop = threading.Event()
    thread = start_background(sqlite_engine, example, stop, source=InMemoryMetricSource(), poll_interval=0.1)
    try:
        alert_id = AlertManager(sqlite_engine).create_alert("high-error-rate", "critical", "x", {"agent": "a"})
        assert wait_for(lambda: len(q.dead_letters(sqlite_engine)) >= 1, timeout=10)
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=10)
    dead = q.dead_letters(sqlite_engine)
    assert {d["alert_id"] for d in dead} == {alert_id}
    assert all("no handler configured" in d["last_error"] for d in dead)
    assert "channel slack disabled: environment variable SLACK_WEBHOOK_URL" in caplog.text
