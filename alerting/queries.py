"""Read-only queries over the alerting tables, for the dashboard, the CLI and tests.

Each function takes an Engine and returns plain dicts (timestamps as aware UTC datetimes). Nothing here
returns channel secrets: notification payloads are left out, errors are stored redacted. Statuses and
severities are checked against whitelists (ValueError) before they reach SQL.

- ``alerts(engine, status, severity, start, end, limit, rule_id)``: alerts, newest first
- ``alert_counts(engine)``: pending, firing, acknowledged, unacknowledged and resolved alerts
- ``pending_series(engine, limit, rule_id)``: rule series whose condition holds but whose ``for`` has not
  elapsed
- ``notifications(engine, alert_id, status, channel, limit, rule_id, event, since, id_prefix)``:
  notification deliveries, newest first
- ``dead_letters(engine, limit, …)``: notifications that could not be delivered (re-sendable), same filters
- ``channel_stats(engine)``: per rule set and channel: deliveries, failures, Retry-After block, last error
- ``silences(engine, active_only, id_prefix)``: silences
- ``engine_leases(engine)``: which engine evaluates each rule set, until when, and its last round
- ``audit_log(engine, limit)``: the append-only audit trail, newest first

``project`` (every function): only that project's rows; None: every row the engine sees.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Select, Table, func, select, true

from agentotel.alerting.channels.base import EVENTS
from agentotel.alerting.queue import NOTIFICATION_STATUSES
from agentotel.alerting.rules.base import SEVERITIES
from agentotel.core.utc import as_utc, utcnow
from agentotel.warehouse.alerting_models import (
    AlertAuditLog,
    AlertChannelState,
    AlertEngineLease,
    AlertNotification,
    AlertRuleState,
    AlertSilence,
)
from agentotel.warehouse.bounds import check_choice, check_limit
from agentotel.warehouse.models import Alert

ALERT_STATUSES = ("pending", "firing", "resolved")
MAX_ROWS = 5000

_NOTIFICATION_COLUMNS = [c for c in AlertNotification.__table__.c if c.name != "payload"]


def _of(table: Table, project: str | None) -> ColumnElement[bool]:
    return true() if project is None else table.c.project_id == project


def _rows(engine: Engine, stmt: Select) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def alerts(engine: Engine, status: str | None = None, severity: str | None = None, start: datetime | None = None,
           end: datetime | None = None, limit: int = 200, rule_id: str | None = None,
           project: str | None = None) -> list[dict[str, Any]]:
    """Alerts, newest first; ``start``/``end`` bound the alert's start time."""
    check_choice(status, ALERT_STATUSES, "status")
    check_choice(severity, SEVERITIES, "severity")
    t = Alert.__table__
    stmt = select(t).where(_of(t, project))
    if rule_id:
        stmt = stmt.where(t.c.rule_id == rule_id)
    if status is not None:
        stmt = stmt.where(t.c.status == status)
    if severity is not None:
        stmt = stmt.where(t.c.severity == severity)
    if start is not None:
        stmt = stmt.where(t.c.timestamp >= as_utc(start))
    if end is not None:
        stmt = stmt.where(t.c.timestamp < as_utc(end))
    return _rows(engine, stmt.order_by(t.c.timestamp.desc(), t.c.id.desc()).limit(check_limit(limit, MAX_ROWS)))


def alert_counts(engine: Engine, project: str | None = None) -> dict[str, int]:
    """``{"pending", "firing", "acknowledged", "unacknowledged", "resolved"}``: pending counts the rule
    series waiting for their ``for`` time as well as pending alerts; (un)acknowledged count firing alerts."""
    alerts_ = Alert.__table__
    states = AlertRuleState.__table__
    out = dict.fromkeys(("pending", "firing", "acknowledged", "unacknowledged", "resolved"), 0)
    with engine.connect() as conn:
        grouped = conn.execute(
            select(alerts_.c.status, alerts_.c.acknowledged, func.count()).where(_of(alerts_, project))
            .group_by(alerts_.c.status, alerts_.c.acknowledged)
        )
        for status, acknowledged, n in grouped:
            if status in ALERT_STATUSES:
                out[status] += int(n)
            if status == "firing":
                out["acknowledged" if acknowledged else "unacknowledged"] += int(n)
        out["pending"] += int(
            conn.execute(select(func.count()).select_from(states).where(states.c.state == "pending",
                                                                _of(states, project))).scalar_one()
        )
    return out


