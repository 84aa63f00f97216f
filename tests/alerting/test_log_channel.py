"""The ``log`` channel: a rule fires, the notification is written as one log line and marked delivered
(no account, no network); bad options are refused where the rules file is checked."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from agentotel.alerting import queries as q
from agentotel.alerting.channels.log import ALERT_LOGGER
from agentotel.alerting.channels.registry import CHANNEL_TYPES, build_handlers
from agentotel.alerting.config import RuleError, parse_rules
from agentotel.alerting.service import AlertingService, queue_settings_of
from agentotel.alerting.sources import InMemoryMetricSource

RULES = """
channels:
  console: {type: log, level: error}
escalation_policies:
  default: [{after: 0s, channels: [console]}]
rules:
  - id: high-error-rate
    type: threshold
    metric: error_rate
    group_by: [agent]
    window: 1m
    op: ">"
    value: 0.05
    message: "Error rate {value:.0%} on agent {agent}"
"""


def test_log_channel_delivers_trigger_and_resolve(engine, caplog):
    now = datetime.now(timezone.utc)
    source = InMemoryMetricSource({"error_rate": pd.DataFrame(
        {"timestamp": [now - timedelta(seconds=30)], "value": [0.5], "agent": ["sql-agent"]})})
    config = parse_rules(RULES, "rules.yaml")
    service = AlertingService(engine, config, source, build_handlers(config.channels),
                              queue_settings_of(config))
    with caplog.at_level(logging.INFO, logger=ALERT_LOGGER):
        assert service.tick().counts["fired"] == 1
        source.set("error_rate", pd.DataFrame({"timestamp": [now], "value": [0.0], "agent": ["sql-agent"]}))
        assert service.tick(now=now + timedelta(seconds=1)).counts["resolved"] == 1
        service.queue.drain(timeout=5)
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == ALERT_LOGGER]
    assert lines == [
        (logging.ERROR, "[FIRING] warning: high-error-rate Error rate 50% on agent sql-agent (value 0.5) [agent=sql-agent]"),
        (logging.ERROR, "[RESOLVED] warning: high-error-rate Error rate 50% on agent sql-agent (value 0.5) "
                        "[agent=sql-agent]"),
    ]
    assert {n["status"] for n in q.notifications(engine)} == {"delivered"}


def test_log_channel_options_are_checked_with_the_rules():
    assert "log" in CHANNEL_TYPES
    with pytest.raises(RuleError, match="level: must be one of debug, info, warning, error, critical, not 'loud'"):
        parse_rules(RULES.replace("level: error", "level: loud"), "rules.yaml")
    with pytest.raises(RuleError, match="unknown option 'url'"):
        parse_rules(RULES.replace("level: error", "url: http://127.0.0.1:1"), "rules.yaml")
