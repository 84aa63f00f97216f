"""Read queries the dashboard needs that the other components do not provide.

SQLAlchemy Core only: every value is a bind parameter, statuses and sort columns are checked against
whitelists. Each function returns a ``pandas.DataFrame`` (or a dict of figures).

- ``alerts_table(engine, status, severity, start, end, limit)``: alerts of the ``alerts`` table
- ``pending_alert_series(engine)``: rule series in ``pending`` state (condition true, ``for`` not elapsed)
- ``alert_status_counts(engine)``: number of alerts per status
- ``notification_deliveries(engine, status, channel, limit)``: the notification queue (``dead`` = dead letters)
- ``channel_states(engine)``: delivery counters per channel
- ``metric_names(engine, start, end, prefix)``: metric names in the ``metrics`` table
- ``latest_metric_values(engine, names)``: newest value of each named metric (with service)
- ``ingest_health(engine, now)``: freshness and volume of what the receiver wrote
- ``evaluation_runs(engine, agent, status, start, end, limit)``: run list with summary metrics
- ``span_content(engine, trace_id, span_id)``: one span's captured content, attributes and events
- ``audit_trail(engine, limit)``: alerting and registry audit rows in one list, newest first
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from agentotel.core.utc import as_utc
from agentotel.warehouse.alerting_models import (
    AlertAuditLog,
    AlertChannelState,
    AlertNotification,
    AlertRuleState,
)
from agentotel.warehouse.models import Alert, EvaluationRun, Metric, Span
from agentotel.warehouse.registry_models import RegistryAuditEntry

ALERT_STATUSES = ("pending", "firing", "resolved")
SEVERITIES = ("critical", "error", "warning", "info")
NOTIFICATION_STATUSES = ("pending", "sending", "delivered", "dead", "skipped", "suppressed")
RUN_STATUSES = ("running", "completed", "failed")
MAX_LIMIT = 5000


def _limit(limit: int) -> int:
    limit = int(limit)
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _check(value: str | None, allowed: Sequence[str], what: str) -> str | None:
    if value is not None and value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}")
    return value




def _frame(engine: Engine, stmt, columns: Sequence[str] | None = None) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.fetchall(), columns=list(columns or result.keys()))


def alerts_table(
    engine: Engine,
    status: str | None = None,
    severity: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Alerts (newest first): id, rule_id, severity, status, message, value, labels, acknowledged,
    acknowledged_by, timestamp, resolved_at. ``start``/``end`` bound the alert's start time."""
    _check(status, ALERT_STATUSES, "status")
    _check(severity, SEVERITIES, "severity")
    t = Alert.__table__
    stmt = select(
        t.c.id, t.c.rule_id, t.c.severity, t.c.status, t.c.message, t.c.value, t.c.labels, t.c.acknowledged,
        t.c.acknowledged_by, t.c.acknowledged_at, t.c.timestamp, t.c.resolved_at,
    )
    if status is not None:
        stmt = stmt.where(t.c.status == status)
    if severity is not None:
        stmt = stmt.where(t.c.severity == severity)
    if start is not None:
        stmt = stmt.where(t.c.timestamp >= as_utc(start))
    if end is not None:
        stmt = stmt.where(t.c.timestamp < as_utc(end))
    return _frame(engine, stmt.order_by(t.c.timestamp.desc(), t.c.id.desc()).limit(_limit(limit)))


def pending_alert_series(engine: Engine, limit: int = 500) -> pd.DataFrame:
    """Rule series whose condition holds but whose ``for`` duration has not elapsed yet."""
    t = AlertRuleState.__table__
    stmt = (
        select(t.c.rule_id, t.c.labels, t.c.active_since, t.c.last_eval_at, t.c.last_value)
        .where(t.c.state == "pending")
        .order_by(t.c.active_since.desc(), t.c.rule_id)
        .limit(_limit(limit))
    )
    return _frame(engine, stmt)


