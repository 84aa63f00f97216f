"""Rule sets on one database (issue 17, point 3), on SQLite and PostgreSQL: engines of different rules files
never touch each other's alerts; two engines of the same rules file take turns through a lease, and when the
evaluating one is killed (``kill -9`` of a real ``agentotel alerts run`` process) the other takes over within
two evaluation intervals, without losing or doubling a notification."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import insert, select

from agentotel.alerting import queries as q
from agentotel.alerting.channels.registry import build_handlers
from agentotel.alerting.config import parse_rules
from agentotel.alerting.engine import RuleEngine
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.service import AlertingService, queue_settings_of
from agentotel.alerting.sources import InMemoryMetricSource
from agentotel.alerting.ssrf import AddressPolicy
from agentotel.alerting.store import ALERTS, RULE_STATE
from agentotel.warehouse.models import Metric
from tests.alerting.support import RecordingServer
from tests.support.polling import wait_for
from tests.support.priority import run_ahead

LOOPBACK = AddressPolicy(["127.0.0.1"])
ROOT = Path(__file__).resolve().parents[2]


def rules_file(url: str, rules: str, interval: str = "60s") -> str:
    return f"""
settings: {{evaluation_interval: {interval}, allow_hosts: [127.0.0.1]}}
channels:
  chat: {{type: webhook, url: "{url}"}}
escalation_policies:
  default: [{{after: 0s, channels: [chat]}}]
