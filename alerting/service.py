"""The alerting service: rule evaluation on its interval, escalation and reminders, and delivery.

``AlertingService.run`` (``agentotel alerts run``, ``agentotel up`` through ``start_background``) keeps
three kinds of threads apart, so that nothing one channel does can delay evaluation or another channel:

- the **evaluation loop** (the calling thread): a round every ``evaluation_interval`` at a fixed rate
  (evaluate the rules, queue escalations and reminders), only while this engine holds the rule set's lease;
- one **channel worker** per channel (``ChannelWorker``), plus one for rows of channels the file no longer
  has: each claims and sends its channel's due notifications, woken at once when a row is queued in this
  process, else when the next row of its channel is due (at most ``poll_interval`` apart);
- the **keeper**: renews the rule set's lease (or takes it over when another engine of the same rule set
  died) and the leases of the notifications this process is sending.

``tick`` is one synchronous round of everything (``alerts run --once``, tests).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Collection, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from agentotel.alerting.channels.base import Handler
from agentotel.alerting.channels.registry import CHANNEL_TYPES, build_handlers
from agentotel.alerting.config import AlertingConfig, load_rules
from agentotel.alerting.engine import EvaluationReport, LeaseLost, RuleEngine
from agentotel.alerting.lease import EngineLease
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.queue import NotificationQueue, QueueSettings, RateLimit
from agentotel.alerting.sources import MetricSource, WarehouseMetricSource
from agentotel.alerting.ssrf import AddressPolicy
from agentotel.alerting.store import AUDIT, insert_audit, write_tx
from agentotel.core.projects import DEFAULT_PROJECT
from agentotel.core.secrets import REDACTED, redact_text
from agentotel.core.utc import utcnow

logger = logging.getLogger(__name__)

LEASE_TTL_INTERVALS = 1.25  # the rule set's lease lasts 1.25 evaluation intervals ...
LEASE_TRIES_PER_TTL = 6  # ... and is renewed (or taken over) six times as often
MIN_WAIT_S = 0.05  # a worker that found nothing to send waits at least this long
STOP_WAIT_S = 1.0  # how long a stop waits for the workers (all of them together)


class ChannelWorker(threading.Thread):
    """Delivers the notifications of one ``channel`` (or, with ``channel=None``, of every channel but
    ``exclude``) until ``stop`` is set. A send blocks only this thread, for at most the channel's timeout."""

    def __init__(self, queue: NotificationQueue, channel: str | None, stop: threading.Event,
                 poll_interval: float = 1.0, exclude: Collection[str] = ()) -> None:
        super().__init__(name=f"agentotel-alerting-{channel or 'other-channels'}", daemon=True)
        self.queue = queue
        self.channel = channel
        self.exclude = tuple(exclude)
        self.stop = stop
        self.poll_interval = poll_interval

    def run(self) -> None:
        waiter = self.queue.waiter(self.channel) if self.channel is not None else self.stop
        while not self.stop.is_set():
            if waiter is not self.stop:
                waiter.clear()
            try:
                sent = self.queue.process_due(channel=self.channel, exclude=self.exclude)
                wait = 0.0 if sent else self._until_next()
            except Exception:  # keep the worker alive across database hiccups
                logger.exception("channel %s: delivery round failed", self.channel or "<other>")
                wait = self.poll_interval
            if wait > 0:
                waiter.wait(wait)

    def _until_next(self) -> float:
        due = self.queue.next_due(self.channel, self.exclude)
        if due is None:
            return self.poll_interval
        return min(self.poll_interval, max(MIN_WAIT_S, (due - utcnow()).total_seconds()))


