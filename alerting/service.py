"""The alerting service: rule evaluation on its interval, escalation and the notification worker, in
one loop (``agentotel alerts run``) or a background thread (``agentotel up``)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from agentotel.alerting.engine import EvaluationReport, RuleEngine
from agentotel.alerting.handlers import Handler, build_handlers
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.queue import NotificationQueue, QueueSettings
from agentotel.alerting.rules import AlertingConfig, load_rules
from agentotel.alerting.sources import default_source
from agentotel.alerting.ssrf import AddressPolicy

logger = logging.getLogger(__name__)


class AlertingService:
    """Rules engine + alert manager + notification queue wired from one rules file."""

    def __init__(self, engine: Engine, config: AlertingConfig, source: Any | None = None,
                 handlers: dict[str, Handler] | None = None, queue_settings: QueueSettings | None = None) -> None:
        self.engine = engine
        self.config = config
        if handlers is None:
            handlers = build_handlers(config.channels, AddressPolicy(config.settings.get("allow_hosts", [])))
        self.queue = NotificationQueue(engine, handlers, queue_settings or QueueSettings.from_config(config))
        self.manager = AlertManager(engine, config, self.queue)
        self.source = source if source is not None else default_source(engine)
        self.rules = RuleEngine(engine, config, self.source, self.manager) if self.source is not None else None
        if self.rules is None and config.rules:
            logger.warning("no metric source (analytics engine not importable): rules are not evaluated")

    def tick(self, now: datetime | None = None, evaluate: bool = True) -> EvaluationReport | None:
        """One round: evaluate rules (optional), queue due escalations, deliver due notifications."""
        report = self.rules.evaluate(now) if (evaluate and self.rules is not None) else None
        self.manager.escalate(now)
        self.queue.process_due()
        return report

    def run(self, stop: threading.Event, poll_interval: float = 1.0) -> None:
        """Loop until ``stop`` is set: rules every ``evaluation_interval``, the queue every ``poll_interval``."""
        interval = self.config.settings["evaluation_interval"].total_seconds()
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
                     source: Any | None = None, poll_interval: float = 1.0) -> threading.Thread:
    """Start the alerting service in a daemon thread (for ``agentotel up``); stops when ``stop_event`` is set.

    Without a rules file the service still delivers notifications of alerts created through the API
    (e.g. evaluation regressions) — there are just no rules and no channels.
    """
    config = load_rules(rules_path) if rules_path else AlertingConfig()
    service = AlertingService(engine, config, source)
    thread = threading.Thread(target=service.run, args=(stop_event, poll_interval), name="agentotel-alerting",
                              daemon=True)
    thread.start()
    return thread