def pending_series(engine: Engine, limit: int = 500, rule_id: str | None = None,
                   project: str | None = None) -> list[dict[str, Any]]:
    """Rule series whose condition holds but whose ``for`` duration has not elapsed yet (newest first):
    ruleset, rule_id, labels, active_since, last_eval_at, last_value."""
    t = AlertRuleState.__table__
    stmt = select(t.c.ruleset, t.c.rule_id, t.c.labels, t.c.active_since, t.c.last_eval_at, t.c.last_value).where(
        t.c.state == "pending", _of(t, project))
    if rule_id:
        stmt = stmt.where(t.c.rule_id == rule_id)
    return _rows(engine, stmt.order_by(t.c.active_since.desc(), t.c.rule_id).limit(check_limit(limit, MAX_ROWS)))


def notifications(engine: Engine, alert_id: int | None = None, status: str | None = None,
                  channel: str | None = None, limit: int = 200, rule_id: str | None = None,
                  event: str | None = None, since: datetime | None = None,
                  id_prefix: str | None = None, project: str | None = None) -> list[dict[str, Any]]:
    """Notification queue rows without their payloads, newest first; ``status='dead'`` gives the dead
    letters. ``rule_id``: of that rule's alerts; ``since``: queued at or after; ``id_prefix``: ids that
    start with it (hex)."""
    check_choice(status, NOTIFICATION_STATUSES, "status")
    check_choice(event, EVENTS, "event")
    t = AlertNotification.__table__
    stmt = select(*_NOTIFICATION_COLUMNS).where(_of(t, project))
    if alert_id is not None:
        stmt = stmt.where(t.c.alert_id == alert_id)
    if status is not None:
        stmt = stmt.where(t.c.status == status)
    if channel:
        stmt = stmt.where(t.c.channel == channel)
    if rule_id:
        stmt = stmt.where(t.c.group_key == rule_id[:255])
    if event:
        stmt = stmt.where(t.c.event == event)
    if since is not None:
        stmt = stmt.where(t.c.created_at >= as_utc(since))
    if id_prefix is not None:
        stmt = stmt.where(t.c.id.startswith(_hex(id_prefix)))
    return _rows(engine, stmt.order_by(t.c.created_at.desc(), t.c.id).limit(check_limit(limit, MAX_ROWS)))


def dead_letters(engine: Engine, limit: int = 200, channel: str | None = None, alert_id: int | None = None,
                 rule_id: str | None = None, event: str | None = None, since: datetime | None = None,
                 id_prefix: str | None = None, project: str | None = None) -> list[dict[str, Any]]:
    """Notifications that could not be delivered, newest first (filters as ``notifications``)."""
    return notifications(engine, alert_id=alert_id, status="dead", channel=channel, limit=limit, rule_id=rule_id,
                         event=event, since=since, id_prefix=id_prefix, project=project)


def channel_stats(engine: Engine, project: str | None = None) -> list[dict[str, Any]]:
    """Per rule set and channel: deliveries_total, failures_total, blocked_until, last_error, updated_at."""
    t = AlertChannelState.__table__
    return _rows(engine, select(t).where(_of(t, project)).order_by(t.c.channel, t.c.ruleset))


def silences(engine: Engine, active_only: bool = True, id_prefix: str | None = None,
             project: str | None = None) -> list[dict[str, Any]]:
    """Silences, latest ending first; only those in force now unless ``active_only`` is false."""
    t = AlertSilence.__table__
    stmt = select(t).where(_of(t, project)).order_by(t.c.ends_at.desc())
    if active_only:
        now = utcnow()
        stmt = stmt.where(t.c.starts_at <= now, t.c.ends_at > now)
    if id_prefix is not None:
        stmt = stmt.where(t.c.id.startswith(_hex(id_prefix)))
    return _rows(engine, stmt)


def engine_leases(engine: Engine, project: str | None = None) -> list[dict[str, Any]]:
    """Per rule set: the engine evaluating it (holder), since when, until when, and its last round."""
    t = AlertEngineLease.__table__
    return _rows(engine, select(t).where(t.c.holder != "", _of(t, project)).order_by(t.c.ruleset))


def _hex(prefix: str) -> str:
    """An id prefix: hex digits only (ids are uuid4 hex), so nothing else reaches ``LIKE``."""
    prefix = prefix.strip().lower()
    if not prefix or any(c not in "0123456789abcdef" for c in prefix):
        raise ValueError(f"an id (or the start of one) is hex digits, not {prefix!r}")
    return prefix


def audit_log(engine: Engine, limit: int = 200, project: str | None = None) -> list[dict[str, Any]]:
    """The alerting audit trail (actor, action, target_type, target_id, before, after), newest first."""
    t = AlertAuditLog.__table__
    return _rows(engine, select(t).where(_of(t, project)).order_by(t.c.id.desc()).limit(check_limit(limit, MAX_ROWS)))
