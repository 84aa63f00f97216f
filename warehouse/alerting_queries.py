"""Read-only queries over the alerting tables, for the dashboard and the CLI.

Every function takes an Engine and returns plain dicts (timestamps as ISO strings, UTC). Nothing here
returns channel secrets: notification payloads hold alert data only, errors are stored redacted.

- ``alerts(engine, status=None, limit=200)``: alerts, newest first (``status``: firing | resolved | None)
- ``alert_counts(engine)``: ``{"firing": n, "acknowledged": n, "resolved": n}``
- ``rule_states(engine)``: pending and firing alert series of the rules engine
- ``notifications(engine, alert_id=None, status=None, limit=200)``: notification deliveries
- ``dead_letters(engine, limit=200)``: notifications that could not be delivered (re-sendable)
- ``channel_stats(engine)``: per-channel deliveries, failures, Retry-After block, last error
- ``silences(engine, active_only=True)``: silences
- ``audit_log(engine, limit=200)``: the append-only audit trail, newest first
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, func, select

from agentotel.warehouse.alerting_models import (
    AlertAuditLog,
    AlertChannelState,
    AlertNotification,
    AlertRuleState,
    AlertSilence,
)
from agentotel.warehouse.models import Alert


def _plain(mapping: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in dict(mapping).items()}


def alerts(engine: Engine, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    query = select(Alert.__table__).order_by(Alert.timestamp.desc(), Alert.id.desc()).limit(limit)
    if status:
        query = query.where(Alert.status == status)
    with engine.connect() as conn:
        return [_plain(r._mapping) for r in conn.execute(query)]


def alert_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(Alert.status, Alert.acknowledged, func.count()).group_by(Alert.status, Alert.acknowledged))
        out = {"firing": 0, "acknowledged": 0, "resolved": 0}
        for status, acknowledged, n in rows:
            if status == "firing":
                out["firing"] += n
                if acknowledged:
                    out["acknowledged"] += n
            elif status == "resolved":
                out["resolved"] += n
        return out


def rule_states(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(AlertRuleState.__table__).order_by(AlertRuleState.rule_id, AlertRuleState.fingerprint))
        return [_plain(r._mapping) for r in rows]


_NOTIFICATION_COLUMNS = [c for c in AlertNotification.__table__.c if c.name != "payload"]


def notifications(engine: Engine, alert_id: int | None = None, status: str | None = None,
                  limit: int = 200) -> list[dict[str, Any]]:
    query = select(*_NOTIFICATION_COLUMNS).order_by(AlertNotification.created_at.desc()).limit(limit)
    if alert_id is not None:
        query = query.where(AlertNotification.alert_id == alert_id)
    if status:
        query = query.where(AlertNotification.status == status)
    with engine.connect() as conn:
        return [_plain(r._mapping) for r in conn.execute(query)]


def dead_letters(engine: Engine, limit: int = 200) -> list[dict[str, Any]]:
    return notifications(engine, status="dead", limit=limit)


def channel_stats(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(AlertChannelState.__table__).order_by(AlertChannelState.channel))
        return [_plain(r._mapping) for r in rows]


def silences(engine: Engine, active_only: bool = True) -> list[dict[str, Any]]:
    query = select(AlertSilence.__table__).order_by(AlertSilence.ends_at.desc())
    if active_only:
        now = datetime.now(timezone.utc)
        query = query.where(AlertSilence.starts_at <= now, AlertSilence.ends_at > now)
    with engine.connect() as conn:
        return [_plain(r._mapping) for r in conn.execute(query)]


def audit_log(engine: Engine, limit: int = 200) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(AlertAuditLog.__table__).order_by(AlertAuditLog.id.desc()).limit(limit))
        return [_plain(r._mapping) for r in rows]
