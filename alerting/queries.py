"""Read-only queries over the alerting tables, for the dashboard, the CLI and tests.

Each function takes an Engine and returns plain dicts (timestamps as aware UTC datetimes). Nothing here
returns channel secrets: notification payloads are left out, errors are stored redacted. Statuses and
severities are checked against whitelists (ValueError) before they reach SQL.

- ``alerts(engine, status, severity, start, end, limit)``: alerts, newest first
- ``alert_counts(engine)``: pending, firing, acknowledged, unacknowledged and resolved alerts
- ``pending_series(engine, limit)``: rule series whose condition holds but whose ``for`` has not elapsed
- ``notifications(engine, alert_id, status, channel, limit)``: notification deliveries, newest first
- ``dead_letters(engine, limit)``: notifications that could not be delivered (re-sendable)
- ``channel_stats(engine)``: per-channel deliveries, failures, Retry-After block, last error
- ``silences(engine, active_only)``: silences
- ``audit_log(engine, limit)``: the append-only audit trail, newest first
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Select, func, select

from agentotel.alerting.queue import NOTIFICATION_STATUSES
from agentotel.alerting.rules.base import SEVERITIES
from agentotel.core.utc import as_utc, utcnow
from agentotel.warehouse.alerting_models import (
    AlertAuditLog,
    AlertChannelState,
    AlertNotification,
    AlertRuleState,
    AlertSilence,
)
from agentotel.warehouse.bounds import check_choice, check_limit
from agentotel.warehouse.models import Alert

ALERT_STATUSES = ("pending", "firing", "resolved")
MAX_ROWS = 5000

_NOTIFICATION_COLUMNS = [c for c in AlertNotification.__table__.c if c.name != "payload"]


def _rows(engine: Engine, stmt: Select) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def alerts(engine: Engine, status: str | None = None, severity: str | None = None, start: datetime | None = None,
           end: datetime | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Alerts, newest first; ``start``/``end`` bound the alert's start time."""
    check_choice(status, ALERT_STATUSES, "status")
    check_choice(severity, SEVERITIES, "severity")
    t = Alert.__table__
    stmt = select(t)
    if status is not None:
        stmt = stmt.where(t.c.status == status)
    if severity is not None:
        stmt = stmt.where(t.c.severity == severity)
    if start is not None:
        stmt = stmt.where(t.c.timestamp >= as_utc(start))
    if end is not None:
        stmt = stmt.where(t.c.timestamp < as_utc(end))
    return _rows(engine, stmt.order_by(t.c.timestamp.desc(), t.c.id.desc()).limit(check_limit(limit, MAX_ROWS)))


def alert_counts(engine: Engine) -> dict[str, int]:
    """``{"pending", "firing", "acknowledged", "unacknowledged", "resolved"}``: pending counts the rule
    series waiting for their ``for`` time as well as pending alerts; (un)acknowledged count firing alerts."""
    alerts_ = Alert.__table__
    states = AlertRuleState.__table__
    out = dict.fromkeys(("pending", "firing", "acknowledged", "unacknowledged", "resolved"), 0)
    with engine.connect() as conn:
        grouped = conn.execute(
            select(alerts_.c.status, alerts_.c.acknowledged, func.count()).group_by(alerts_.c.status, alerts_.c.acknowledged)
        )
        for status, acknowledged, n in grouped:
            if status in ALERT_STATUSES:
                out[status] += int(n)
            if status == "firing":
                out["acknowledged" if acknowledged else "unacknowledged"] += int(n)
        out["pending"] += int(
            conn.execute(select(func.count()).select_from(states).where(states.c.state == "pending")).scalar_one()
        )
    return out


def pending_series(engine: Engine, limit: int = 500) -> list[dict[str, Any]]:
    """Rule series whose condition holds but whose ``for`` duration has not elapsed yet (newest first):
    rule_id, labels, active_since, last_eval_at, last_value."""
    t = AlertRuleState.__table__
    stmt = (
        select(t.c.rule_id, t.c.labels, t.c.active_since, t.c.last_eval_at, t.c.last_value)
        .where(t.c.state == "pending")
        .order_by(t.c.active_since.desc(), t.c.rule_id)
        .limit(check_limit(limit, MAX_ROWS))
    )
    return _rows(engine, stmt)


def notifications(engine: Engine, alert_id: int | None = None, status: str | None = None,
                  channel: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Notification queue rows without their payloads, newest first; ``status='dead'`` gives the dead
    letters."""
    check_choice(status, NOTIFICATION_STATUSES, "status")
    t = AlertNotification.__table__
    stmt = select(*_NOTIFICATION_COLUMNS)
    if alert_id is not None:
        stmt = stmt.where(t.c.alert_id == alert_id)
    if status is not None:
        stmt = stmt.where(t.c.status == status)
    if channel:
        stmt = stmt.where(t.c.channel == channel)
    return _rows(engine, stmt.order_by(t.c.created_at.desc(), t.c.id).limit(check_limit(limit, MAX_ROWS)))


def dead_letters(engine: Engine, limit: int = 200) -> list[dict[str, Any]]:
    """Notifications that could not be delivered, newest first."""
    return notifications(engine, status="dead", limit=limit)


def channel_stats(engine: Engine) -> list[dict[str, Any]]:
    """Per channel: deliveries_total, failures_total, blocked_until, last_error, updated_at."""
    t = AlertChannelState.__table__
    return _rows(engine, select(t).order_by(t.c.channel))


def silences(engine: Engine, active_only: bool = True) -> list[dict[str, Any]]:
    """Silences, latest ending first; only those in force now unless ``active_only`` is false."""
    t = AlertSilence.__table__
    stmt = select(t).order_by(t.c.ends_at.desc())
    if active_only:
        now = utcnow()
        stmt = stmt.where(t.c.starts_at <= now, t.c.ends_at > now)
    return _rows(engine, stmt)


def audit_log(engine: Engine, limit: int = 200) -> list[dict[str, Any]]:
    """The alerting audit trail (actor, action, target_type, target_id, before, after), newest first."""
    t = AlertAuditLog.__table__
    return _rows(engine, select(t).order_by(t.c.id.desc()).limit(check_limit(limit, MAX_ROWS)))
