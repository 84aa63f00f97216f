"""Alerting: rules over the warehouse metrics, the alert lifecycle, a durable notification queue and channels.

- ``rules``: the YAML rules file (``load_rules`` / ``parse_rules``; ``RuleError`` names file, line and rule)
  with threshold, anomaly, trend, composite and custom rules.
- ``sources``: where rules read metrics (``MetricSource``; ``WarehouseMetricSource`` = analytics engine +
  ``evaluation:<metric>`` scores; ``InMemoryMetricSource``).
- ``engine.RuleEngine``: pending → firing → resolved per rule and label set (``for``, hysteresis).
- ``manager.AlertManager(engine)``: ``create_alert``, ``update_alert``, ``acknowledge_alert``,
  ``resolve_alert``, ``get_active_alerts``, silences, escalation, audit log.
- ``queue.NotificationQueue``: dedup, grouping, rate limits, retries with back-off, dead letters.
- ``handlers``: Slack, email, PagerDuty, webhook, Telegram, Discord, Alertmanager; ``ssrf``: address policy.
- ``service.start_background(engine, rules_path, stop_event)``: everything in a thread (``agentotel up``).

Read-only queries (dashboard, CLI): ``queries`` (alerts, counts, pending series, notifications, dead
letters, channel stats, silences, audit log).
"""
