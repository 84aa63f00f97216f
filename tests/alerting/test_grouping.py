"""Alertmanager's grouping semantics through the running service and a real webhook, on SQLite and
PostgreSQL (issue 17, points 1 and 2): ``group_wait`` holds a new group open for late arrivals,
``group_interval`` spaces the changes to a group already sent, ``repeat_interval`` sends reminders, and
deduplication drops only repeats of the same state, never a new firing after a resolve."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pandas as pd
import pytest

from agentotel.alerting.channels.registry import build_handlers
from agentotel.alerting.config import parse_rules
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.service import AlertingService, queue_settings_of
from agentotel.alerting.sources import InMemoryMetricSource
from agentotel.alerting.ssrf import AddressPolicy
from tests.alerting.support import RecordingServer
from tests.support.polling import wait_for

LOOPBACK = AddressPolicy(["127.0.0.1"])


def rules_text(url: str, settings: str) -> str:
    return f"""
settings: {{evaluation_interval: 0.5s, {settings}}}
channels:
  chat: {{type: webhook, url: "{url}"}}
escalation_policies:
  default: [{{after: 0s, channels: [chat]}}]
rules:
  - {{id: errors, type: threshold, metric: error_rate, group_by: [agent], window: 1m, aggregation: last, op: ">",
     value: 0.1}}