rules:
{rules}"""


ERRORS = ('  - {id: errors, type: threshold, metric: error_rate, group_by: [agent], window: 1m, aggregation: last, '
          'op: ">", value: 0.1}\n')
LATENCY = ('  - {id: latency, type: threshold, metric: latency_p95, group_by: [agent], window: 1m, aggregation: last, '
           'op: ">", value: 1000}\n')


def service_of(engine, text: str, file: str, source, holder: str | None = None) -> AlertingService:
    config = parse_rules(text, file)
    return AlertingService(engine, config, source, build_handlers(config.channels, LOOPBACK),
                           queue_settings_of(config), **({"holder": holder} if holder else {}))


def received(server) -> list[tuple[str, str, str]]:
    return [(r.json["event"], a["rule_id"], a["labels"]["agent"]) for r in server.ok() for a in r.json["alerts"]]


def test_engines_of_two_rule_sets_never_touch_each_others_alerts(engine, tmp_path):
    """Two rules files on one database, one rule id in both: each engine creates and keeps its own alerts
    (it used to resolve the other's as 'removed from the file', and channels got RESOLVED before FIRING)."""
    now = datetime.now(timezone.utc)
    source = InMemoryMetricSource({
        "error_rate": pd.DataFrame({"timestamp": [now], "value": [0.5], "agent": ["a"]}),
        "latency_p95": pd.DataFrame({"timestamp": [now], "value": [5000.0], "agent": ["a"]})})
    with RecordingServer() as hook_a, RecordingServer() as hook_b:
        first = service_of(engine, rules_file(hook_a.url, ERRORS), str(tmp_path / "a.yaml"), source)
        second = service_of(engine, rules_file(hook_b.url, ERRORS + LATENCY), str(tmp_path / "b.yaml"), source)
        for _ in range(4):
            first.tick()
            second.tick()
        assert q.alerts(engine, status="resolved") == []
        assert received(hook_a) == [("trigger", "errors", "a")]
        assert sorted(received(hook_b)) == [("trigger", "errors", "a"), ("trigger", "latency", "a")]
        firing = AlertManager(engine).get_active_alerts()
        assert sorted((a["ruleset"][-6:], a["rule_id"]) for a in firing) == [
            ("a.yaml", "errors"), ("b.yaml", "errors"), ("b.yaml", "latency")]
        # b.yaml drops its 'errors' rule: only b's 'errors' alert resolves; a's is not b's to touch
        shorter = service_of(engine, rules_file(hook_b.url, LATENCY), str(tmp_path / "b.yaml"), source)
        shorter.tick()
        shorter.queue.drain(timeout=5)
        first.tick()
    [resolved] = q.alerts(engine, status="resolved")
    assert resolved["rule_id"] == "errors" and resolved["ruleset"].endswith("b.yaml")
    assert received(hook_a) == [("trigger", "errors", "a")]
    assert received(hook_b)[-1] == ("resolve", "errors", "a")
    with engine.connect() as conn:
        owners = sorted((r.ruleset[-6:], r.rule_id) for r in conn.execute(select(RULE_STATE)))
    assert owners == [("a.yaml", "errors"), ("b.yaml", "latency")]


@pytest.mark.slow
def test_a_second_engine_of_the_same_rule_set_stands_by_then_takes_over(engine, tmp_path):
    now = datetime.now(timezone.utc)
    source = InMemoryMetricSource({"error_rate": pd.DataFrame({"timestamp": [now], "value": [0.5], "agent": ["a"]})})
    with RecordingServer() as hook:
        text = rules_file(hook.url, ERRORS, interval="0.5s")
        one = service_of(engine, text, str(tmp_path / "same.yaml"), source, holder="engine-one")
        two = service_of(engine, text, str(tmp_path / "same.yaml"), source, holder="engine-two")
        stop_one, stop_two = threading.Event(), threading.Event()
        threads = [threading.Thread(target=one.run, args=(stop_one, 0.2), daemon=True),
                   threading.Thread(target=two.run, args=(stop_two, 0.2), daemon=True)]
        threads[0].start()
        assert wait_for(lambda: len(one.rounds) >= 1, timeout=10)
        threads[1].start()
        assert wait_for(lambda: len(hook.ok()) >= 1, timeout=10)
        seen = len(one.rounds)
        assert wait_for(lambda: len(one.rounds) >= seen + 3, timeout=10)  # three more rounds of one ...
        assert len(two.rounds) == 0  # ... while the other, trying every 0.2 s, stands by
        stop_one.set()  # a clean stop gives the lease up: the standby takes over at its next try
        threads[0].join(timeout=10)
        stopped = time.monotonic()
        assert wait_for(lambda: len(two.rounds) >= 1, timeout=5)
        assert two.rounds[0] - stopped < 0.5
        time.sleep(1.5)
        stop_two.set()
        threads[1].join(timeout=10)
    assert received(hook) == [("trigger", "errors", "a")]  # neither the overlap nor the hand-over doubles it
    [lease] = q.engine_leases(engine)
    assert lease["holder"] == "engine-two" and lease["ruleset"].endswith("same.yaml")


def test_upgraded_engine_adopts_the_series_written_before_rule_sets(engine, tmp_path):
    """Rows from before rule sets (rule set ''): the engine of the file with the rule continues them."""
    now = datetime.now(timezone.utc)
    source = InMemoryMetricSource({"error_rate": pd.DataFrame({"timestamp": [now], "value": [0.5], "agent": ["a"]})})
    legacy = parse_rules("rules:\n" + ERRORS, None)  # no file: rule set ''
    assert legacy.ruleset == ""
    RuleEngine(engine, legacy, source).evaluate(now)
    [old] = AlertManager(engine).get_active_alerts()
    with RecordingServer() as hook:
        service = service_of(engine, rules_file(hook.url, ERRORS), str(tmp_path / "rules.yaml"), source)
        service.tick()
    [alert] = AlertManager(engine).get_active_alerts()
    assert alert["id"] == old["id"] and alert["ruleset"].endswith("rules.yaml")
    with engine.connect() as conn:
        assert {r.ruleset[-10:] for r in conn.execute(select(RULE_STATE))} == {"rules.yaml"}


# --- real engine processes ------------------------------------------------------------------------------------


def point(engine, name: str, value: float, service: str) -> None:
    """A metric point arriving in the warehouse now (what the receiver writes)."""
    at = datetime.now(timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(Metric.__table__).values(metric_name=name, value=value, timestamp=at, series_key=service,
                                                     service_name=service, tags={}))


class EngineProcess:
    """``agentotel alerts run`` in its own process, its log in a file."""

    def __init__(self, rules: Path, db_url: str, log: Path, interval: float = 1.0) -> None:
        self.log = log
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agentotel", "--log-level", "INFO", "alerts", "run", "--rules", str(rules),
             "--db", db_url, "--interval", str(interval)],
            cwd=str(rules.parent), env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"), start_new_session=True)
        run_ahead(self.proc.pid)  # hand-overs and redeliveries are held to bounds of a few seconds

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)


