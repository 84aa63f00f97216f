"""Delivery under faults (issue 17, points 4 and 5), on SQLite and PostgreSQL with real loopback servers:
a channel that hangs delays neither evaluation (rounds keep their 1 s cadence) nor other channels (they
deliver within 2 s of the firing); a worker killed (``kill -9``) mid-send leaves a lease that runs out after
``redelivery_lease`` and another engine sends the same message again, with the same idempotency key, while
a live sender keeps its lease however long the channel takes."""

from __future__ import annotations

import statistics
import threading
import time
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from agentotel.alerting.channels.registry import build_handlers
from agentotel.alerting.config import Settings, parse_rules
from agentotel.alerting.queue import QueueSettings
from agentotel.alerting.service import AlertingService, queue_settings_of
from agentotel.alerting.sources import InMemoryMetricSource
from agentotel.alerting.ssrf import AddressPolicy
from tests.alerting.support import RecordingServer
from tests.alerting.test_ha import EngineProcess, holder_pid, point
from tests.support.polling import wait_for

LOOPBACK = AddressPolicy(["127.0.0.1"])


def wall(server_time: float) -> datetime:
    """A RecordingServer arrival time (monotonic) as a UTC wall-clock time."""
    return datetime.now(timezone.utc) - timedelta(seconds=time.monotonic() - server_time)


def hanging(release: threading.Event, first_only: bool = False):
    """A responder that holds requests (every one, or only the first) until ``release`` is set."""
    def respond(request, n):
        if n == 0 or not first_only:
            release.wait(60)
        return 200, {}, b'{"status":"success"}'
    return respond


@pytest.mark.slow
def test_a_hanging_channel_delays_neither_rounds_nor_the_other_channels(engine):
    """With one channel hanging, rounds stay 1 s apart (median ± 0.2 s) and the healthy channel gets each alert within
    2 s of its firing (it used to share one thread: rounds every 1.3-4 s, deliveries 21 s late)."""
    release = threading.Event()
    source = InMemoryMetricSource()
    points: list[dict] = []

    def error_rate(agent: str) -> None:
        points.append({"timestamp": datetime.now(timezone.utc), "value": 0.5, "agent": agent})
        source.set("error_rate", pd.DataFrame(points))

    with RecordingServer(hanging(release)) as stuck, RecordingServer() as healthy:
        text = f"""
settings: {{evaluation_interval: 1s}}
channels:
  stuck: {{type: webhook, url: "{stuck.url}", timeout: 30}}
  healthy: {{type: webhook, url: "{healthy.url}"}}
escalation_policies:
  default: [{{after: 0s, channels: [stuck, healthy]}}]
rules:
  - {{id: errors, type: threshold, metric: error_rate, group_by: [agent], window: 5m, aggregation: last, op: ">",
     value: 0.1}}
"""
        config = parse_rules(text, "isolation.yaml")
        service = AlertingService(engine, config, source, build_handlers(config.channels, LOOPBACK),
                                  queue_settings_of(config))
        stop = threading.Event()
        thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
        error_rate("a")
        thread.start()
        try:
            assert wait_for(lambda: len(healthy.ok()) == 1 and len(stuck.requests) == 1, timeout=10)
            for agent in ("b", "c", "d"):  # more alerts while the stuck channel still holds the first one
                time.sleep(1.3)
                error_rate(agent)
            assert wait_for(lambda: len(healthy.ok()) == 4, timeout=10)
            time.sleep(1.0)
            assert len(stuck.requests) == 1 and stuck.ok() == []  # still hanging: nothing was retried
        finally:
            stop.set()
            release.set()
            thread.join(timeout=10)
    rounds = list(service.rounds)
    gaps = [b - a for a, b in zip(rounds, rounds[1:])]
    # a hanging channel made every round late (1.3-4 s apart); on a loaded machine one round may still wait for
    # the next tick of the 1 s schedule (2.0 s once on CI), which is not what this guards against
    assert len(gaps) >= 5 and 0.8 <= statistics.median(gaps) <= 1.2 and max(gaps) <= 2.2, gaps
    from agentotel.alerting.manager import AlertManager

    started = {a["labels"]["agent"]: datetime.fromisoformat(a["starts_at"]) for a in AlertManager(engine).get_active_alerts()}
    delays = {r.json["alerts"][0]["labels"]["agent"]: (wall(r.at) - started[r.json["alerts"][0]["labels"]["agent"]])
              for r in healthy.ok()}
    assert set(delays) == {"a", "b", "c", "d"}
    assert all(delay <= timedelta(seconds=2) for delay in delays.values()), delays
    print(f"\nround gaps {min(gaps):.3f}-{max(gaps):.3f} s; healthy channel "
          f"{max(delays.values()).total_seconds():.3f} s after firing at most")


def test_redelivery_lease_is_a_setting_of_at_most_15_seconds_by_default():
    assert Settings().redelivery_lease == QueueSettings().lease == timedelta(seconds=15)
    config = parse_rules("settings: {redelivery_lease: 5s}\n", "r.yaml")
    assert queue_settings_of(config).lease == timedelta(seconds=5)


