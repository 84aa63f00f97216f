"""``agentotel alerts`` for the on-call engineer (issue 17, point 6), on SQLite and PostgreSQL: check-rules
refuses channels on internal addresses unless allow-listed; silences can be listed and expired; ``list``
shows pending alerts and filters by state and rule; ``ack`` cancels a notification still waiting out
``group_wait``; ``dead-letters`` filters and re-sends by an id prefix; the README's commands carry their
required flags and parse."""

from __future__ import annotations

import json
import re
import shlex
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from agentotel.alerting import queries as q
from agentotel.alerting.channels.registry import build_handlers
from agentotel.alerting.config import parse_rules
from agentotel.alerting.engine import RuleEngine
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.queue import NotificationQueue
from agentotel.alerting.service import AlertingService, queue_settings_of
from agentotel.alerting.sources import InMemoryMetricSource
from agentotel.alerting.ssrf import AddressPolicy
from agentotel.cli import build_parser, main
from agentotel.core.utc import utcnow
from tests.alerting.support import RecordingServer

ROOT = Path(__file__).resolve().parents[2]

CHANNELS = """settings: {allow_hosts: []}
channels:
  metadata: {type: webhook, url: "http://169.254.169.254/latest/meta-data/"}
  local-am: {type: alertmanager, url: "http://127.0.0.1:9093"}
  private-mail: {type: email, host: 10.1.2.3, from: a@example.com, to: b@example.com, username: u,
                 password_env: AGENTOTEL_TEST_UNSET_SMTP_PW}
  public: {type: webhook, url: "https://93.184.216.34/hook"}
  unset: {type: slack, url_env: AGENTOTEL_TEST_UNSET_SLACK_URL}
rules:
  - {id: a, type: threshold, metric: error_rate, value: 0.1}
"""


