"""The durable notification queue (table ``alert_notifications``).

- **Durable, at-least-once**: a notification is a row; a worker leases rows (``sending`` + ``lease_until``),
  sends outside the transaction, then marks them. While it sends, its process renews the lease
  (``renew_leases``); a worker that dies mid-send stops renewing, the lease (``redelivery_lease``, 15 s by
  default) runs out and another worker (or the restarted process) sends the same message again, with the
  same members and so the same idempotency key: the row id, or a digest of the row ids of a group
  (``Idempotency-Key`` header, e-mail ``Message-ID``; PagerDuty dedups on the alert's fingerprint,
  Alertmanager on the labels).
- **Rule sets**: each row belongs to the rule set whose channel it is for (``ruleset``); a queue claims only
  its rule set's rows, so two engines with different rules files never send through each other's channels.
- **Grouping, as Alertmanager**: rows of one channel and group (the rule) go out together. A new group waits
  ``group_wait`` from its first row, holding it open for late arrivals; once the channel has been told of
  the group (a firing alert of it was delivered), a change (a new alert, a resolve, a reminder) waits until
  ``group_interval`` after the group's last message. The wait is decided when a worker first finds a row,
  so rows queued by any process (a resolve from the CLI) follow it.
- **Deduplication**: the same trigger (same alert, same channel) queued again within ``dedup_window`` is
  dropped. Only repeats of the same state: a new firing after a resolve is a new alert and is always sent;
  reminders (``repeat_interval``, queued by ``AlertManager.remind``) bypass it.
- **Rate limits**: at most ``count`` messages per ``per`` on a channel; the rest wait (never dropped).
- **Retries**: exponential back-off with jitter; a channel's ``Retry-After`` is honoured for the whole
  channel; after ``max_attempts`` (or a permanent error) the row becomes a dead letter (``dead``),
  listed by ``queries.dead_letters()`` and sent again by ``resend()``.
- **Per-channel delivery**: ``process_due(channel=…)`` serves one channel, so the service gives each channel
  its own worker thread (``service.ChannelWorker``) and a hanging channel delays nobody else;
  ``waiter(channel)`` is set whenever a row for the channel is queued in this process.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from agentotel.alerting.channels.base import DeliveryError, Handler
from agentotel.alerting.store import (
    ALERTS,
    CHANNEL_STATE,
    NOTIFICATIONS,
    insert_audit,
    of_project,
    stamp,
    write_tx,
)
from agentotel.core.secrets import redact_text
from agentotel.core.utc import utcnow
from agentotel.warehouse.upsert import insert_on_conflict

logger = logging.getLogger(__name__)

PENDING, SENDING, DELIVERED, DEAD, SKIPPED, SUPPRESSED = "pending", "sending", "delivered", "dead", "skipped", "suppressed"
NOTIFICATION_STATUSES = (PENDING, SENDING, DELIVERED, DEAD, SKIPPED, SUPPRESSED)
GROUPED_EVENTS = ("trigger", "resolve")  # acknowledgements go out at once
_PAYLOAD_DROPPED = ("silenced", "ruleset")  # per-process or internal: not part of a message


@dataclass
class RateLimit:
    count: int
    per: timedelta


@dataclass
class QueueSettings:
    dedup_window: timedelta = timedelta(minutes=5)
    group_wait: timedelta = timedelta(0)
    group_interval: timedelta = timedelta(0)
    repeat_interval: timedelta = timedelta(hours=4)
    max_attempts: int = 8
    backoff_base: timedelta = timedelta(seconds=2)
    backoff_max: timedelta = timedelta(minutes=5)
    lease: timedelta = timedelta(seconds=15)  # redelivery after a worker died mid-send
    batch_size: int = 100
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)


def backoff(attempt: int, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential back-off with "equal jitter": half fixed, half random, capped at ``cap``."""
    delay = min(cap.total_seconds(), base.total_seconds() * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))  # noqa: S311 - jitter, not crypto


def idempotency_key(ids: list[str]) -> str:
    """The key of one message: the row id, or for a group a digest of its row ids, so that a retry whose
    group gained a member is a new message for the receiver (nothing in it is dropped as a duplicate),
    while a redelivery after a crash (the same rows) carries the same key."""
    if len(ids) == 1:
        return ids[0]
    return hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:32]


