"""The security audit log: dashboard logins (success and failure), captured content decrypted for a person, and
exports of warehouse tables (``agentotel export``: who, which table and projects, how many rows, or why not).

Append-only rows of ``security_audit_log`` (revision ``security_0001``): who, when, what, outcome. Never a
secret: a failed login records the name that was tried (or ``api key``), not the password or key.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, insert, select

from agentotel.warehouse.security_models import SecurityAuditEntry

AUDIT = SecurityAuditEntry.__table__
ACTIONS = ("login", "login_failed", "logout", "decrypt_content", "export")
LIMIT_MAX = 10_000


def record(engine: Engine, actor: str, action: str, target: str | None = None, outcome: str = "ok",
           detail: str | None = None) -> None:
    """Append one entry (``action`` one of ``ACTIONS``)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    with engine.begin() as conn:
        conn.execute(insert(AUDIT).values(at=datetime.now(timezone.utc), actor=actor[:255] or "?", action=action,
                                          target=target, outcome=outcome, detail=detail))


def audit_log(engine: Engine, limit: int = 200) -> list[dict[str, Any]]:
    """The newest ``limit`` entries, newest first: at, actor, action, target, outcome, detail."""
    limit = max(1, min(int(limit), LIMIT_MAX))
    a = AUDIT.c
    with engine.connect() as conn:
        rows = conn.execute(select(a.at, a.actor, a.action, a.target, a.outcome, a.detail)
                            .order_by(a.at.desc(), a.id.desc()).limit(limit)).mappings().all()
    return [dict(row) for row in rows]
