"""Database helpers shared by the alerting modules: transactions, fingerprints, row → dict."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, true

from agentotel.core.secrets import redact_text
from agentotel.core.utc import as_utc, utcnow
from agentotel.warehouse.alerting_models import (
    AlertAuditLog,
    AlertChannelState,
    AlertEngineLease,
    AlertNotification,
    AlertRuleState,
    AlertSilence,
)
from agentotel.warehouse.engine import write_transaction as write_tx  # noqa: F401 - re-exported for alerting modules
from agentotel.warehouse.models import Alert

ALERTS = Alert.__table__
RULE_STATE = AlertRuleState.__table__
SILENCES = AlertSilence.__table__
NOTIFICATIONS = AlertNotification.__table__
CHANNEL_STATE = AlertChannelState.__table__
AUDIT = AlertAuditLog.__table__
LEASES = AlertEngineLease.__table__


def stamp(project: str | None) -> dict[str, str]:
    """The ``project_id`` of a row written for ``project`` (None: the column's default, ``default``)."""
    return {} if project is None else {"project_id": project}


def of_project(table: Table, project: str | None) -> ColumnElement[bool]:
    """The rows of ``table`` that belong to ``project`` (None: every row)."""
    return true() if project is None else table.c.project_id == project


def fingerprint(rule_id: str, labels: Mapping[str, Any] | None) -> str:
    """Stable identity of an alert series: the rule and its label set."""
    canonical = json.dumps({"rule_id": rule_id, "labels": {str(k): str(v) for k, v in (labels or {}).items()}},
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def alert_dict(row: Any) -> dict[str, Any]:
    """An ``alerts`` row as the plain dict used by the API, the queue payloads and the handlers."""
    m = row._mapping
    return {
        "id": m["id"],
        "rule_id": m["rule_id"],
        "severity": m["severity"],
        "message": m["message"],
        "status": m["status"],
        "fingerprint": m["fingerprint"],
        "labels": dict(m["labels"] or {}),
        "annotations": dict(m["annotations"] or {}),
        "value": m["value"],
        "acknowledged": bool(m["acknowledged"]),
        "acknowledged_by": m["acknowledged_by"],
        "acknowledged_at": iso(m["acknowledged_at"]),
        "starts_at": iso(m["timestamp"]),
        "ends_at": iso(m["resolved_at"]),
        "updated_at": iso(m["updated_at"]),
        "ruleset": m["ruleset"],
    }


def insert_audit(conn: Connection, actor: str, action: str, target_type: str, target_id: Any,
                 before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
                 now: datetime | None = None, project: str | None = None) -> None:
    """Append one audit row of ``project`` (None: ``default``); secret values are redacted from the before/after
    snapshots."""
    def clean(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        return json.loads(redact_text(json.dumps(dict(value), default=str)))

    conn.execute(AUDIT.insert().values(
        timestamp=now or utcnow(), actor=str(actor or "system")[:255], action=action, target_type=target_type,
        target_id=str(target_id), before=clean(before), after=clean(after), **stamp(project),
    ))
