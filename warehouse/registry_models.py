"""Tables of the agent registry (migration branch ``registry``).

Registered and discovered versions themselves are rows of the core ``agents`` table. These tables add:

- ``registry_environments``: the active-version pointer, one row per (project, agent, environment), guarded by a
  revision counter for compare-and-set updates;
- ``registry_deployments``: every promotion and rollback, never updated or deleted (history);
- ``registry_changelog``: changelog entries per version, append-only;
- ``registry_audit_log``: who did what, when and why, with before/after (secrets redacted), append-only.

The append-only tables are protected by triggers on PostgreSQL and SQLite (see the migration).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agentotel.warehouse.models import Base, project_column

APPEND_ONLY_TABLES = ("registry_deployments", "registry_changelog", "registry_audit_log")


class RegistryDeployment(Base):
    """A version made active in an environment (by promotion or rollback)."""

    __tablename__ = "registry_deployments"
    __table_args__ = (Index(None, "agent_name", "environment", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_name: Mapped[str] = mapped_column(String(255))
    environment: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="RESTRICT"))
    action: Mapped[str] = mapped_column(String(16))  # promote | rollback
    previous_version: Mapped[str | None] = mapped_column(String(64))
    # The deployment a rollback from this one returns to (a stack: rolling back twice goes two steps back).
    restores_id: Mapped[int | None] = mapped_column(ForeignKey("registry_deployments.id", ondelete="RESTRICT"))
    actor: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)
    gate: Mapped[dict[str, Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    project_id: Mapped[str] = project_column()  # tenancy_0001


class RegistryEnvironment(Base):
    """The active version of an agent in one environment."""

    __tablename__ = "registry_environments"
    __table_args__ = (UniqueConstraint("project_id", "agent_name", "environment"),)  # tenancy_0003

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_name: Mapped[str] = mapped_column(String(255))
    environment: Mapped[str] = mapped_column(String(32))
    version: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="RESTRICT"))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("registry_deployments.id", ondelete="RESTRICT"))
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = project_column()  # tenancy_0001


class RegistryChangelog(Base):
    """One changelog entry of one version."""

    __tablename__ = "registry_changelog"
    __table_args__ = (Index(None, "agent_name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="RESTRICT"))
    entry: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column()
    project_id: Mapped[str] = project_column()  # tenancy_0001


class RegistryAuditEntry(Base):
    """One change (or refused attempt) in the registry: actor, action, target, time, why, before/after."""

    __tablename__ = "registry_audit_log"
    __table_args__ = (Index(None, "agent_name", "id"), Index(None, "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))  # register | adopt | update | changelog | promote | rollback
    outcome: Mapped[str] = mapped_column(String(16), default="ok")  # ok | refused | conflict
    target: Mapped[str] = mapped_column(String(400))  # "name@version" or "name/environment"
    agent_name: Mapped[str] = mapped_column(String(255))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    environment: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict[str, Any] | None] = mapped_column()
    after: Mapped[dict[str, Any] | None] = mapped_column()
    project_id: Mapped[str] = project_column()  # tenancy_0001