class AlertingService:
    """Rules engine + alert manager + notification queue wired from one rules file (one rule set).

    ``strict_channels``: fail on a channel that cannot be built (missing secret) instead of disabling it.
    ``allow_hosts``: internal hosts the channels may reach besides the file's ``settings.allow_hosts``
    (``AlertingSettings.allow_hosts``, resolved by the command). ``holder``: this engine's name in the
    rule set's lease (default: host, process id and a random part). ``project``: the service runs the rules
    as that project's rule set (``AlertingConfig.for_project``) and its alerts and notifications belong to it;
    ``source`` should then read only that project's telemetry (a source over a scoped engine).
    """

    def __init__(self, engine: Engine, config: AlertingConfig, source: MetricSource | None = None,
                 handlers: dict[str, Handler] | None = None, queue_settings: QueueSettings | None = None,
                 actor: str = "system", strict_channels: bool = False, allow_hosts: Iterable[str] = (),
                 holder: str | None = None, project: str | None = None) -> None:
        config = config.for_project(project)
        self.engine = engine
        self.config = config
        self.ruleset = config.ruleset
        if handlers is None:
            policy = AddressPolicy([*config.settings.allow_hosts, *allow_hosts])
            handlers = build_handlers(config.channels, policy, strict=strict_channels)
        record_config_change(engine, config, actor, project)
        self.queue = NotificationQueue(engine, handlers, queue_settings or queue_settings_of(config), self.ruleset,
                                       project)
        self.manager = AlertManager(engine, config, self.queue)
        self.source = source if source is not None else WarehouseMetricSource(engine)
        self.rules = RuleEngine(engine, config, self.source, self.manager)
        if project in (None, DEFAULT_PROJECT):  # legacy rows (before rule sets) are the default project's
            self.rules.adopt_legacy()
        interval = config.settings.evaluation_interval
        self.lease = EngineLease(engine, self.ruleset, interval * LEASE_TTL_INTERVALS, holder, project)
        self.rounds: deque[float] = deque(maxlen=1000)  # time.monotonic() at the start of each round run

    def tick(self, now: datetime | None = None, evaluate: bool = True) -> EvaluationReport | None:
        """One synchronous round of everything: evaluate rules (optional), queue due escalations and
        reminders, deliver due notifications of every channel."""
        report = self.rules.evaluate(now) if evaluate else None
        self.manager.escalate(now)
        self.manager.remind(now)
        self.queue.process_due()
        return report

    def round(self, now: datetime | None = None) -> EvaluationReport:
        """One evaluation round as the holder of the rule set's lease: evaluate (saved only while the lease
        is held), queue due escalations and reminders. Delivery is the channel workers' job."""
        report = self.rules.evaluate(now, fence=self.lease.fence)
        self.manager.escalate(now)
        self.manager.remind(now)
        if report.errors or report.counts.get("fired") or report.counts.get("resolved"):
            logger.info("rule set %s: round: %s", self.ruleset or "<api>",
                        ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "nothing firing")
        return report

    def channels(self) -> list[str]:
        """The channels this service delivers to (each gets a worker)."""
        return sorted(set(self.config.channels) | set(self.queue.handlers))

    def run(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Until ``stop`` is set: evaluation rounds every ``evaluation_interval`` (while holding the lease),
        channel workers and the keeper in their own threads (see the module docstring)."""
        interval = self.config.settings.evaluation_interval.total_seconds()
        halt = threading.Event()  # stops the helper threads once this loop ends
        wake = threading.Event()  # set by the keeper when this engine takes the lease over
        channels = self.channels()
        threads: list[threading.Thread] = [ChannelWorker(self.queue, c, halt, poll_interval) for c in channels]
        threads.append(ChannelWorker(self.queue, None, halt, poll_interval, exclude=channels))
        try:
            self.lease.acquire()
        except Exception:  # the keeper tries again
            logger.exception("rule set %s: lease not taken", self.ruleset or "<api>")
        threads.append(threading.Thread(target=self._keep, args=(halt, wake), name="agentotel-alerting-keeper",
                                        daemon=True))
        for thread in threads:
            thread.start()
        logger.info("rule set %s: engine %s started: %d rules, %d channels, every %gs; %s", self.ruleset or "<api>",
                    self.lease.holder, len(self.config.rules), len(channels), interval,
                    "evaluating" if self.lease.held() else "standing by (another engine evaluates)")
        next_round = time.monotonic()
        try:
            while not stop.is_set():
                if self.lease.held():
                    self.rounds.append(time.monotonic())
                    try:
                        self.round()
                    except LeaseLost as exc:
                        logger.warning("%s", exc)
                    except Exception:  # keep running across database or source hiccups
                        logger.exception("alerting: round failed")
                    next_round += interval
                    now = time.monotonic()
                    while next_round <= now:  # a round longer than the interval: skip the missed slots
                        next_round += interval
                else:
                    next_round = time.monotonic() + interval
                wake.clear()
                while (left := next_round - time.monotonic()) > 0 and not stop.is_set() and not wake.is_set():
                    wake.wait(min(left, 0.1))
                if wake.is_set():
                    next_round = time.monotonic()
        finally:
            halt.set()
            deadline = time.monotonic() + STOP_WAIT_S
            for thread in threads:  # a worker stuck in a send is a daemon thread: its rows' lease runs out
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            try:
                self.lease.release()
            except Exception:  # noqa: BLE001 - the lease runs out by itself
                logger.warning("rule set %s: lease not released", self.ruleset or "<api>")

    def _keep(self, halt: threading.Event, wake: threading.Event) -> None:
        """Renew (or take over) the rule set's lease and the leases of the notifications being sent."""
        period = max(MIN_WAIT_S, min(self.lease.ttl.total_seconds() / LEASE_TRIES_PER_TTL,
                                     self.queue.settings.lease.total_seconds() / 3))
        while not halt.wait(period):
            try:
                was_held = self.lease.held()
                if self.lease.acquire() and not was_held:
                    wake.set()
            except Exception:  # noqa: BLE001 - the next try may work; the lease ends by itself meanwhile
                logger.warning("rule set %s: lease renewal failed", self.ruleset or "<api>", exc_info=True)
            try:
                self.queue.renew_leases()
            except Exception:  # noqa: BLE001
                logger.warning("notification leases not renewed", exc_info=True)


def start_background(engine: Engine, rules_path: str | Path | None, stop_event: threading.Event,
                     source: MetricSource | None = None, poll_interval: float = 1.0,
                     allow_hosts: Iterable[str] = ()) -> threading.Thread:
    """Start the alerting service in a daemon thread (for ``agentotel up``); stops when ``stop_event`` is set.

    Without a rules file the service still delivers notifications of alerts created through the API
    (e.g. evaluation regressions) — there are just no rules and no channels.
    """
    config = load_rules(rules_path) if rules_path else AlertingConfig()
    service = AlertingService(engine, config, source, allow_hosts=allow_hosts)
    thread = threading.Thread(target=service.run, args=(stop_event, poll_interval), name="agentotel-alerting",
                              daemon=True)
    thread.start()
    return thread


def queue_settings_of(config: AlertingConfig) -> QueueSettings:
    """The notification queue's settings from a rules file (``settings:`` and each channel's ``rate_limit``)."""
    s = config.settings
    limits = {name: RateLimit(*ch.rate_limit) for name, ch in config.channels.items() if ch.rate_limit}
    return QueueSettings(dedup_window=s.dedup_window, group_wait=s.group_wait, group_interval=s.group_interval,
                         repeat_interval=s.repeat_interval, max_attempts=s.max_attempts, backoff_base=s.backoff_base,
                         backoff_max=s.backoff_max, lease=s.redelivery_lease, rate_limits=limits)


def config_snapshot(config: AlertingConfig) -> dict[str, Any]:
    """The rules file as plain JSON for the audit log; literal secrets in channel options are masked."""

    def plain(value: Any) -> Any:
        return json.loads(json.dumps(value, default=lambda v: str(v) if isinstance(v, timedelta) else repr(v)))

    rules = {r.id: plain(r.model_dump()) for r in config.rules}
    channels = {}
    for name, ch in config.channels.items():
        secret_keys = set(CHANNEL_TYPES[ch.type].Options.secrets)
        options = {k: (REDACTED if k in secret_keys and v else v) for k, v in ch.options.items()}
        channels[name] = plain({"type": ch.type, "options": options, "rate_limit": ch.rate_limit})
    policies = {name: [{"after": str(t.after), "channels": t.channels} for t in tiers]
                for name, tiers in config.policies.items()}
    snapshot = {"settings": plain(config.settings.model_dump()), "rules": rules, "channels": channels,
                "escalation_policies": policies}
    return json.loads(redact_text(json.dumps(snapshot)))


LEGACY_MARKER = "***"  # how channel secrets were masked in snapshots before core.secrets' one marker


def _current_marker(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A stored snapshot with the masking marker of today: snapshots written before core.secrets held the only
    marker masked channel secrets as ``***``; read as such they would count as a change of every channel."""
    for channel in (snapshot.get("channels") or {}).values():
        options = channel.get("options") or {}
        for key, value in options.items():
            if value == LEGACY_MARKER:
                options[key] = REDACTED
    return snapshot


def record_config_change(engine: Engine, config: AlertingConfig, actor: str = "system",
                         project: str | None = None) -> bool:
    """Append an audit row (of ``project``; None: ``default``) when the loaded rules / channels / policies differ
    from the last ones recorded in that project.

    ``before`` holds the old value of every changed rule, channel, policy or setting, ``after`` the new
    values plus the full snapshot (what the next comparison starts from). Returns whether a row was written.
    """
    target = str(config.file or "<inline>")
    snapshot = config_snapshot(config)
    with write_tx(engine) as conn:
        last = conn.execute(select(AUDIT.c.after).where(
            AUDIT.c.target_type == "alerting_config", AUDIT.c.target_id == target,
            AUDIT.c.project_id == (project or DEFAULT_PROJECT)).order_by(AUDIT.c.id.desc()).limit(1)
        ).scalar_one_or_none()
        previous = _current_marker((last or {}).get("snapshot") or {})
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for section, items in snapshot.items():
            old_items = previous.get(section) or {}
            for key in sorted(set(items) | set(old_items)):
                if items.get(key) != old_items.get(key):
                    before[f"{section}.{key}"] = old_items.get(key)
                    after[f"{section}.{key}"] = items.get(key)
        if not after:
            return False
        insert_audit(conn, actor, "config_change" if previous else "config_load", "alerting_config", target,
                     before or None, {**after, "snapshot": snapshot}, project=project)
    return True
