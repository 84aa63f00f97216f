"""Write helpers shared by the registry: serialized write transactions and audit rows."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert

from agentotel.core.secrets import redact_secrets
from agentotel.core.utc import utcnow
from agentotel.registry.errors import InvalidMetadata
from agentotel.warehouse.engine import write_transaction
from agentotel.warehouse.registry_models import RegistryAuditEntry

ACTOR_MAX = 255



def validate_actor(actor: Any) -> str:
    """Every change names who made it."""
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidMetadata("actor (who makes the change) must be a non-empty string")
    if len(actor.strip()) > ACTOR_MAX:
        raise InvalidMetadata(f"actor is longer than {ACTOR_MAX} characters")
    return actor.strip()


def clean_reason(reason: Any, required: bool = False, what: str = "reason") -> str | None:
    if reason is not None and not isinstance(reason, str):
        raise InvalidMetadata(f"{what} must be a string")
    reason = (reason or "").strip() or None
    if required and reason is None:
        raise InvalidMetadata(f"a {what} is required")
    return reason


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON (datetimes and other objects as strings), secrets redacted."""
    return redact_secrets(json.loads(json.dumps(value, default=str)))


def insert_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    agent_name: str,
    agent_version: str | None = None,
    environment: str | None = None,
    outcome: str = "ok",
    reason: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    at: datetime | None = None,
    project: str | None = None,
) -> None:
    """Append one audit row (of ``project``, else ``default``); before/after are stored with secrets redacted."""
    target = f"{agent_name}/{environment}" if environment else f"{agent_name}@{agent_version or ''}"
    conn.execute(
        insert(RegistryAuditEntry),
        {
            "at": at or utcnow(),
            "actor": actor,
            "action": action,
            "outcome": outcome,
            "target": target[:400],
            "agent_name": agent_name,
            "agent_version": agent_version,
            "environment": environment,
            "reason": reason,
            "before": json_safe(before) if before is not None else None,
            "after": json_safe(after) if after is not None else None,
            **({} if project is None else {"project_id": project}),
        },
    )


def audit_attempt(engine: Engine, **fields: Any) -> None:
    """Record a refused attempt (gate refusal, lost race) in a transaction of its own."""
    with write_transaction(engine) as conn:
        insert_audit(conn, **fields)
