"""The durable notification queue (table ``alert_notifications``).

- **Durable**: a notification is a row; workers lease rows (``sending`` + ``lease_until``), send outside
  the transaction and then mark them; a worker that dies mid-send leaves a lease that expires and another
  worker (or the restarted process) sends again. Delivery is therefore at-least-once; the row id is the
  idempotency key (``Idempotency-Key`` header, e-mail ``Message-ID``; PagerDuty dedups on the fingerprint).
- **Deduplication**: one trigger per (fingerprint, channel) within ``dedup_window``.
- **Grouping**: due rows with the same (channel, event, group_key) go out as one message.
- **Rate limits**: at most ``count`` messages per ``per`` on a channel; the rest wait (never dropped).
- **Retries**: exponential back-off with jitter; a channel's ``Retry-After`` is honoured for the whole
  channel; after ``max_attempts`` (or a permanent error) the row becomes a dead letter (``dead``),
  listed by ``dead_letters()`` and sent again by ``resend()``.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from agentotel.alerting.channels.base import DeliveryError, Handler
from agentotel.alerting.store import CHANNEL_STATE, NOTIFICATIONS, insert_audit, write_tx
from agentotel.core.secrets import redact_text
from agentotel.core.utc import utcnow
from agentotel.warehouse.upsert import insert_on_conflict

logger = logging.getLogger(__name__)

PENDING, SENDING, DELIVERED, DEAD, SKIPPED, SUPPRESSED = "pending", "sending", "delivered", "dead", "skipped", "suppressed"
NOTIFICATION_STATUSES = (PENDING, SENDING, DELIVERED, DEAD, SKIPPED, SUPPRESSED)


@dataclass
class RateLimit:
    count: int
    per: timedelta


@dataclass
class QueueSettings:
    dedup_window: timedelta = timedelta(minutes=5)
    group_wait: timedelta = timedelta(0)
    max_attempts: int = 8
    backoff_base: timedelta = timedelta(seconds=2)
    backoff_max: timedelta = timedelta(minutes=5)
    lease: timedelta = timedelta(seconds=60)
    batch_size: int = 100
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)


def backoff(attempt: int, base: timedelta, cap: timedelta) -> timedelta:
    """Exponential back-off with "equal jitter": half fixed, half random, capped at ``cap``."""
    delay = min(cap.total_seconds(), base.total_seconds() * (2 ** max(0, attempt - 1)))
    return timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))  # noqa: S311 - jitter, not crypto


def idempotency_key(ids: list[str]) -> str:
    """The key of one message: the row id, or for a group a digest of its row ids, so that a retry whose
    group gained a member is a new message for the receiver (nothing in it is dropped as a duplicate)."""
    if len(ids) == 1:
        return ids[0]
    return hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()[:32]


def notification_row(alert: Mapping[str, Any], channel: str, event: str, tier: int, now: datetime,
                     due: datetime | None = None, status: str = PENDING) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex, "alert_id": alert.get("id"), "channel": channel, "event": event,
        "fingerprint": alert["fingerprint"], "group_key": str(alert.get("rule_id") or alert["fingerprint"])[:255],
        "tier": tier, "payload": dict(alert), "status": status, "attempts": 0, "next_attempt_at": due or now,
        "lease_until": None, "last_error": None, "delivery_id": None, "created_at": now, "updated_at": now,
        "delivered_at": None,
    }


class NotificationQueue:
    """Enqueue notifications and deliver the due ones through ``handlers`` (channel name → Handler)."""

    def __init__(self, engine: Engine, handlers: Mapping[str, Handler] | None = None,
                 settings: QueueSettings | None = None) -> None:
        self.engine = engine
        self.handlers = dict(handlers or {})
        self.settings = settings or QueueSettings()
        self.stats: dict[str, int] = defaultdict(int)
        self._recent: dict[tuple[str, str, str], datetime] = {}  # dedup key → window end
        self._lock = threading.Lock()

    # --- enqueue -------------------------------------------------------------------------------------------

    def enqueue(self, alert: Mapping[str, Any], channel: str, event: str = "trigger", tier: int = 0,
                now: datetime | None = None) -> str | None:
        """Queue one notification; returns its id, or ``None`` when a trigger for the same fingerprint and
        channel was queued within the dedup window (``stats['deduplicated']`` counts those)."""
        now = now or utcnow()
        key = (alert["fingerprint"], channel, event)
        if event == "trigger":
            with self._lock:
                until = self._recent.get(key)
                if until is not None and until > now:
                    self.stats["deduplicated"] += 1
                    return None
        with write_tx(self.engine) as conn:
            if event == "trigger" and self._recent_trigger(conn, alert["fingerprint"], channel, now):
                with self._lock:
                    self._recent[key] = now + self.settings.dedup_window
                self.stats["deduplicated"] += 1
                return None
            due = now + self.settings.group_wait if event == "trigger" else now
            row = notification_row(alert, channel, event, tier, now, due)
            conn.execute(NOTIFICATIONS.insert().values(**row))
        if event == "trigger":
            with self._lock:
                self._recent[key] = now + self.settings.dedup_window
                if len(self._recent) > 10000:
                    self._recent = {k: v for k, v in self._recent.items() if v > now}
        self.stats["enqueued"] += 1
        return row["id"]

    def _recent_trigger(self, conn, fp: str, channel: str, now: datetime) -> bool:
        since = now - self.settings.dedup_window
        found = conn.execute(select(NOTIFICATIONS.c.id).where(
            NOTIFICATIONS.c.fingerprint == fp, NOTIFICATIONS.c.channel == channel,
            NOTIFICATIONS.c.event == "trigger", NOTIFICATIONS.c.created_at >= since,
            NOTIFICATIONS.c.status.in_((PENDING, SENDING, DELIVERED, DEAD)),
        ).limit(1)).first()
        return found is not None

    # --- delivery ------------------------------------------------------------------------------------------

    def process_due(self, now: datetime | None = None, limit: int | None = None) -> int:
        """Send every due notification once (grouped); returns the number of rows delivered."""
        now = now or utcnow()
        if not self.due_count(now):  # a read: idle polling never takes the write lock
            return 0
        rows = self._claim(now, limit or self.settings.batch_size)
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            groups[(row["channel"], row["event"], row["group_key"])].append(row)
        delivered = 0
        for (channel, event, _), members in groups.items():
            delivered += self._deliver(channel, event, members)
        return delivered

    def _claim(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        n = NOTIFICATIONS.c
        due = or_(and_(n.status == PENDING, n.next_attempt_at <= now), and_(n.status == SENDING, n.lease_until < now))
        with write_tx(self.engine) as conn:
            blocked = {r.channel for r in conn.execute(select(CHANNEL_STATE.c.channel).where(CHANNEL_STATE.c.blocked_until > now))}
            query = select(NOTIFICATIONS).where(due).order_by(n.created_at).limit(limit).with_for_update(skip_locked=True)
            if blocked:
                query = query.where(n.channel.not_in(blocked))
            rows = [dict(r._mapping) for r in conn.execute(query)]
            rows = self._within_rate_limits(conn, rows, now)
            groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
            for row in rows:
                groups[(row["channel"], row["event"], row["group_key"])].append(row["id"])
            for ids in groups.values():  # one delivery (message) per group
                conn.execute(NOTIFICATIONS.update().where(n.id.in_(ids)).values(
                    status=SENDING, lease_until=now + self.settings.lease, delivery_id=uuid.uuid4().hex,
                    updated_at=now))
        return rows

    def _within_rate_limits(self, conn, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """Keep the rows whose channel still has room; a group counts as one message."""
        kept = []
        budget: dict[str, int] = {}
        seen_groups: set[tuple] = set()
        deferred: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            limit = self.settings.rate_limits.get(row["channel"])
            if limit is None:
                kept.append(row)
                continue
            if row["channel"] not in budget:
                sent = conn.execute(select(func.count(func.distinct(NOTIFICATIONS.c.delivery_id))).where(
                    NOTIFICATIONS.c.channel == row["channel"], NOTIFICATIONS.c.status == DELIVERED,
                    NOTIFICATIONS.c.delivered_at > now - limit.per)).scalar_one()
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
            oldest = conn.execute(select(func.min(NOTIFICATIONS.c.delivered_at)).where(
                NOTIFICATIONS.c.channel == channel, NOTIFICATIONS.c.status == DELIVERED,
                NOTIFICATIONS.c.delivered_at > now - limit.per)).scalar_one_or_none()
            until = (oldest + limit.per) if oldest is not None else now + limit.per / limit.count
            conn.execute(NOTIFICATIONS.update().where(NOTIFICATIONS.c.id.in_(ids)).values(
                next_attempt_at=max(until, now), updated_at=now))
        return kept

    def _deliver(self, channel: str, event: str, rows: list[dict[str, Any]]) -> int:
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
            self._failed(channel, rows, exc)
            return 0
        except Exception as exc:  # a handler bug must not stop the worker; retried like a failure
            logger.exception("channel %s: unexpected error", channel)
            self._failed(channel, rows, DeliveryError(f"{type(exc).__name__}: {exc}"))
            return 0
        with write_tx(self.engine) as conn:
            conn.execute(NOTIFICATIONS.update().where(NOTIFICATIONS.c.id.in_(ids)).values(
                status=DELIVERED, delivered_at=utcnow(), lease_until=None, last_error=None,
                attempts=NOTIFICATIONS.c.attempts + 1, updated_at=utcnow()))
            self._count(conn, channel, deliveries=1, now=now)
        self.stats["delivered"] += len(ids)
        logger.info("channel %s: delivered %s for %d alert(s)", channel, event, len(ids))
        return len(ids)

    def _failed(self, channel: str, rows: list[dict[str, Any]], exc: DeliveryError) -> None:
        now = utcnow()  # after the attempt: a Retry-After counts from the answer
        error = redact_text(str(exc))[:1000]
        attempts = max(r["attempts"] for r in rows) + 1
        dead = (not exc.retryable) or attempts >= self.settings.max_attempts
        delay = backoff(attempts, self.settings.backoff_base, self.settings.backoff_max)
        if exc.retry_after is not None:
            delay = max(delay, timedelta(seconds=exc.retry_after))
        with write_tx(self.engine) as conn:
            conn.execute(NOTIFICATIONS.update().where(NOTIFICATIONS.c.id.in_([r["id"] for r in rows])).values(
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

    def _count(self, conn, channel: str, now: datetime, deliveries: int = 0, failures: int = 0,
               error: str | None = None, blocked_until: datetime | None = None) -> None:
        insert_on_conflict(conn, CHANNEL_STATE, [{"channel": channel, "deliveries_total": 0, "failures_total": 0,
                                                  "updated_at": now}], ["channel"])
        values: dict[str, Any] = {"deliveries_total": CHANNEL_STATE.c.deliveries_total + deliveries,
                                  "failures_total": CHANNEL_STATE.c.failures_total + failures, "updated_at": now}
        if error is not None:
            values["last_error"] = error
        if blocked_until is not None:
            values["blocked_until"] = blocked_until
        conn.execute(CHANNEL_STATE.update().where(CHANNEL_STATE.c.channel == channel).values(**values))

    def run(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Deliver due notifications until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.process_due()
            except Exception:  # keep the worker alive across database hiccups
                logger.exception("notification worker: processing failed")
            stop.wait(poll_interval)

    def drain(self, timeout: float = 10.0) -> int:
        """Process until nothing is due now (rows waiting for a retry, a rate limit or ``group_wait`` stay
        queued), or ``timeout`` seconds pass; returns the number of rows delivered."""
        deadline = utcnow() + timedelta(seconds=timeout)
        total = 0
        while utcnow() < deadline:
            total += self.process_due()
            if not self.due_count():
                break
        return total

    def due_count(self, now: datetime | None = None) -> int:
        """Rows a worker would claim now (pending and due, or leased by a worker whose lease expired)."""
        now = now or utcnow()
        n = NOTIFICATIONS.c
        due = or_(and_(n.status == PENDING, n.next_attempt_at <= now), and_(n.status == SENDING, n.lease_until < now))
        with self.engine.connect() as conn:
            blocked = select(CHANNEL_STATE.c.channel).where(CHANNEL_STATE.c.blocked_until > now)
            return int(conn.execute(select(func.count()).select_from(NOTIFICATIONS).where(
                due, n.channel.not_in(blocked))).scalar_one())

    # --- inspection and dead letters -----------------------------------------------------------------------

    def pending_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(NOTIFICATIONS).where(
                NOTIFICATIONS.c.status.in_((PENDING, SENDING)))).scalar_one())

    def resend(self, notification_id: str, by: str = "system") -> bool:
        """Put a dead letter back into the queue (attempts reset); audited. False if not a dead letter."""
        now = utcnow()
        with write_tx(self.engine) as conn:
            row = conn.execute(select(NOTIFICATIONS.c.status, NOTIFICATIONS.c.attempts).where(
                NOTIFICATIONS.c.id == notification_id).with_for_update()).first()
            if row is None or row.status != DEAD:
                return False
            conn.execute(NOTIFICATIONS.update().where(NOTIFICATIONS.c.id == notification_id).values(
                status=PENDING, attempts=0, next_attempt_at=now, updated_at=now))
            insert_audit(conn, by, "resend", "notification", notification_id,
                         {"status": DEAD, "attempts": row.attempts}, {"status": PENDING, "attempts": 0}, now)
        return True
