"""Alerting: rules over the warehouse metrics, the alert lifecycle, a durable notification queue and channels.

- ``config``: the YAML rules file as pydantic models (``load_rules`` / ``parse_rules``; ``RuleError`` names
  file, line and rule); ``spec``: the models' base, field types and error wording.
- ``rules/``: one module per rule type (threshold, anomaly, trend, composite, custom) on ``rules.base``;
  ``expr``: the composite rules' expression parser.
- ``sources``: where rules read metrics (``MetricSource``; ``WarehouseMetricSource`` = analytics engine +
  ``evaluation:<metric>`` scores; ``InMemoryMetricSource``).
- ``engine.RuleEngine``: pending → firing → resolved per rule and label set (``for``, hysteresis), for one
  rule set (``AlertingConfig.ruleset``: the rules file or its ``settings.namespace``); it never touches
  another rule set's alerts. ``lease.EngineLease``: which engine of a rule set evaluates (HA).
- ``manager.AlertManager(engine)``: ``create_alert``, ``update_alert``, ``acknowledge_alert``,
  ``resolve_alert``, ``get_active_alerts``, silences, escalation, reminders, audit log.
- ``queue.NotificationQueue``: Alertmanager grouping (``group_wait``, ``group_interval``,
  ``repeat_interval``), dedup, rate limits, retries with back-off, dead letters, redelivery leases
  (at-least-once, idempotency keys).
- ``channels/``: one module per channel (Slack, email, PagerDuty, webhook, Telegram, Discord, Alertmanager,
  log), ``channels.registry.CHANNEL_TYPES``; ``ssrf``: the address policy channels connect under.
- ``service.AlertingService.run``: the evaluation loop, one worker thread per channel, the lease keeper;
  ``service.start_background(engine, rules_path, stop_event)``: all of it in a thread (``agentotel up``).
- ``cli`` declares ``agentotel alerts ...``; ``commands`` carries them out.

Read-only queries (dashboard, CLI): ``queries`` (alerts, counts, pending series, notifications, dead
letters, channel stats, silences, engine leases, audit log).
"""