@pytest.mark.slow
def test_kill_9_mid_send_is_redelivered_after_the_lease_with_the_same_keys(db_url, engine, tmp_path):
    """The engine is killed while a webhook and a PagerDuty-like receiver hold its requests; a second engine
    waits while the first is alive (its lease is renewed though the send outlasts it), then sends both again
    once the lease (2 s) has run out: same Idempotency-Key, same dedup_key, same alert."""
    release = threading.Event()
    rule = ('  - {id: crash, type: threshold, metric: "metric:crash.errors", group_by: [service], window: 30s, '
            'step: 1s, aggregation: last, op: ">", value: 5}\n')
    procs: list[EngineProcess] = []
    with RecordingServer(hanging(release, first_only=True)) as hook, \
            RecordingServer(hanging(release, first_only=True)) as pager:
        rules = tmp_path / "crash.yaml"
        rules.write_text(f"""
settings: {{evaluation_interval: 1s, redelivery_lease: 2s, allow_hosts: [127.0.0.1]}}
channels:
  hook: {{type: webhook, url: "{hook.url}", timeout: 60}}
  pager: {{type: pagerduty, routing_key: rk-test-1, url: "{pager.url}/v2/enqueue", timeout: 60}}
escalation_policies:
  default: [{{after: 0s, channels: [hook, pager]}}]
rules:
{rule}""")
        try:
            first = EngineProcess(rules, db_url, tmp_path / "first.log")
            procs.append(first)
            assert wait_for(lambda: holder_pid(engine) == first.pid, timeout=60), first.text()
            point(engine, "crash.errors", 10, "svc-a")
            assert wait_for(lambda: len(hook.requests) == 1 and len(pager.requests) == 1, timeout=15), first.text()
            second = EngineProcess(rules, db_url, tmp_path / "second.log")
            procs.append(second)
            assert wait_for(lambda: "standing by" in second.text(), timeout=60), second.text()
            time.sleep(3.0)  # longer than the lease: the live sender keeps renewing it, nobody resends
            assert len(hook.requests) == 1 and len(pager.requests) == 1
            killed = time.monotonic()
            first.kill()
            assert wait_for(lambda: len(hook.ok()) == 1 and len(pager.ok()) == 1, timeout=15), second.text()
        finally:
            release.set()
            for proc in procs:
                proc.kill()
    redelivered = max(hook.requests[1].at, pager.requests[1].at) - killed
    assert redelivered <= 2.0 + 1.0 + 0.5, redelivered  # the lease, a worker's poll, slack
    sent, again = hook.requests
    assert sent.headers["idempotency-key"] == again.headers["idempotency-key"]
    assert [a["id"] for a in sent.json["alerts"]] == [a["id"] for a in again.json["alerts"]]
    assert pager.requests[0].json["dedup_key"] == pager.requests[1].json["dedup_key"]
    print(f"\nredelivered {redelivered:.2f} s after kill -9 (redelivery_lease 2 s)")


def test_an_email_sent_again_after_a_crash_keeps_its_message_id(engine, tmp_path, monkeypatch):
    """At-least-once on a real SMTP server: the duplicate a crash between sending and marking can cause
    carries the same Message-ID (mail clients that thread or dedupe on it show one message)."""
    from sqlalchemy import update

    from agentotel.alerting.channels.email import EmailHandler
    from agentotel.alerting.manager import AlertManager
    from agentotel.alerting.queue import NotificationQueue
    from agentotel.alerting.store import NOTIFICATIONS
    from agentotel.core.utc import utcnow
    from tests.alerting.support import SMTPServer, self_signed_cert

    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setenv("AGENTOTEL_TEST_SMTP_PW", "pw-crash")
    smtp = SMTPServer(cert, key, user="u", password="pw-crash").start()
    try:
        mail = EmailHandler("mail", {"host": "127.0.0.1", "port": smtp.port, "from": "a@example.com",
                                     "to": "b@example.com", "username": "u", "password_env": "AGENTOTEL_TEST_SMTP_PW",
                                     "ca_file": str(cert)}, LOOPBACK)
        settings = QueueSettings(lease=timedelta(seconds=1))
        first = NotificationQueue(engine, {"mail": mail}, settings)
        manager = AlertManager(engine)
        alert = manager.get_alert(manager.create_alert("crash", "critical", "down", {"agent": "a"}))
        notification_id = first.enqueue(alert, "mail")
        assert first.drain(timeout=10) == 1
        with engine.begin() as conn:  # the worker died between sending and marking the row delivered
            conn.execute(update(NOTIFICATIONS).values(status="sending", lease_until=utcnow() - timedelta(seconds=1)))
        assert NotificationQueue(engine, {"mail": mail}, settings).drain(timeout=10) == 1
        assert wait_for(lambda: len(smtp.messages) == 2, timeout=5)
    finally:
        smtp.stop()
    ids = {line for m in smtp.messages for line in m["data"].splitlines() if line.lower().startswith("message-id:")}
    assert ids == {f"Message-ID: <{notification_id}@agentotel>"}
