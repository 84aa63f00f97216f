"""The registry's reads: versions, environments, deployments, changelog, audit log.

Every function takes an ``Engine`` or an open ``Connection`` and returns frozen dataclasses (a list of
them becomes a DataFrame with ``pandas.DataFrame(rows)``). Used by the rest of ``agentotel.registry``
and, through its package API, the dashboard; nothing here writes. (Per-version telemetry figures are
in ``telemetry.py``.)

``project``: only that project's rows (None: every row). Environments, deployments, changelog and audit
entries carry their project; versions (``agents``) are shared by every project, and an agent belongs to the
projects that have its executions or registry entries (``agents_of``; the default project also keeps the
agents no other project has).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import semver
from sqlalchemy import ColumnElement, Connection, Engine, Select, Table, select, true

from agentotel.warehouse.models import Agent
from agentotel.warehouse.registry_models import (
    RegistryAuditEntry,
    RegistryChangelog,
    RegistryDeployment,
    RegistryEnvironment,
)

ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class AgentVersion:
    """One (name, version) known to the warehouse: registered, or discovered in telemetry."""

    id: int
    name: str
    version: str
    source: str  # registry | telemetry
    model_type: str | None
    provider: str | None
    description: str | None
    capabilities: tuple[str, ...]
    dependencies: dict[str, Any]
    configuration: dict[str, Any]
    tags: tuple[str, ...]
    created_at: datetime | None
    updated_at: datetime | None
    last_seen_at: datetime | None
    registered_at: datetime | None
    registered_by: str | None

    @property
    def registered(self) -> bool:
        return self.source == "registry"


@dataclass(frozen=True)
class EnvironmentState:
    """The version active in one environment, since when and set by whom."""

    agent_name: str
    environment: str
    version: str
    deployment_id: int
    revision: int
    since: datetime
    updated_by: str


@dataclass(frozen=True)
class Deployment:
    """A promotion or rollback: ``version`` became active in ``environment``."""

    id: int
    agent_name: str
    environment: str
    version: str
    action: str
    previous_version: str | None
    restores_id: int | None
    actor: str
    reason: str | None
    gate: dict[str, Any] | None
    created_at: datetime


@dataclass(frozen=True)
class ChangelogEntry:
    agent_name: str
    version: str
    entry: str
    author: str
    created_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which agent/version/environment, when and why, with before/after."""

    id: int
    at: datetime
    actor: str
    action: str
    outcome: str
    target: str
    agent_name: str
    agent_version: str | None
    environment: str | None
    reason: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@contextmanager