def lease_of(engine) -> dict | None:
    leases = q.engine_leases(engine)
    return leases[0] if leases else None


def holder_pid(engine) -> int | None:
    lease = lease_of(engine)
    if lease is None or lease["expires_at"].replace(tzinfo=timezone.utc) < datetime.now(timezone.utc):
        return None
    return int(lease["holder"].split(":")[1])


@pytest.mark.slow
def test_kill_9_of_the_evaluating_engine_hands_over_within_two_intervals(db_url, engine, tmp_path):
    rule = ('  - {id: ha-errors, type: threshold, metric: "metric:ha.errors", group_by: [service], window: 30s, '
            'step: 1s, aggregation: last, op: ">", value: 5}\n')
    procs: list[EngineProcess] = []
    with RecordingServer() as hook:
        rules = tmp_path / "ha.yaml"
        rules.write_text(rules_file(hook.url, rule).replace("agent", "service"))
        try:
            first = EngineProcess(rules, db_url, tmp_path / "first.log")
            procs.append(first)
            assert wait_for(lambda: holder_pid(engine) == first.pid, timeout=60), first.text()
            second = EngineProcess(rules, db_url, tmp_path / "second.log")
            procs.append(second)
            assert wait_for(lambda: "standing by" in second.text(), timeout=60), second.text()

            point(engine, "ha.errors", 10, "svc-a")
            assert wait_for(lambda: len(hook.ok()) == 1, timeout=10), first.text()
            assert holder_pid(engine) == first.pid

            killed_at = datetime.now(timezone.utc)
            first.kill()

            def second_evaluates() -> bool:
                lease = lease_of(engine)
                return (lease is not None and holder_pid(engine) == second.pid and lease["last_round_at"] is not None
                        and lease["last_round_at"].replace(tzinfo=timezone.utc) > killed_at)

            assert wait_for(second_evaluates, timeout=10, interval=0.02), second.text()
            took_over = lease_of(engine)["last_round_at"].replace(tzinfo=timezone.utc) - killed_at
            assert took_over <= timedelta(seconds=2.0), took_over  # two intervals of 1 s

            point(engine, "ha.errors", 10, "svc-b")  # the new holder fires a new series ...
            point(engine, "ha.errors", 0, "svc-a")  # ... and resolves the one the first engine fired
            assert wait_for(lambda: len(hook.ok()) >= 3, timeout=15), second.text()
            time.sleep(2.5)  # more rounds: nothing else is sent
        finally:
            for proc in procs:
                proc.kill()
    events = [(r.json["event"], a["labels"]["service"]) for r in hook.ok() for a in r.json["alerts"]]
    assert events[0] == ("trigger", "svc-a")
    assert sorted(events[1:]) == [("resolve", "svc-a"), ("trigger", "svc-b")]
    keys = [r.headers["idempotency-key"] for r in hook.requests]
    assert len(keys) == len(set(keys)) == 3  # nothing sent twice
    with engine.connect() as conn:
        alerts = {r.labels["service"]: r.status for r in conn.execute(select(ALERTS))}
    assert alerts == {"svc-a": "resolved", "svc-b": "firing"}
    print(f"\nhand-over after kill -9: {took_over.total_seconds():.2f} s (interval 1 s)")