def notification_row(alert: Mapping[str, Any], channel: str, event: str, tier: int, now: datetime,
                     due: datetime | None = None, status: str = PENDING, ruleset: str = "",
                     project: str | None = None) -> dict[str, Any]:
    """A notification queue row; ``project`` (None: ``default``) is the project of the alert it tells of."""
    stamp = {} if project is None else {"project_id": project}
    return {**stamp,
        "id": uuid.uuid4().hex, "alert_id": alert.get("id"), "channel": channel, "event": event,
        "fingerprint": alert["fingerprint"], "group_key": str(alert.get("rule_id") or alert["fingerprint"])[:255],
        "tier": tier, "payload": {k: v for k, v in alert.items() if k not in _PAYLOAD_DROPPED}, "status": status,
        "attempts": 0, "next_attempt_at": due or now, "lease_until": None, "last_error": None, "delivery_id": None,
        "created_at": now, "updated_at": now, "delivered_at": None, "ruleset": ruleset,
    }


class NotificationQueue:
    """Enqueue notifications of rule set ``ruleset`` and deliver the due ones through ``handlers``
    (channel name → Handler); the rows it queues belong to ``project`` (None: ``default``)."""

    def __init__(self, engine: Engine, handlers: Mapping[str, Handler] | None = None,
                 settings: QueueSettings | None = None, ruleset: str = "", project: str | None = None) -> None:
        self.engine = engine
        self.project = project
        self.handlers = dict(handlers or {})
        self.settings = settings or QueueSettings()
        self.ruleset = ruleset
        self.stats: dict[str, int] = defaultdict(int)
        self._recent: dict[tuple[Any, str], datetime] = {}  # (alert, channel) → dedup window end
        self._lock = threading.Lock()
        self._in_flight: set[str] = set()  # delivery ids this process is sending (leases renewed)
        self._waiters: dict[str, threading.Event] = defaultdict(threading.Event)

    # --- enqueue -------------------------------------------------------------------------------------------

    def enqueue(self, alert: Mapping[str, Any], channel: str, event: str = "trigger", tier: int = 0,
                now: datetime | None = None, repeat: bool = False) -> str | None:
        """Queue one notification; returns its id, or ``None`` when a trigger of the same alert was queued
        for the channel within the dedup window (``stats['deduplicated']`` counts those). ``repeat``: a
        reminder, never deduplicated."""
        now = now or utcnow()
        key = (alert.get("id") or alert["fingerprint"], channel)
        dedup = event == "trigger" and not repeat
        if dedup:
            with self._lock:
                until = self._recent.get(key)
                if until is not None and until > now:
                    self.stats["deduplicated"] += 1
                    return None
        with write_tx(self.engine) as conn:
            if dedup and self._recent_trigger(conn, alert, channel, now):
                with self._lock:
                    self._recent[key] = now + self.settings.dedup_window
                self.stats["deduplicated"] += 1
                return None
            row = notification_row(alert, channel, event, tier, now, ruleset=self.ruleset, project=self.project)
            conn.execute(NOTIFICATIONS.insert().values(**row))
        if dedup:
            with self._lock:
                self._recent[key] = now + self.settings.dedup_window
                if len(self._recent) > 10000:
                    self._recent = {k: v for k, v in self._recent.items() if v > now}
        self.stats["enqueued"] += 1
        self.wake(channel)
        return str(row["id"])

    def _recent_trigger(self, conn: Connection, alert: Mapping[str, Any], channel: str, now: datetime) -> bool:
        """A trigger of the same alert (the same firing: a re-fire after a resolve is a new alert) queued for
        ``channel`` within the dedup window."""
        n = NOTIFICATIONS.c
        same = n.alert_id == alert["id"] if alert.get("id") is not None else and_(
            n.alert_id.is_(None), n.fingerprint == alert["fingerprint"])
        found = conn.execute(select(n.id).where(
            same, n.ruleset == self.ruleset, n.channel == channel, n.event == "trigger",
            n.created_at >= now - self.settings.dedup_window, n.status.in_((PENDING, SENDING, DELIVERED, DEAD)),
        ).limit(1)).first()
        return found is not None

    def wake(self, channel: str) -> None:
        """Tell this process's worker of ``channel`` that something was queued for it."""
        self._waiters[channel].set()

    def waiter(self, channel: str) -> threading.Event:
        """Set whenever a row for ``channel`` is queued in this process (the channel's worker waits on it)."""
        return self._waiters[channel]

    # --- delivery ------------------------------------------------------------------------------------------

    def _scope(self, channel: str | None, exclude: Collection[str]) -> list[ColumnElement[bool]]:
        n = NOTIFICATIONS.c
        where = [n.ruleset == self.ruleset]
        if channel is not None:
            where.append(n.channel == channel)
        if exclude:
            where.append(n.channel.not_in(list(exclude)))
        return where

    def _blocked(self, now: datetime) -> Any:
        return select(CHANNEL_STATE.c.channel).where(CHANNEL_STATE.c.ruleset == self.ruleset,
                                                     of_project(CHANNEL_STATE, self.project),
                                                     CHANNEL_STATE.c.blocked_until > now)

    def process_due(self, now: datetime | None = None, limit: int | None = None, channel: str | None = None,
                    exclude: Collection[str] = ()) -> int:
        """Send every due notification once (grouped), of one ``channel`` or of all but ``exclude``;
        returns the number of rows delivered."""
        now = now or utcnow()
        if not self.due_count(now, channel, exclude):  # a read: idle polling never takes the write lock
            return 0
        delivered = 0
        for members in self._claim(now, limit or self.settings.batch_size, channel, exclude):
            delivered += self._deliver(members[0]["channel"], members[0]["event"], members)
        return delivered

    def _claim(self, now: datetime, limit: int, channel: str | None = None,
               exclude: Collection[str] = ()) -> list[list[dict[str, Any]]]:
        """Lease the due rows; returns them as messages (rows that go out together). Rows whose lease ran
        out are sent again with the members they had, so with the same idempotency key."""
        n = NOTIFICATIONS.c
        due = or_(and_(n.status == PENDING, n.next_attempt_at <= now), and_(n.status == SENDING, n.lease_until < now))
        with write_tx(self.engine) as conn:
            query = (select(NOTIFICATIONS).where(due, *self._scope(channel, exclude), n.channel.not_in(self._blocked(now)))
                     .order_by(n.created_at).limit(limit).with_for_update(skip_locked=True))
            rows = [dict(r._mapping) for r in conn.execute(query)]
            rows = self._grouping_wait(conn, rows, now)
            rows = self._within_rate_limits(conn, rows, now)
            messages: dict[tuple[str, str, str, str | None], list[dict[str, Any]]] = defaultdict(list)
            for row in rows:
                again = row["delivery_id"] if row["status"] == SENDING else None
                messages[(row["channel"], row["event"], row["group_key"], again)].append(row)
            for members in messages.values():
                token = uuid.uuid4().hex
                conn.execute(NOTIFICATIONS.update().where(n.id.in_([m["id"] for m in members])).values(
                    status=SENDING, lease_until=now + self.settings.lease, delivery_id=token, updated_at=now))
                for member in members:
                    member["delivery_id"] = token
        with self._lock:
            self._in_flight.update(m[0]["delivery_id"] for m in messages.values())
        return list(messages.values())

    def _grouping_wait(self, conn: Connection, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """Hold back the rows of groups whose ``group_wait`` / ``group_interval`` has not passed: their rows
        (every first attempt of the group) get the group's flush time, so they go out together then."""
        s = self.settings
        fresh = [r for r in rows if r["status"] == PENDING and r["attempts"] == 0 and r["event"] in GROUPED_EVENTS]
        if not fresh or (s.group_wait <= timedelta(0) and s.group_interval <= timedelta(0)):
            return rows
        flush = self._flush_times(conn, {(r["channel"], r["group_key"]) for r in fresh}, now)
        held = {group for group, at in flush.items() if at > now}
        if not held:
            return rows
        n = NOTIFICATIONS.c
        for group_channel, group_key in held:
            conn.execute(NOTIFICATIONS.update().where(
                n.ruleset == self.ruleset, n.channel == group_channel, n.group_key == group_key, n.status == PENDING,
                n.attempts == 0, n.event.in_(GROUPED_EVENTS)).values(next_attempt_at=flush[(group_channel, group_key)]))
        self.stats["held_for_group"] += len(held)
        waiting = {r["id"] for r in fresh if (r["channel"], r["group_key"]) in held}
        return [r for r in rows if r["id"] not in waiting]

    def _flush_times(self, conn: Connection, groups: set[tuple[str, str]], now: datetime) -> dict[tuple[str, str], datetime]:
        """When each group's waiting rows may go out: ``group_interval`` after the group's last message if
        the channel knows the group (a firing alert of it was delivered, or a resolve is waiting), else
        ``group_wait`` after the group's first waiting row."""
        n = NOTIFICATIONS.c
        channels, keys = sorted({c for c, _ in groups}), sorted({k for _, k in groups})
        scope = [n.ruleset == self.ruleset, n.channel.in_(channels), n.group_key.in_(keys)]
        waiting = {(r.channel, r.group_key): (r.first, bool(r.resolves)) for r in conn.execute(
            select(n.channel, n.group_key, func.min(n.created_at).label("first"),
                   func.max(case((n.event == "resolve", 1), else_=0)).label("resolves"))
            .where(*scope, n.status == PENDING, n.attempts == 0, n.event.in_(GROUPED_EVENTS))
            .group_by(n.channel, n.group_key))}
        last = {(r.channel, r.group_key): r.last for r in conn.execute(
            select(n.channel, n.group_key, func.max(n.delivered_at).label("last"))
            .where(*scope, n.status == DELIVERED).group_by(n.channel, n.group_key))}
        told = {(r.channel, r.group_key) for r in conn.execute(
            select(n.channel, n.group_key).distinct().select_from(NOTIFICATIONS.join(ALERTS, ALERTS.c.id == n.alert_id))
            .where(*scope, n.event == "trigger", n.status.in_((DELIVERED, SENDING)), ALERTS.c.status == "firing"))}
        out = {}
        for group in groups:
            first, resolves = waiting.get(group, (now, False))
            if group in told or resolves:
                previous = last.get(group)
                out[group] = previous + self.settings.group_interval if previous is not None else now
            else:
                out[group] = first + self.settings.group_wait
        return out

    def _within_rate_limits(self, conn: Connection, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """Keep the rows whose channel still has room; a group counts as one message."""
        kept = []
        budget: dict[str, int] = {}
        seen_groups: set[tuple] = set()
        deferred: dict[str, list[str]] = defaultdict(list)
        n = NOTIFICATIONS.c
        for row in rows:
            limit = self.settings.rate_limits.get(row["channel"])
            if limit is None:
                kept.append(row)
                continue
            if row["channel"] not in budget:
                sent = conn.execute(select(func.count(func.distinct(n.delivery_id))).where(
                    n.ruleset == self.ruleset, n.channel == row["channel"], n.status == DELIVERED,
                    n.delivered_at > now - limit.per)).scalar_one()
                budget[row["channel"]] = limit.count - int(sent)
            group = (row["channel"], row["event"], row["group_key"])
            if group in seen_groups:
                kept.append(row)
            elif budget[row["channel"]] > 0:
                budget[row["channel"]] -= 1
                seen_groups.add(group)
                kept.append(row)
            else:
                deferred[row["channel"]].append(row["id"])
                self.stats["rate_limited"] += 1
        for channel, ids in deferred.items():  # wait until the oldest message in the window ages out
            limit = self.settings.rate_limits[channel]
            oldest = conn.execute(select(func.min(n.delivered_at)).where(
                n.ruleset == self.ruleset, n.channel == channel, n.status == DELIVERED,
                n.delivered_at > now - limit.per)).scalar_one_or_none()
            until = (oldest + limit.per) if oldest is not None else now + limit.per / limit.count
            conn.execute(NOTIFICATIONS.update().where(n.id.in_(ids)).values(
                next_attempt_at=max(until, now), updated_at=now))
        return kept

    def _deliver(self, channel: str, event: str, rows: list[dict[str, Any]]) -> int:
        token = rows[0]["delivery_id"]
        try:
            return self._send(channel, event, rows, token)
        finally:
            with self._lock:
                self._in_flight.discard(token)

    def _send(self, channel: str, event: str, rows: list[dict[str, Any]], token: str) -> int:
        now = utcnow()
        ids = [r["id"] for r in rows]
        handler = self.handlers.get(channel)
        if handler is None:
            self._finish(ids, DEAD, now, error=f"no handler configured for channel {channel!r}")
            self.stats["dead"] += len(ids)
            return 0
        if event not in handler.events:
            self._finish(ids, SKIPPED, now, error=f"{handler.type} channels do not take {event} events")
            return 0
        alerts = [r["payload"] for r in rows]
        try:
            handler.send(event, alerts, idempotency_key=idempotency_key(ids))
        except DeliveryError as exc:
            self._failed(channel, rows, exc, token)
            return 0
        except Exception as exc:  # a handler bug must not stop the worker; retried like a failure
            logger.exception("channel %s: unexpected error", channel)
            self._failed(channel, rows, DeliveryError(f"{type(exc).__name__}: {exc}"), token)
            return 0
        with write_tx(self.engine) as conn:
            conn.execute(NOTIFICATIONS.update().where(NOTIFICATIONS.c.id.in_(ids)).values(
                status=DELIVERED, delivered_at=utcnow(), lease_until=None, last_error=None,
                attempts=NOTIFICATIONS.c.attempts + 1, updated_at=utcnow()))
            self._count(conn, channel, deliveries=1, now=now)
        self.stats["delivered"] += len(ids)
        logger.info("channel %s: delivered %s for %d alert(s)", channel, event, len(ids))
        return len(ids)

    def _failed(self, channel: str, rows: list[dict[str, Any]], exc: DeliveryError, token: str) -> None:
        now = utcnow()  # after the attempt: a Retry-After counts from the answer
        error = redact_text(str(exc))[:1000]
        attempts = max(r["attempts"] for r in rows) + 1
        dead = (not exc.retryable) or attempts >= self.settings.max_attempts
        delay = backoff(attempts, self.settings.backoff_base, self.settings.backoff_max)
        if exc.retry_after is not None:
            delay = max(delay, timedelta(seconds=exc.retry_after))
        n = NOTIFICATIONS.c
        with write_tx(self.engine) as conn:  # only rows still ours: another worker may have taken them over
            conn.execute(NOTIFICATIONS.update().where(
                n.id.in_([r["id"] for r in rows]), n.status == SENDING, n.delivery_id == token).values(
                status=DEAD if dead else PENDING, attempts=attempts, last_error=error, lease_until=None,
                next_attempt_at=now + delay, updated_at=now))
            self._count(conn, channel, failures=1, now=now, error=error,
                        blocked_until=now + timedelta(seconds=exc.retry_after) if exc.retry_after else None)
        self.stats["failed"] += 1
        if dead:
            self.stats["dead"] += len(rows)
        logger.warning("channel %s: delivery failed (attempt %d, %s): %s", channel, attempts,
                       "dead letter" if dead else f"retry in {delay.total_seconds():.1f}s", error)

    def _finish(self, ids: list[str], status: str, now: datetime, error: str | None = None) -> None:
        with write_tx(self.engine) as conn:
            conn.execute(NOTIFICATIONS.update().where(NOTIFICATIONS.c.id.in_(ids)).values(
                status=status, last_error=error, lease_until=None, updated_at=now))

    def _count(self, conn: Connection, channel: str, now: datetime, deliveries: int = 0, failures: int = 0,
               error: str | None = None, blocked_until: datetime | None = None) -> None:
        c = CHANNEL_STATE.c
        insert_on_conflict(conn, CHANNEL_STATE, [{"ruleset": self.ruleset, "channel": channel, "deliveries_total": 0,
                                                  "failures_total": 0, "updated_at": now, **stamp(self.project)}],
                           ["ruleset", "channel"])
        values: dict[str, Any] = {"deliveries_total": c.deliveries_total + deliveries,
                                  "failures_total": c.failures_total + failures, "updated_at": now}
        if error is not None:
            values["last_error"] = error
        if blocked_until is not None:
            values["blocked_until"] = blocked_until
        conn.execute(CHANNEL_STATE.update().where(c.ruleset == self.ruleset, c.channel == channel,
                                                  of_project(CHANNEL_STATE, self.project)).values(**values))

    def renew_leases(self, now: datetime | None = None) -> int:
        """Extend the lease of every message this process is sending (the service calls this well within
        the lease): only a process that died lets its leases run out."""
        with self._lock:
            tokens = list(self._in_flight)
        if not tokens:
            return 0
        now = now or utcnow()
        n = NOTIFICATIONS.c
        with write_tx(self.engine) as conn:
            result = conn.execute(NOTIFICATIONS.update().where(n.delivery_id.in_(tokens), n.status == SENDING).values(
                lease_until=now + self.settings.lease))
        return int(result.rowcount or 0)

    def run(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Deliver due notifications of every channel until ``stop`` is set (one thread for all channels;
        the service runs one ``ChannelWorker`` per channel instead)."""
        while not stop.is_set():
            try:
                self.process_due()
            except Exception:  # keep the worker alive across database hiccups
                logger.exception("notification worker: processing failed")
            stop.wait(poll_interval)

    def drain(self, timeout: float = 10.0) -> int:
        """Process until nothing is due now (rows waiting for a retry, a rate limit or their group's wait
        stay queued), or ``timeout`` seconds pass; returns the number of rows delivered."""
        deadline = utcnow() + timedelta(seconds=timeout)
        total = 0
        while utcnow() < deadline:
            total += self.process_due()
            if not self.due_count():
                break
        return total

    def due_count(self, now: datetime | None = None, channel: str | None = None, exclude: Collection[str] = ()) -> int:
        """Rows a worker would claim now (pending and due, or leased by a worker whose lease expired)."""
        now = now or utcnow()
        n = NOTIFICATIONS.c
        due = or_(and_(n.status == PENDING, n.next_attempt_at <= now), and_(n.status == SENDING, n.lease_until < now))
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(NOTIFICATIONS).where(
                due, *self._scope(channel, exclude), n.channel.not_in(self._blocked(now)))).scalar_one())

    def next_due(self, channel: str | None = None, exclude: Collection[str] = ()) -> datetime | None:
        """When the next row of ``channel`` (or of all but ``exclude``) becomes due: its next attempt, an
        expiring lease, or the end of the channel's Retry-After block."""
        n = NOTIFICATIONS.c
        at = case((n.status == PENDING, n.next_attempt_at), else_=n.lease_until)
        with self.engine.connect() as conn:
            soonest = conn.execute(select(func.min(at)).where(
                *self._scope(channel, exclude), n.status.in_((PENDING, SENDING)))).scalar_one_or_none()
            if soonest is None or channel is None:
                return soonest
            blocked = conn.execute(select(CHANNEL_STATE.c.blocked_until).where(
                CHANNEL_STATE.c.ruleset == self.ruleset, CHANNEL_STATE.c.channel == channel,
                of_project(CHANNEL_STATE, self.project))).scalar_one_or_none()
        return max(soonest, blocked) if blocked is not None else soonest

    # --- inspection and dead letters -----------------------------------------------------------------------

    def pending_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(NOTIFICATIONS).where(
                NOTIFICATIONS.c.ruleset == self.ruleset, NOTIFICATIONS.c.status.in_((PENDING, SENDING)))).scalar_one())

    def resend(self, notification_id: str, by: str = "system") -> bool:
        """Put a dead letter back into the queue (attempts reset); audited. False if not a dead letter."""
        now = utcnow()
        with write_tx(self.engine) as conn:
            row = conn.execute(select(NOTIFICATIONS.c.status, NOTIFICATIONS.c.attempts, NOTIFICATIONS.c.channel,
                                      NOTIFICATIONS.c.project_id).where(
                NOTIFICATIONS.c.id == notification_id).with_for_update()).first()
            if row is None or row.status != DEAD or (self.project is not None and row.project_id != self.project):
                return False
            conn.execute(NOTIFICATIONS.update().where(NOTIFICATIONS.c.id == notification_id).values(
                status=PENDING, attempts=0, next_attempt_at=now, updated_at=now))
            insert_audit(conn, by, "resend", "notification", notification_id,
                         {"status": DEAD, "attempts": row.attempts}, {"status": PENDING, "attempts": 0}, now,
                         project=row.project_id)
        self.wake(row.channel)
        return True