def bind_connection(bind: Engine | Connection) -> Iterator[Connection]:
    """``bind`` itself if it is a connection, else a connection of the engine for the block."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if isinstance(value, datetime) else None


def agent_version_from_row(row: Agent | Any) -> AgentVersion:
    meta = row.meta or {}
    return AgentVersion(
        id=row.id,
        name=row.name,
        version=row.version,
        source=row.source,
        model_type=row.model_type,
        provider=row.provider,
        description=row.description,
        capabilities=tuple(meta.get("capabilities") or ()),
        dependencies=dict(meta.get("dependencies") or {}),
        configuration=dict(meta.get("configuration") or {}),
        tags=tuple(meta.get("tags") or ()),
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_seen_at=row.last_seen_at,
        registered_at=_parse_time(meta.get("registered_at")),
        registered_by=meta.get("registered_by"),
    )


def version_sort_key(version: str) -> tuple[int, Any]:
    """Semantic-version precedence; versions that are not semver (seen in telemetry) sort after, by text."""
    if semver.Version.is_valid(version):
        return (0, semver.Version.parse(version))
    return (1, version)


def _of(table: Table, project: str | None) -> ColumnElement[bool]:
    return true() if project is None else table.c.project_id == project


def agents_of(project: str | None) -> ColumnElement[bool]:
    """The agents of ``project`` (agents are per project since revision tenancy_0003; rows from before it are
    ``default``'s); None: every project."""
    return true() if project is None else Agent.project_id == project


def agent_select() -> Select:
    """SELECT of the ``agents`` columns that ``agent_version_from_row`` reads."""
    return select(
        Agent.id,
        Agent.name,
        Agent.version,
        Agent.source,
        Agent.model_type,
        Agent.provider,
        Agent.description,
        Agent.meta.label("meta"),
        Agent.created_at,
        Agent.updated_at,
        Agent.last_seen_at,
    )


def get_agent_version(bind: Engine | Connection, name: str, version: str,
                      project: str | None = None) -> AgentVersion | None:
    """The (name, version) row (of an agent of ``project``), or None."""
    stmt = agent_select().where(Agent.name == name, Agent.version == version, agents_of(project))
    with bind_connection(bind) as conn:
        row = conn.execute(stmt).first()
    return agent_version_from_row(row) if row else None


def list_agent_versions(
    bind: Engine | Connection, name: str | None = None, source: str | None = None, project: str | None = None
) -> list[AgentVersion]:
    """Every known version (optionally of one agent / one source / the agents of a project), by name then
    semantic version."""
    stmt = agent_select().where(agents_of(project))
    if name is not None:
        stmt = stmt.where(Agent.name == name)
    if source is not None:
        stmt = stmt.where(Agent.source == source)
    with bind_connection(bind) as conn:
        rows = [agent_version_from_row(r) for r in conn.execute(stmt)]
    return sorted(rows, key=lambda v: (v.name, version_sort_key(v.version)))


def agent_exists(bind: Engine | Connection, name: str, project: str | None = None) -> bool:
    with bind_connection(bind) as conn:
        return conn.execute(select(Agent.id).where(Agent.name == name, agents_of(project)).limit(1)).first() is not None


def _env_state(row: Any) -> EnvironmentState:
    return EnvironmentState(
        agent_name=row.agent_name,
        environment=row.environment,
        version=row.version,
        deployment_id=row.deployment_id,
        revision=row.revision,
        since=row.updated_at,
        updated_by=row.updated_by,
    )


def environment_state(
    bind: Engine | Connection, name: str, environment: str, for_update: bool = False, project: str | None = None
) -> EnvironmentState | None:
    """The active version of ``name`` in ``environment`` (``for_update`` locks the row on PostgreSQL)."""
    t = RegistryEnvironment.__table__
    stmt = select(t).where(t.c.agent_name == name, t.c.environment == environment, _of(t, project))
    if for_update:
        stmt = stmt.with_for_update()
    with bind_connection(bind) as conn:
        row = conn.execute(stmt).first()
    return _env_state(row) if row else None


def environment_states(bind: Engine | Connection, name: str | None = None,
                       project: str | None = None) -> list[EnvironmentState]:
    """Versions per environment: the active version of every agent (or of ``name``) in each environment."""
    t = RegistryEnvironment.__table__
    stmt = select(t).where(_of(t, project))
    if name is not None:
        stmt = stmt.where(t.c.agent_name == name)
    with bind_connection(bind) as conn:
        states = [_env_state(r) for r in conn.execute(stmt)]
    order = {env: i for i, env in enumerate(ENVIRONMENTS)}
    return sorted(states, key=lambda s: (s.agent_name, order.get(s.environment, len(order)), s.environment))


def _deployment(row: Any) -> Deployment:
    return Deployment(
        id=row.id,
        agent_name=row.agent_name,
        environment=row.environment,
        version=row.version,
        action=row.action,
        previous_version=row.previous_version,
        restores_id=row.restores_id,
        actor=row.actor,
        reason=row.reason,
        gate=row.gate,
        created_at=row.created_at,
    )


def get_deployment(bind: Engine | Connection, deployment_id: int, project: str | None = None) -> Deployment | None:
    t = RegistryDeployment.__table__
    with bind_connection(bind) as conn:
        row = conn.execute(select(t).where(t.c.id == deployment_id, _of(t, project))).first()
    return _deployment(row) if row else None


def deployments(
    bind: Engine | Connection,
    name: str,
    environment: str | None = None,
    version: str | None = None,
    limit: int | None = None,
    project: str | None = None,
) -> list[Deployment]:
    """Promotions and rollbacks of ``name``, newest first."""
    t = RegistryDeployment.__table__
    stmt = select(t).where(t.c.agent_name == name, _of(t, project))
    if environment is not None:
        stmt = stmt.where(t.c.environment == environment)
    if version is not None:
        stmt = stmt.where(t.c.version == version)
    stmt = stmt.order_by(t.c.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    with bind_connection(bind) as conn:
        return [_deployment(r) for r in conn.execute(stmt)]


def changelog(bind: Engine | Connection, name: str, version: str | None = None,
              project: str | None = None) -> list[ChangelogEntry]:
    """Changelog entries of ``name`` (or of one version), oldest first."""
    t = RegistryChangelog.__table__
    stmt = select(t).where(t.c.agent_name == name, _of(t, project))
    if version is not None:
        stmt = stmt.where(t.c.version == version)
    with bind_connection(bind) as conn:
        rows = conn.execute(stmt.order_by(t.c.id)).all()
    return [ChangelogEntry(r.agent_name, r.version, r.entry, r.author, r.created_at) for r in rows]


def audit_log(
    bind: Engine | Connection,
    name: str | None = None,
    environment: str | None = None,
    since: datetime | None = None,
    limit: int | None = 200,
    newest_first: bool = True,
    project: str | None = None,
) -> list[AuditEntry]:
    """The registry's audit log (optionally of one agent / environment / since a time)."""
    t = RegistryAuditEntry.__table__
    stmt = select(t).where(_of(t, project))
    if name is not None:
        stmt = stmt.where(t.c.agent_name == name)
    if environment is not None:
        stmt = stmt.where(t.c.environment == environment)
    if since is not None:
        stmt = stmt.where(t.c.at >= since)
    stmt = stmt.order_by(t.c.id.desc() if newest_first else t.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    with bind_connection(bind) as conn:
        rows = conn.execute(stmt).all()
    return [
        AuditEntry(
            id=r.id,
            at=r.at,
            actor=r.actor,
            action=r.action,
            outcome=r.outcome,
            target=r.target,
            agent_name=r.agent_name,
            agent_version=r.agent_version,
            environment=r.environment,
            reason=r.reason,
            before=r.before,
            after=r.after,
        )
        for r in rows
    ]