def test_check_rules_refuses_channels_on_internal_addresses_unless_allow_listed(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AGENTOTEL_ALERT_ALLOW_HOSTS", raising=False)
    monkeypatch.delenv("AGENTOTEL_TEST_UNSET_SLACK_URL", raising=False)
    monkeypatch.delenv("AGENTOTEL_TEST_UNSET_SMTP_PW", raising=False)
    rules = tmp_path / "rules.yaml"
    rules.write_text(CHANNELS)
    assert main(["alerts", "check-rules", str(rules)]) == 2
    out, err = capsys.readouterr()
    assert "OK" not in out
    assert f"{rules}:3: channel 'metadata': refusing internal address 169.254.169.254" in err
    assert f"{rules}:4: channel 'local-am': refusing internal address 127.0.0.1" in err
    assert f"{rules}:5: channel 'private-mail': refusing internal address 10.1.2.3" in err
    assert "'public'" not in err and "settings.allow_hosts" in err  # the mail host is checked without its password
    assert "note: channel 'unset' (line 8): address not checked: its secret 'url' is not set here" in out

    rules.write_text(CHANNELS.replace("allow_hosts: []", "allow_hosts: [169.254.169.254, 127.0.0.1]"))
    monkeypatch.setenv("AGENTOTEL_ALERT_ALLOW_HOSTS", "10.0.0.0/8")  # the environment's allow-list counts too
    assert main(["alerts", "check-rules", str(rules)]) == 0
    out, err = capsys.readouterr()
    assert "OK — 1 rules (1 threshold), 5 channels" in out and err == ""


def test_silences_are_listed_and_expired(db_url, engine, capsys):
    assert main(["alerts", "silence", "--match", "agent=a", "--match", "severity=warning", "--for", "2h", "--by",
                 "alice", "--comment", "deploy", "--db", db_url]) == 0
    silence_id = re.search(r"silence ([0-9a-f]{32}) created", capsys.readouterr().out).group(1)
    assert main(["alerts", "silence", "list", "--db", db_url]) == 0
    listed = capsys.readouterr().out
    assert silence_id in listed and "agent=a,severity=warning" in listed and "by alice" in listed
    assert "deploy" in listed

    assert main(["alerts", "silence", "expire", silence_id[:6], "--by", "bob", "--db", db_url]) == 0
    assert f"silence {silence_id} expired" in capsys.readouterr().out
    assert q.silences(engine) == []
    assert main(["alerts", "silence", "list", "--db", db_url]) == 0
    assert "no silences in force" in capsys.readouterr().out
    assert main(["alerts", "silence", "list", "--all", "--json", "--db", db_url]) == 0
    [ended] = json.loads(capsys.readouterr().out)
    assert ended["id"] == silence_id
    assert [(r["actor"], r["action"]) for r in q.audit_log(engine)][:2] == [("bob", "expire_silence"), ("alice", "silence")]

    assert main(["alerts", "silence", "expire", "ffffffff", "--by", "bob", "--db", db_url]) == 2
    assert "no silence with an id starting 'ffffffff'" in capsys.readouterr().err
    assert main(["alerts", "silence", "--match", "agent=a", "--db", db_url]) == 2  # --for and --by are required
    assert "a silence needs --for, --by" in capsys.readouterr().err


RULES = """
rules:
  - {id: slow-burn, type: threshold, metric: error_rate, group_by: [agent], window: 5m, aggregation: last, op: ">",
     value: 0.1, for: 10m}
"""


@pytest.mark.slow
def test_alerts_list_shows_pending_alerts_and_filters_by_state_and_rule(db_url, engine, capsys):
    now = datetime.now(timezone.utc)
    source = InMemoryMetricSource({"error_rate": pd.DataFrame({"timestamp": [now], "value": [0.3], "agent": ["a"]})})
    RuleEngine(engine, parse_rules(RULES, "rules.yaml"), source).evaluate(now)  # true, but 'for: 10m' has not passed
    firing = AlertManager(engine).create_alert("latency", "critical", "p95 high", {"agent": "b"})

    assert main(["alerts", "list", "--db", db_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("pending" in line and "slow-burn" in line and "agent=a" in line and "value 0.3" in line for line in lines)
    assert any(line.split()[0] == str(firing) and "firing" in line and "latency" in line for line in lines)

    assert main(["alerts", "list", "--state", "pending", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "slow-burn" in out and "latency" not in out
    assert main(["alerts", "list", "--state", "firing", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "latency" in out and "slow-burn" not in out
    assert main(["alerts", "list", "--rule", "latency", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "latency" in out and "slow-burn" not in out
    assert main(["alerts", "list", "--json", "--db", db_url]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["rule_id"] for p in data["pending"]] == ["slow-burn"] and [a["id"] for a in data["firing"]] == [firing]
    assert main(["alerts", "list", "--state", "pending", "--rule", "latency", "--db", db_url]) == 0
    assert "no pending alerts" in capsys.readouterr().out


def test_ack_cancels_a_notification_still_waiting_out_group_wait(db_url, engine, capsys):
    with RecordingServer() as server:
        text = f"""
settings: {{group_wait: 30s}}
channels:
  chat: {{type: webhook, url: "{server.url}"}}
escalation_policies:
  default: [{{after: 0s, channels: [chat]}}]
"""
        config = parse_rules(text, "ack.yaml")
        service = AlertingService(engine, config, InMemoryMetricSource(),
                                  build_handlers(config.channels, AddressPolicy(["127.0.0.1"])), queue_settings_of(config))
        alert_id = AlertManager(engine).create_alert("latency", "critical", "p95 high", {"agent": "a"})
        service.tick()  # queued, held for group_wait
        assert [n["status"] for n in q.notifications(engine, alert_id=alert_id)] == ["pending"]
        assert main(["alerts", "ack", str(alert_id), "--by", "alice", "--db", db_url]) == 0
        service.queue.process_due(now=utcnow() + timedelta(seconds=31))
        service.queue.drain(timeout=5)
    assert server.requests == []
    [row] = q.notifications(engine, alert_id=alert_id)
    assert row["status"] == "skipped" and row["last_error"] == "alert acknowledged before delivery"


def test_dead_letters_filter_and_resend_by_an_id_prefix(db_url, engine, capsys):
    manager = AlertManager(engine)
    queue = NotificationQueue(engine, {})  # no handlers: every notification becomes a dead letter
    alerts = [manager.get_alert(manager.create_alert(f"rule-{i % 2}", "warning", "m", {"n": str(i)})) for i in range(17)]
    ids = [queue.enqueue(a, "pager" if i == 0 else "chat") for i, a in enumerate(alerts)]
    queue.drain(timeout=10)
    assert len(q.dead_letters(engine, limit=100)) == 17

    assert main(["alerts", "dead-letters", "--channel", "pager", "--db", db_url]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(ids[0][:12]) and "pager" in line
    assert main(["alerts", "dead-letters", "--rule", "rule-1", "--json", "--db", db_url]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 8
    assert main(["alerts", "dead-letters", "--alert", str(alerts[3]["id"]), "--db", db_url]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1
    assert main(["alerts", "dead-letters", "--since", "1h", "--limit", "5", "--db", db_url]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5
    future = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    assert main(["alerts", "dead-letters", "--since", future, "--db", db_url]) == 0
    assert "no dead letters" in capsys.readouterr().out

    assert main(["alerts", "dead-letters", "--resend", ids[5][:8], "--by", "alice", "--db", db_url]) == 0
    assert f"notification {ids[5]} queued again" in capsys.readouterr().out
    assert {n["id"]: n["status"] for n in q.notifications(engine, limit=100)}[ids[5]] == "pending"
    shared = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids if i != ids[5]) >= 2)
    assert main(["alerts", "dead-letters", "--resend", shared, "--db", db_url]) == 2  # 17 ids: some share a digit
    assert "is the start of several dead letter ids" in capsys.readouterr().err
    assert main(["alerts", "dead-letters", "--resend", "not-hex", "--db", db_url]) == 2
    assert "is not an id" in capsys.readouterr().err


def test_the_readme_alerting_commands_show_their_required_flags_and_parse():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Alerting\n", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("  #")[0].strip() for line in section.splitlines() if line.startswith("agentotel alerts ")]
    silence = [c for c in commands if c.startswith("agentotel alerts silence --")]
    assert silence and all(all(flag in c for flag in ("--match", "--for", "--by")) for c in silence)
    assert {c.split()[2] for c in commands} >= {"check-rules", "run", "list", "ack", "resolve", "silence",
                                                 "dead-letters"}
    parser = build_parser()
    for command in commands:
        parser.parse_args(shlex.split(command)[1:])  # exits (SystemExit) on a flag the CLI does not have


def test_a_composite_alert_message_does_not_read_value_nan(engine):
    now = datetime.now(timezone.utc)
    text = """
rules:
  - {id: errors, type: threshold, metric: err, window: 1m, aggregation: last, op: '>', value: 0.1}
  - {id: slow, type: threshold, metric: lat, window: 1m, aggregation: last, op: '>', value: 100}
  - {id: errors-and-slow, type: composite, expr: errors and slow}
  - {id: worded, type: composite, expr: errors, message: "errors at {value:.1%} ({rule_id})"}
"""
    source = InMemoryMetricSource({"err": pd.DataFrame({"timestamp": [now], "value": [0.5]}),
                                   "lat": pd.DataFrame({"timestamp": [now], "value": [500.0]})})
    RuleEngine(engine, parse_rules(text, "composite.yaml"), source).evaluate(now)
    messages = {a["rule_id"]: a["message"] for a in AlertManager(engine).get_active_alerts()}
    assert messages["errors-and-slow"] == "errors-and-slow: errors and slow"
    assert messages["worded"] == "errors at n/a (worded)"
    assert not any("nan" in m for m in messages.values())
