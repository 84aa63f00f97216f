"""Tables of tenancy (migration branch ``tenancy``): projects, hashed API keys, and the audit log of key
creation, rotation and revocation. Which tables carry ``project_id`` is listed in ``PROJECT_TABLES``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from agentotel.warehouse.models import Base

# every table whose rows belong to one project (row-level security on PostgreSQL)
PROJECT_TABLES = (
    "spans", "llm_calls", "tool_calls", "agent_executions", "metrics", "logs", "evaluation_runs",
    "evaluation_results", "alerts", "alert_notifications", "alert_silences", "registry_deployments",
    "registry_environments", "registry_changelog", "registry_audit_log",
    "rollup_executions", "rollup_llm", "rollup_tools",  # tenancy_0002
    "alert_rule_state", "alert_engine_leases", "alert_channel_state", "alert_audit_log",  # alerting_0003
    "evaluation_online_claims", "evaluation_online_state",  # alerting_0003
    "agents",  # tenancy_0003
)  # fmt: skip


class Project(Base):
    __tablename__ = "projects"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class ApiKey(Base):
    """An API key of one project: only its SHA-256 digest is stored; ``id`` is the key's public part."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.name", ondelete="RESTRICT"))
    scope: Mapped[str] = mapped_column(String(16))  # ingest | read | admin
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None] = mapped_column()
    replaced_by: Mapped[str | None] = mapped_column(String(16))  # set by a rotation


class KeyAuditEntry(Base):
    """Who created, rotated or revoked which key, when (never the key itself)."""

    __tablename__ = "key_audit_log"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))  # create | rotate | revoke
    key_id: Mapped[str | None] = mapped_column(String(16))
    project_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str | None] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
