"""The durable notification queue on SQLite and PostgreSQL with real loopback receivers: outage and
recovery (A1), Retry-After (A2), PagerDuty dedup (A3), SMTP outage (A4), restarts, deduplication, rate
limits, grouping, dead letters, escalation."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from agentotel.alerting import queries as q
from agentotel.alerting.channels.email import EmailHandler
from agentotel.alerting.channels.pagerduty import PagerDutyHandler
from agentotel.alerting.channels.slack import SlackHandler
from agentotel.alerting.channels.telegram import TelegramHandler
from agentotel.alerting.channels.webhook import WebhookHandler
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.queue import NotificationQueue, QueueSettings, RateLimit, backoff, idempotency_key
from agentotel.alerting.ssrf import AddressPolicy
from agentotel.alerting.store import NOTIFICATIONS
from agentotel.core.utc import utcnow
from tests.alerting.support import RecordingServer, SMTPServer, self_signed_cert
from tests.conftest import free_port
from tests.support.polling import wait_for

LOOPBACK = AddressPolicy(["127.0.0.1"])
FAST = dict(backoff_base=timedelta(seconds=0.2), backoff_max=timedelta(seconds=1), max_attempts=100,
            lease=timedelta(seconds=1))


def make_queue(engine, handlers, **settings) -> NotificationQueue:
    return NotificationQueue(engine, handlers, QueueSettings(**{**FAST, **settings}))


def new_alert(engine, rule_id="high-error-rate", **labels) -> dict:
    manager = AlertManager(engine)
    return manager.get_alert(manager.create_alert(rule_id, "critical", f"{rule_id} firing", labels or {"agent": "a"}, 0.2))


def pump(queue: NotificationQueue, until, timeout: float = 15.0) -> bool:
    def step() -> bool:
        queue.process_due()
        return until()
    return wait_for(step, timeout=timeout, interval=0.05)


def rows(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(NOTIFICATIONS).order_by(NOTIFICATIONS.c.created_at))]


def test_backoff_grows_exponentially_with_jitter_and_cap():
    base, cap = timedelta(seconds=1), timedelta(seconds=30)
    for attempt, full in [(1, 1), (2, 2), (3, 4), (4, 8), (6, 30), (20, 30)]:
        delays = [backoff(attempt, base, cap).total_seconds() for _ in range(50)]
        assert all(full / 2 <= d <= full for d in delays)
        assert len(set(delays)) > 1  # jittered


@pytest.mark.slow
def test_outage_then_recovery_delivered_exactly_once(engine):
    """A1: the webhook answers 500 for ~1.5 s, then 200 (RELIABILITY says 60 s; back-off is scaled down)."""
    recover_at = time.monotonic() + 1.5
    with RecordingServer(lambda r, n: (500 if time.monotonic() < recover_at else 200, {}, b"")) as server:
        queue = make_queue(engine, {"hook": WebhookHandler("hook", {"url": server.url}, LOOPBACK)})
        alert = new_alert(engine)
        notification_id = queue.enqueue(alert, "hook")
        assert pump(queue, lambda: server.ok())
        end = time.monotonic() + 0.5
        while time.monotonic() < end:  # keep the worker running: nothing more is sent
            queue.process_due()
            time.sleep(0.05)
    failures = [r for r in server.requests if r.status == 500]
    assert len(server.ok()) == 1 and len(failures) >= 2
    assert server.ok()[0].headers["idempotency-key"] == notification_id
    # exponential back-off between attempts (equal jitter: at least half the nominal delay)
    for k in range(1, len(server.requests)):
        nominal = min(1.0, 0.2 * 2 ** (k - 1))
        assert server.requests[k].at - server.requests[k - 1].at >= nominal / 2 - 0.02
    [stats] = q.channel_stats(engine)
    assert stats["failures_total"] == len(failures) and stats["deliveries_total"] == 1
    [row] = rows(engine)
    assert row["status"] == "delivered" and row["attempts"] == len(server.requests)
    assert q.dead_letters(engine) == []


@pytest.mark.slow
def test_retry_after_is_honoured_for_the_channel(engine):
    """A2: a Slack-like server answers 429 with Retry-After: 3 once."""
    with RecordingServer(lambda r, n: (429, {"Retry-After": "3"}, b"rate_limited") if n == 0 else (200, {}, b"ok")) as server:
        queue = make_queue(engine, {"slack": SlackHandler("slack", {"url": server.url + "/services/x"}, LOOPBACK)},
                           backoff_base=timedelta(seconds=0.05))
        queue.enqueue(new_alert(engine, "first"), "slack")
        queue.process_due()
        assert [r.status for r in server.requests] == [429]
        queue.enqueue(new_alert(engine, "second"), "slack")  # another alert for the blocked channel waits too
        assert pump(queue, lambda: len(server.ok()) == 2, timeout=10)
    first = server.requests[0].at
    assert all(r.at - first >= 3.0 for r in server.requests[1:])
    assert {r["status"] for r in rows(engine)} == {"delivered"}


def test_pagerduty_same_alert_three_times_one_dedup_key(engine):
    """A3: the same alert fired three times reaches PagerDuty with one dedup_key (one incident)."""
    with RecordingServer(lambda r, n: (202, {}, b'{"status":"success"}')) as server:
        pd = PagerDutyHandler("pd", {"routing_key": "rk-123456", "url": server.url + "/v2/enqueue"}, LOOPBACK)
        queue = make_queue(engine, {"pd": pd}, dedup_window=timedelta(0))
        manager = AlertManager(engine)
        for _ in range(3):
            alert_id = manager.create_alert("latency", "critical", "slow", {"agent": "a"})
            queue.enqueue(manager.get_alert(alert_id), "pd")
            queue.process_due()  # trigger delivered
            manager.resolve_alert(alert_id)  # queues the resolve event
        assert pump(queue, lambda: len(server.requests) >= 6, timeout=5)
    triggers = [r.json for r in server.requests if r.json["event_action"] == "trigger"]
    assert len(triggers) == 3
    assert [r.json["event_action"] for r in server.requests] == ["trigger", "resolve"] * 3
    assert len({r.json["dedup_key"] for r in server.requests}) == 1


def test_smtp_down_then_up_delivers_after_recovery(engine, tmp_path, monkeypatch):
    """A4: the SMTP server is down, then comes up on the same port."""
    cert, key = self_signed_cert(tmp_path)
    monkeypatch.setenv("AGENTOTEL_TEST_SMTP_PW", "pw-for-smtp")
    port = free_port()
    mail = EmailHandler("mail", {"host": "127.0.0.1", "port": port, "from": "a@example.com", "to": "b@example.com",
                                 "username": "u", "password_env": "AGENTOTEL_TEST_SMTP_PW", "ca_file": str(cert),
                                 "timeout": 3}, LOOPBACK)
    queue = make_queue(engine, {"mail": mail})
    queue.enqueue(new_alert(engine), "mail")
    queue.process_due()
    queue.process_due()
    [row] = rows(engine)
    assert row["status"] == "pending" and row["attempts"] >= 1 and "Connection" in (row["last_error"] or "")
    smtp = SMTPServer(cert, key, user="u", password="pw-for-smtp", port=port).start()
    try:
        assert pump(queue, lambda: len(smtp.messages) == 1)
    finally:
        smtp.stop()
    assert rows(engine)[0]["status"] == "delivered"
    assert "pw-for-smtp" not in str(rows(engine)) and "pw-for-smtp" not in str(q.channel_stats(engine))


@pytest.mark.slow
def test_restart_with_queued_notifications_loses_none(engine):
    down = WebhookHandler("hook", {"url": f"http://127.0.0.1:{free_port()}/hook"}, LOOPBACK)
    first = make_queue(engine, {"hook": down})
    alerts = [new_alert(engine, f"rule-{i}") for i in range(5)]
    for alert in alerts:
        first.enqueue(alert, "hook")
    first.process_due()  # all fail: the channel is down
    more = [new_alert(engine, f"late-{i}") for i in range(2)]
    for alert in more:
        first.enqueue(alert, "hook")
    claimed = first._claim(utcnow(), 100)  # a worker leases rows and dies before sending
    assert claimed
    del first
    with RecordingServer() as server:
        second = make_queue(engine, {"hook": WebhookHandler("hook", {"url": server.url}, LOOPBACK)})
        assert pump(second, lambda: all(r["status"] == "delivered" for r in rows(engine)))
    received = {a["fingerprint"] for r in server.requests for a in r.json["alerts"]}
    assert received == {a["fingerprint"] for a in alerts + more}
    assert len(rows(engine)) == 7


def test_ten_thousand_identical_events_one_notification_per_window(engine):
    with RecordingServer() as server:
        queue = make_queue(engine, {"hook": WebhookHandler("hook", {"url": server.url}, LOOPBACK)},
                           dedup_window=timedelta(minutes=5))
        alert = new_alert(engine)
        started = time.monotonic()
        ids = [queue.enqueue(alert, "hook") for _ in range(10_000)]
        elapsed = time.monotonic() - started
        assert sum(i is not None for i in ids) == 1 and queue.stats["deduplicated"] == 9_999
        queue.drain(timeout=5)
        assert len(server.requests) == 1
        # another worker process (fresh queue object) sees the same window through the database
        assert make_queue(engine, {}, dedup_window=timedelta(minutes=5)).enqueue(alert, "hook") is None
        # the next window gets the next notification
        assert queue.enqueue(alert, "hook", now=utcnow() + timedelta(minutes=6)) is not None
    assert elapsed < 5, elapsed


def test_rate_limit_defers_without_dropping(engine):
    with RecordingServer() as server:
        queue = make_queue(engine, {"hook": WebhookHandler("hook", {"url": server.url}, LOOPBACK)},
                           rate_limits={"hook": RateLimit(2, timedelta(minutes=1))})
        for i in range(5):
            queue.enqueue(new_alert(engine, f"rule-{i}"), "hook")
        queue.process_due()
        assert len(server.requests) == 2 and queue.pending_count() == 3
        assert queue.due_count() == 0  # deferred until the window frees, not spinning
        queue.process_due()
        assert len(server.requests) == 2  # still within the minute
        queue.process_due(now=utcnow() + timedelta(seconds=61))
        assert len(server.requests) == 4
        queue.process_due(now=utcnow() + timedelta(seconds=122))
        assert len(server.requests) == 5 and queue.pending_count() == 0


def test_alerts_of_one_rule_are_grouped_into_one_message(engine):
    with RecordingServer() as server:
        queue = make_queue(engine, {"hook": WebhookHandler("hook", {"url": server.url}, LOOPBACK)})
        for agent in ("a", "b", "c"):
            queue.enqueue(new_alert(engine, "latency", agent=agent), "hook")
        queue.enqueue(new_alert(engine, "errors"), "hook")
        queue.drain(timeout=5)
    by_rule = {r.json["alerts"][0]["rule_id"]: r.json["alerts"] for r in server.requests}
    assert len(server.requests) == 2
    assert sorted(a["labels"]["agent"] for a in by_rule["latency"]) == ["a", "b", "c"]


def test_dead_letters_are_visible_and_resendable(engine):
    state = {"broken": True}
    with RecordingServer(lambda r, n: (400 if state["broken"] else 200, {}, b"bad request")) as server:
        queue = make_queue(engine, {"hook": WebhookHandler("hook", {"url": server.url}, LOOPBACK)})
        notification_id = queue.enqueue(new_alert(engine), "hook")
        queue.process_due()
        [dead] = q.dead_letters(engine)  # 400 is permanent: dead after one attempt
        assert dead["id"] == notification_id and dead["last_error"].startswith("HTTP 400") and dead["attempts"] == 1
        state["broken"] = False
        assert queue.resend(notification_id, by="alice")
        assert not queue.resend(notification_id, by="alice")  # no longer a dead letter
        queue.drain(timeout=5)
    assert q.dead_letters(engine) == [] and len(server.ok()) == 1
    assert [(r["actor"], r["action"]) for r in q.audit_log(engine)][:1] == [("alice", "resend")]


def test_retries_end_in_dead_letter_after_max_attempts(engine):
    with RecordingServer(lambda r, n: (503, {}, b"")) as server:
        queue = make_queue(engine, {"hook": WebhookHandler("hook", {"url": server.url}, LOOPBACK)}, max_attempts=3,
                           backoff_base=timedelta(seconds=0.01))
        queue.enqueue(new_alert(engine), "hook")
        assert pump(queue, lambda: len(q.dead_letters(engine)) == 1, timeout=5)
    assert len(server.requests) == 3
    queue.enqueue(new_alert(engine, "other"), "nowhere")
    queue.process_due()
    assert any("no handler configured for channel 'nowhere'" in (d["last_error"] or "") for d in q.dead_letters(engine))


def test_resolve_before_delivery_cancels_the_trigger(engine):
    with RecordingServer() as server:
        queue = make_queue(engine, {"hook": WebhookHandler("hook", {"url": server.url}, LOOPBACK)},
                           group_wait=timedelta(seconds=30))
        alert = new_alert(engine)
        queue.enqueue(alert, "hook")
        AlertManager(engine).resolve_alert(alert["id"])
        queue.process_due(now=utcnow() + timedelta(seconds=31))
    assert server.requests == []
    assert [r["status"] for r in rows(engine)] == ["skipped"]


def test_two_workers_share_the_queue_without_double_delivery(engine):
    import threading

    with RecordingServer() as server:
        handler = WebhookHandler("hook", {"url": server.url}, LOOPBACK)
        producer = make_queue(engine, {"hook": handler})
        alerts = [new_alert(engine, f"rule-{i}") for i in range(20)]
        for alert in alerts:
            producer.enqueue(alert, "hook")
        workers = [make_queue(engine, {"hook": handler}, batch_size=3) for _ in range(2)]
        threads = [threading.Thread(target=w.drain, kwargs={"timeout": 15}) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
    received = [a["fingerprint"] for r in server.requests for a in r.json["alerts"]]
    assert sorted(received) == sorted(a["fingerprint"] for a in alerts)  # each exactly once
    assert sum(w.stats["delivered"] for w in workers) == 20


def test_no_secret_in_any_alerting_table_after_failures(engine, monkeypatch, caplog):
    """S5: channel secrets never reach stored rows (errors, payloads, counters, audit) or logs."""
    import logging

    from sqlalchemy import text

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("AGENTOTEL_TEST_SLACK_URL", f"http://127.0.0.1:{free_port()}/services/T0/B0/SLACKsecret42")
    handlers = {
        "slack": SlackHandler("slack", {"url_env": "AGENTOTEL_TEST_SLACK_URL"}, LOOPBACK),
        "tg": TelegramHandler("tg", {"bot_token": "4242:TGsecretToken", "chat_id": "1",
                                     "api_url": f"http://127.0.0.1:{free_port()}"}, LOOPBACK),
    }
    with RecordingServer(lambda r, n: (401, {}, b"invalid token 4242:TGsecretToken")) as server:
        handlers["pd"] = PagerDutyHandler("pd", {"routing_key": "PDsecretRoutingKey", "url": server.url}, LOOPBACK)
        queue = make_queue(engine, handlers, max_attempts=2, backoff_base=timedelta(seconds=0.01))
        alert = new_alert(engine)
        for channel in handlers:
            queue.enqueue(alert, channel)
        assert pump(queue, lambda: len(q.dead_letters(engine)) == 3, timeout=10)
    dump = []
    with engine.connect() as conn:
        for table in ("alerts", "alert_notifications", "alert_channel_state", "alert_audit_log", "alert_rule_state"):
            dump += [str(tuple(r)) for r in conn.execute(text(f"SELECT * FROM {table}"))]
    everything = "\n".join(dump) + caplog.text
    assert "401" in everything  # the failures were recorded
    for secret in ("SLACKsecret42", "TGsecretToken", "PDsecretRoutingKey"):
        assert secret not in everything, secret


def test_group_that_gains_a_member_on_retry_gets_a_new_idempotency_key(engine):
    with RecordingServer(lambda r, n: (500 if n == 0 else 200, {}, b"")) as server:
        queue = make_queue(engine, {"hook": WebhookHandler("hook", {"url": server.url}, LOOPBACK)})
        first = queue.enqueue(new_alert(engine, "latency", agent="a"), "hook")
        queue.process_due()  # fails
        second = queue.enqueue(new_alert(engine, "latency", agent="b"), "hook")
        queue.process_due(now=utcnow() + timedelta(seconds=5))  # the retry of a and the new b are both due
        assert len(server.ok()) == 1
    keys = [r.headers["idempotency-key"] for r in server.requests]
    assert keys == [first, idempotency_key([first, second])]
    assert len(server.ok()[0].json["alerts"]) == 2