"""


class Running:
    """The service of a rules file running in a thread (evaluation loop + channel workers)."""

    def __init__(self, engine, text: str, source=None) -> None:
        config = parse_rules(text, "grouping.yaml")
        self.service = AlertingService(engine, config, source or InMemoryMetricSource(),
                                       build_handlers(config.channels, LOOPBACK), queue_settings_of(config))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.service.run, args=(self.stop, 0.2), daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def messages(server) -> list[tuple[str, list[str]]]:
    """(event, sorted agent labels) of each message received."""
    return [(r.json["event"], sorted(a["labels"]["agent"] for a in r.json["alerts"])) for r in server.ok()]


def fire(engine, agent: str, rule: str = "latency") -> int:
    return AlertManager(engine).create_alert(rule, "warning", f"{rule} on {agent}", {"agent": agent})


@pytest.mark.slow
def test_group_wait_holds_the_group_open_for_a_late_arrival(engine):
    """The issue's case: a third alert of the rule fires a few seconds after the first two, within
    group_wait: one message with all three (it used to go out on its own)."""
    with RecordingServer() as server:
        started = time.monotonic()
        fire(engine, "a")
        fire(engine, "b")
        with Running(engine, rules_text(server.url, "group_wait: 4s")):
            time.sleep(2.0)
            fire(engine, "c")
            assert wait_for(lambda: len(server.ok()) >= 1, timeout=10)
            time.sleep(1.0)  # nothing else follows
    assert messages(server) == [("trigger", ["a", "b", "c"])]
    assert server.ok()[0].at - started >= 4.0 - 0.3  # sent once group_wait had passed


@pytest.mark.slow
def test_group_interval_spaces_changes_to_a_sent_group(engine):
    with RecordingServer() as server, Running(engine, rules_text(server.url, "group_wait: 0.5s, group_interval: 3s")):
        fire(engine, "a")
        assert wait_for(lambda: len(server.ok()) == 1, timeout=10)
        first = server.ok()[0].at
        fire(engine, "d")  # a change to the group just sent: waits for group_interval ...
        time.sleep(1.0)
        fire(engine, "e")  # ... and gathers what else changes meanwhile
        assert wait_for(lambda: len(server.ok()) == 2, timeout=10)
        time.sleep(0.5)
    assert messages(server) == [("trigger", ["a"]), ("trigger", ["d", "e"])]
    assert server.ok()[1].at - first >= 3.0 - 0.3


def test_another_rule_is_another_group(engine):
    with RecordingServer() as server, Running(engine, rules_text(server.url, "group_wait: 0.5s, group_interval: 1h")):
        fire(engine, "a")
        assert wait_for(lambda: len(server.ok()) == 1, timeout=10)
        fire(engine, "a", rule="cost")  # a new group: its own group_wait, not latency's group_interval
        assert wait_for(lambda: len(server.ok()) == 2, timeout=10)
    assert [r.json["alerts"][0]["rule_id"] for r in server.ok()] == ["latency", "cost"]


@pytest.mark.slow
def test_repeat_interval_reminds_until_acknowledged(engine):
    with RecordingServer() as server, Running(engine, rules_text(server.url, "repeat_interval: 2s, dedup_window: 1h")):
        alert_id = fire(engine, "a")
        assert wait_for(lambda: len(server.ok()) == 3, timeout=15)  # the trigger and two reminders
        AlertManager(engine).acknowledge_alert(alert_id, by="alice")
        time.sleep(3.0)
    times = [r.at for r in server.ok()]
    assert len(times) == 3 and messages(server) == [("trigger", ["a"])] * 3
    assert all(later - earlier >= 2.0 - 0.3 for earlier, later in zip(times, times[1:]))
    assert {r.json["alerts"][0]["id"] for r in server.ok()} == {alert_id}


def test_a_new_firing_after_a_resolve_is_notified_within_the_dedup_window(engine):
    """Fire, recover, fire again inside dedup_window: the channel gets FIRING, RESOLVED, FIRING (it used to
    get the first two only, and read RESOLVED while the alert was firing)."""
    now = datetime.now(timezone.utc)
    source = InMemoryMetricSource()

    def error_rate(value: float) -> None:
        source.set("error_rate", pd.DataFrame({"timestamp": [datetime.now(timezone.utc)], "value": [value],
                                               "agent": ["a"]}))

    with RecordingServer() as server:
        config = parse_rules(rules_text(server.url, "dedup_window: 1h"), "grouping.yaml")
        service = AlertingService(engine, config, source, build_handlers(config.channels, LOOPBACK),
                                  queue_settings_of(config))
        for value in (0.5, 0.0, 0.5):
            error_rate(value)
            service.tick()
            service.queue.drain(timeout=5)
        repeat = service.tick()  # still firing: nothing new
        service.queue.drain(timeout=5)
    assert repeat.counts["firing"] == 1
    assert [event for event, _ in messages(server)] == ["trigger", "resolve", "trigger"]
    first, resolved, again = (r.json["alerts"][0] for r in server.ok())
    assert first["id"] == resolved["id"] != again["id"] and first["fingerprint"] == again["fingerprint"]
    assert again["status"] == "firing" and now < datetime.fromisoformat(again["starts_at"])


@pytest.mark.slow
def test_resolve_and_refire_wait_for_group_interval_in_order(engine):
    """With group_interval, a resolve and the next firing of the same series go out together after the
    interval, RESOLVED before FIRING."""
    with RecordingServer() as server, Running(engine, rules_text(server.url, "group_interval: 2s, dedup_window: 1h")):
        manager = AlertManager(engine)
        first = fire(engine, "a")
        assert wait_for(lambda: len(server.ok()) == 1, timeout=10)
        sent = server.ok()[0].at
        manager.resolve_alert(first, by="test")
        second = fire(engine, "a")
        assert wait_for(lambda: len(server.ok()) == 3, timeout=10)
    assert [(r.json["event"], r.json["alerts"][0]["id"]) for r in server.ok()] == [
        ("trigger", first), ("resolve", first), ("trigger", second)]
    assert server.ok()[1].at - sent >= 2.0 - 0.3


@pytest.mark.parametrize("text", ["group_wait: -1s", "redelivery_lease: 0s", "evaluation_interval: 0s"])
def test_bad_timing_settings_are_refused(text):
    from agentotel.alerting.config import RuleError

    with pytest.raises(RuleError):
        parse_rules(f"settings: {{{text}}}\n", "r.yaml")
