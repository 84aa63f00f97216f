"""The alerting service: rule evaluation on its interval, escalation and the notification worker, in
one loop (``agentotel alerts run``) or a background thread (``agentotel up``)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from agentotel.alerting.channels.base import Handler
from agentotel.alerting.channels.registry import CHANNEL_TYPES, build_handlers
from agentotel.alerting.config import AlertingConfig, load_rules
from agentotel.alerting.engine import EvaluationReport, RuleEngine
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.queue import NotificationQueue, QueueSettings, RateLimit
from agentotel.alerting.sources import MetricSource, WarehouseMetricSource
from agentotel.alerting.ssrf import AddressPolicy
from agentotel.alerting.store import AUDIT, insert_audit, write_tx
from agentotel.core.secrets import redact_text

logger = logging.getLogger(__name__)


class AlertingService:
    """Rules engine + alert manager + notification queue wired from one rules file.

    ``strict_channels``: fail on a channel that cannot be built (missing secret) instead of disabling it.
    ``allow_hosts``: internal hosts the channels may reach besides the file's ``settings.allow_hosts``
    (``AlertingSettings.allow_hosts``, resolved by the command).
    """

    def __init__(self, engine: Engine, config: AlertingConfig, source: MetricSource | None = None,
                 handlers: dict[str, Handler] | None = None, queue_settings: QueueSettings | None = None,
                 actor: str = "system", strict_channels: bool = False, allow_hosts: Iterable[str] = ()) -> None:
        self.engine = engine
        self.config = config
        if handlers is None:
            policy = AddressPolicy([*config.settings.allow_hosts, *allow_hosts])
            handlers = build_handlers(config.channels, policy, strict=strict_channels)
        record_config_change(engine, config, actor)
        self.queue = NotificationQueue(engine, handlers, queue_settings or queue_settings_of(config))
        self.manager = AlertManager(engine, config, self.queue)
        self.source = source if source is not None else WarehouseMetricSource(engine)
        self.rules = RuleEngine(engine, config, self.source, self.manager)

    def tick(self, now: datetime | None = None, evaluate: bool = True) -> EvaluationReport | None:
        """One round: evaluate rules (optional), queue due escalations, deliver due notifications."""
        report = self.rules.evaluate(now) if evaluate else None
        self.manager.escalate(now)
        self.queue.process_due()
        return report

    def run(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Loop until ``stop`` is set: rules every ``evaluation_interval``, the queue every ``poll_interval``."""
        interval = self.config.settings.evaluation_interval.total_seconds()
        next_eval = 0.0
        while not stop.is_set():
            evaluate = time.monotonic() >= next_eval
            if evaluate:
                next_eval = time.monotonic() + interval
            try:
                self.tick(evaluate=evaluate)
            except Exception:  # keep running across database or source hiccups
                logger.exception("alerting: round failed")
            stop.wait(poll_interval)


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
    return QueueSettings(dedup_window=s.dedup_window, group_wait=s.group_wait, max_attempts=s.max_attempts,
                         backoff_base=s.backoff_base, backoff_max=s.backoff_max, rate_limits=limits)


def config_snapshot(config: AlertingConfig) -> dict[str, Any]:
    """The rules file as plain JSON for the audit log; literal secrets in channel options are masked."""

    def plain(value: Any) -> Any:
        return json.loads(json.dumps(value, default=lambda v: str(v) if isinstance(v, timedelta) else repr(v)))

    rules = {r.id: plain(r.model_dump()) for r in config.rules}
    channels = {}
    for name, ch in config.channels.items():
        secret_keys = set(CHANNEL_TYPES[ch.type].Options.secrets)
        options = {k: ("***" if k in secret_keys and v else v) for k, v in ch.options.items()}
        channels[name] = plain({"type": ch.type, "options": options, "rate_limit": ch.rate_limit})
    policies = {name: [{"after": str(t.after), "channels": t.channels} for t in tiers]
                for name, tiers in config.policies.items()}
    snapshot = {"settings": plain(config.settings.model_dump()), "rules": rules, "channels": channels,
                "escalation_policies": policies}
    return json.loads(redact_text(json.dumps(snapshot)))


def record_config_change(engine: Engine, config: AlertingConfig, actor: str = "system") -> bool:
    """Append an audit row when the loaded rules / channels / policies differ from the last recorded ones.

    ``before`` holds the old value of every changed rule, channel, policy or setting, ``after`` the new
    values plus the full snapshot (what the next comparison starts from). Returns whether a row was written.
    """
    target = str(config.file or "<inline>")
    snapshot = config_snapshot(config)
    with write_tx(engine) as conn:
        last = conn.execute(select(AUDIT.c.after).where(
            AUDIT.c.target_type == "alerting_config", AUDIT.c.target_id == target).order_by(AUDIT.c.id.desc()).limit(1)
        ).scalar_one_or_none()
        previous = (last or {}).get("snapshot") or {}
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
                     before or None, {**after, "snapshot": snapshot})
    return True