def alert_status_counts(engine: Engine) -> dict[str, int]:
    """``{"pending": n, "firing": n, "resolved": n, "unacknowledged": n}``."""
    alerts = Alert.__table__
    states = AlertRuleState.__table__
    with engine.connect() as conn:
        counts = dict(conn.execute(select(alerts.c.status, func.count()).group_by(alerts.c.status)).all())
        pending = conn.execute(select(func.count()).select_from(states).where(states.c.state == "pending")).scalar_one()
        unacked = conn.execute(
            select(func.count()).select_from(alerts).where(alerts.c.status == "firing", alerts.c.acknowledged.is_(False))
        ).scalar_one()
    return {
        "pending": int(pending) + int(counts.get("pending", 0)),
        "firing": int(counts.get("firing", 0)),
        "resolved": int(counts.get("resolved", 0)),
        "unacknowledged": int(unacked),
    }


def notification_deliveries(
    engine: Engine, status: str | None = None, channel: str | None = None, limit: int = 500
) -> pd.DataFrame:
    """Notification queue rows (newest first) without their payloads: id, alert_id, channel, event,
    status, attempts, last_error, created_at, delivered_at, next_attempt_at. ``status='dead'`` gives the
    dead letters."""
    _check(status, NOTIFICATION_STATUSES, "status")
    t = AlertNotification.__table__
    stmt = select(
        t.c.id, t.c.alert_id, t.c.channel, t.c.event, t.c.tier, t.c.status, t.c.attempts, t.c.last_error,
        t.c.created_at, t.c.delivered_at, t.c.next_attempt_at,
    )
    if status is not None:
        stmt = stmt.where(t.c.status == status)
    if channel:
        stmt = stmt.where(t.c.channel == channel)
    return _frame(engine, stmt.order_by(t.c.created_at.desc(), t.c.id).limit(_limit(limit)))


def channel_states(engine: Engine) -> pd.DataFrame:
    """Per channel: deliveries_total, failures_total, blocked_until, last_error, updated_at."""
    t = AlertChannelState.__table__
    return _frame(engine, select(t).order_by(t.c.channel))


def metric_names(
    engine: Engine, start: datetime | None = None, end: datetime | None = None, prefix: str | None = None
) -> list[str]:
    """Distinct metric names in ``metrics`` (within ``[start, end)``; starting with ``prefix``)."""
    t = Metric.__table__
    stmt = select(t.c.metric_name).distinct()
    if start is not None:
        stmt = stmt.where(t.c.timestamp >= as_utc(start))
    if end is not None:
        stmt = stmt.where(t.c.timestamp < as_utc(end))
    if prefix:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(t.c.metric_name.like(escaped + "%", escape="\\"))
    with engine.connect() as conn:
        return sorted(str(name) for name in conn.execute(stmt.limit(MAX_LIMIT)).scalars())


def latest_metric_values(engine: Engine, names: Sequence[str], start: datetime | None = None) -> pd.DataFrame:
    """The newest point of each metric in ``names`` per service: metric_name, service_name, value, unit,
    timestamp."""
    if not names:
        return pd.DataFrame(columns=["metric_name", "service_name", "value", "unit", "timestamp"])
    t = Metric.__table__
    newest = select(t.c.metric_name, t.c.service_name, func.max(t.c.timestamp).label("ts")).where(
        t.c.metric_name.in_(list(names))
    )
    if start is not None:
        newest = newest.where(t.c.timestamp >= as_utc(start))
    newest = newest.group_by(t.c.metric_name, t.c.service_name).subquery()
    stmt = (
        select(t.c.metric_name, t.c.service_name, func.avg(t.c.value).label("value"), func.max(t.c.unit).label("unit"),
               t.c.timestamp)
        .join(newest, (t.c.metric_name == newest.c.metric_name) & (t.c.timestamp == newest.c.ts)
              & (func.coalesce(t.c.service_name, "") == func.coalesce(newest.c.service_name, "")))
        .group_by(t.c.metric_name, t.c.service_name, t.c.timestamp)
        .order_by(t.c.metric_name, t.c.service_name)
    )
    return _frame(engine, stmt)


def ingest_health(engine: Engine, now: datetime | None = None) -> dict[str, Any]:
    """What the receiver wrote: newest span and metric times, seconds since then, spans and metric
    points in the last 5 minutes and in the last hour."""
    now = as_utc(now) or datetime.now(timezone.utc)
    spans = Span.__table__
    metrics = Metric.__table__
    with engine.connect() as conn:
        last_span = conn.execute(select(func.max(spans.c.start_time))).scalar()
        last_metric = conn.execute(select(func.max(metrics.c.timestamp))).scalar()
        spans_5m = conn.execute(
            select(func.count()).select_from(spans).where(spans.c.start_time >= now - timedelta(minutes=5))
        ).scalar_one()
        spans_1h = conn.execute(
            select(func.count()).select_from(spans).where(spans.c.start_time >= now - timedelta(hours=1))
        ).scalar_one()
        points_5m = conn.execute(
            select(func.count()).select_from(metrics).where(metrics.c.timestamp >= now - timedelta(minutes=5))
        ).scalar_one()
    last_span, last_metric = as_utc(last_span), as_utc(last_metric)
    return {
        "last_span_at": last_span,
        "last_metric_at": last_metric,
        "seconds_since_span": (now - last_span).total_seconds() if last_span else None,
        "seconds_since_metric": (now - last_metric).total_seconds() if last_metric else None,
        "spans_last_5m": int(spans_5m),
        "spans_last_1h": int(spans_1h),
        "metric_points_last_5m": int(points_5m),
    }


def evaluation_runs(
    engine: Engine,
    agent: str | None = None,
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 200,
) -> pd.DataFrame:
    """Evaluation runs (newest first) with their summaries but without per-case results: id,
    benchmark_id, agent_name, agent_version, status, timestamp, completed_at, summary, error_message."""
    _check(status, RUN_STATUSES, "status")
    t = EvaluationRun.__table__
    stmt = select(
        t.c.id, t.c.benchmark_id, t.c.agent_name, t.c.agent_version, t.c.status, t.c.timestamp, t.c.completed_at,
        t.c.summary, t.c.error_message,
    )
    if agent:
        stmt = stmt.where(t.c.agent_name == agent)
    if status is not None:
        stmt = stmt.where(t.c.status == status)
    if start is not None:
        stmt = stmt.where(t.c.timestamp >= as_utc(start))
    if end is not None:
        stmt = stmt.where(t.c.timestamp < as_utc(end))
    return _frame(engine, stmt.order_by(t.c.timestamp.desc(), t.c.id.desc()).limit(_limit(limit)))


def span_content(engine: Engine, trace_id: str, span_id: str) -> dict[str, Any]:
    """One span's input/output (captured content), attributes, resource attributes, events, links and
    status message; an empty dict when there is no such span."""
    t = Span.__table__
    stmt = select(
        t.c.trace_id, t.c.span_id, t.c.name, t.c.input, t.c.output, t.c.attributes, t.c.resource_attributes,
        t.c.events, t.c.links, t.c.status_code, t.c.status_message, t.c.scope_name, t.c.scope_version,
    ).where(t.c.trace_id == str(trace_id).lower(), t.c.span_id == str(span_id).lower())
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row is not None else {}


def audit_trail(engine: Engine, limit: int = 200) -> pd.DataFrame:
    """Alerting and registry audit rows merged, newest first: source, at, actor, action, target, outcome."""
    limit = _limit(limit)
    a = AlertAuditLog.__table__
    r = RegistryAuditEntry.__table__
    alerting = _frame(
        engine,
        select(a.c.timestamp.label("at"), a.c.actor, a.c.action, a.c.target_type, a.c.target_id)
        .order_by(a.c.id.desc()).limit(limit),
    )
    registry = _frame(
        engine,
        select(r.c.at, r.c.actor, r.c.action, r.c.target, r.c.outcome).order_by(r.c.id.desc()).limit(limit),
    )
    alerting = alerting.assign(
        source="alerting",
        target=alerting["target_type"].astype(str) + " " + alerting["target_id"].astype(str),
        outcome="ok",
    ).drop(columns=["target_type", "target_id"])
    registry = registry.assign(source="registry")
    columns = ["source", "at", "actor", "action", "target", "outcome"]
    frames = [f[columns] for f in (alerting, registry) if not f.empty]
    if not frames:
        return pd.DataFrame(columns=columns)
    merged = pd.concat(frames, ignore_index=True)
    merged["at"] = pd.to_datetime(merged["at"], utc=True)
    return merged.sort_values("at", ascending=False, kind="stable").head(limit).reset_index(drop=True)
