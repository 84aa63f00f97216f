"""``AgentRegistry``: register, look up, list and label agent versions (design document).

Versions live in the core ``agents`` table, one row per (name, version). A version that telemetry
discovered first (``source='telemetry'``, written by the receiver) is *adopted* on registration: the
row becomes ``source='registry'`` with the metadata filled in, keeping its first-seen time and its
link to the executions already recorded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from agentotel.core.projects import DEFAULT_PROJECT
from agentotel.core.utc import utcnow
from agentotel.registry.errors import (
    AgentNotFound,
    DuplicateVersion,
    ImmutableField,
    InvalidMetadata,
    VersionNotFound,
)
from agentotel.registry.metadata import IMMUTABLE_FIELDS, MUTABLE_FIELDS, AgentMetadata, validate_name
from agentotel.registry.queries import (
    AgentVersion,
    AuditEntry,
    agent_exists,
    agent_select,
    agent_version_from_row,
    agents_of,
    audit_log,
    get_agent_version,
    list_agent_versions,
)
from agentotel.registry.store import clean_reason, insert_audit, validate_actor, write_transaction
from agentotel.registry.versions import VersionManager
from agentotel.warehouse.models import Agent
from agentotel.warehouse.registry_models import RegistryChangelog

_REGISTRATION_ATTEMPTS = 3
AGENTS = Agent.__table__


class AgentRegistry:
    """The registry of agents and their versions on one warehouse ``engine``. ``project`` (default: that of
    ``versions``): only the agents of that project (``queries.agents_of``) and its entries; what is written
    belongs to it, the versions too. None: every project (new rows in ``default``)."""

    def __init__(self, engine: Engine, versions: VersionManager | None = None, project: str | None = None) -> None:
        self.engine = engine
        self.versions = versions or VersionManager(engine, project=project)
        self.project = project if project is not None else self.versions.project
        self._stamp = {} if self.project is None else {"project_id": self.project}

    # -- register ---------------------------------------------------------------------------------
    def register_agent(
        self, metadata: AgentMetadata, *, actor: str, changelog: str | None = None
    ) -> AgentVersion:
        """Register ``metadata.name``@``metadata.version``; the version is immutable from then on.

        Adopts a row that telemetry discovered; raises ``DuplicateVersion`` if already registered.
        """
        if not isinstance(metadata, AgentMetadata):
            raise InvalidMetadata("register_agent expects an AgentMetadata")
        actor = validate_actor(actor)
        changelog = clean_reason(changelog, what="changelog entry")
        for attempt in range(_REGISTRATION_ATTEMPTS):
            try:
                return self._register_once(metadata, actor, changelog)
            except IntegrityError:
                # The receiver inserted the same (name, version) between our look and our insert:
                # the next attempt finds the row and adopts it.
                if attempt == _REGISTRATION_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _register_once(self, metadata: AgentMetadata, actor: str, changelog: str | None) -> AgentVersion:
        now = utcnow()
        meta = {**metadata.stored_meta(), "registered_at": now.isoformat(), "registered_by": actor}
        values = {
            "model_type": metadata.model_type,
            "provider": metadata.provider,
            "metadata": meta,  # the column of Agent.meta
            "description": metadata.description,
            "source": "registry",
            "updated_at": now,
        }
        project = self.project or DEFAULT_PROJECT  # agents are per project (tenancy_0003)
        with write_transaction(self.engine) as conn:
            row = conn.execute(
                select(Agent.id, Agent.source, Agent.created_at)
                .where(Agent.name == metadata.name, Agent.version == metadata.version, Agent.project_id == project)
                .with_for_update()
            ).first()
            if row is not None and row.source == "registry":
                raise DuplicateVersion(
                    f"{metadata.name}@{metadata.version} is already registered; registered versions are "
                    "immutable, register a new version instead"
                )
            if row is None:
                conn.execute(
                    insert(AGENTS),
                    {"name": metadata.name, "version": metadata.version, "created_at": now, "project_id": project,
                     **values},
                )
                action = "register"
            else:
                conn.execute(update(AGENTS).where(AGENTS.c.id == row.id).values(**values))
                action = "adopt"
            agent = get_agent_version(conn, metadata.name, metadata.version, project)
            assert agent is not None
            if changelog:
                conn.execute(
                    insert(RegistryChangelog),
                    {
                        "agent_name": agent.name,
                        "version": agent.version,
                        "agent_id": agent.id,
                        "entry": changelog,
                        "author": actor,
                        "created_at": now,
                        **self._stamp,
                    },
                )
            insert_audit(
                conn,
                project=self.project,
                actor=actor,
                action=action,
                agent_name=agent.name,
                agent_version=agent.version,
                reason=changelog,
                before={"source": "telemetry"} if action == "adopt" else None,
                after=_audit_view(agent),
                at=now,
            )
        return agent

    # -- read -------------------------------------------------------------------------------------
    def get_agent(self, name: str, version: str | None = None) -> AgentVersion:
        """One version of ``name`` (default: the highest registered version)."""
        name = validate_name(name)
        if version is None:
            registered = [v for v in list_agent_versions(self.engine, name, project=self.project) if v.registered]
            if not registered:
                self._require_agent(name)
                raise VersionNotFound(f"agent {name!r} has no registered version (only discovered ones)")
            return registered[-1]
        found = get_agent_version(self.engine, name, version, self.project)
        if found is None:
            self._require_agent(name)
            raise VersionNotFound(f"agent {name!r} has no version {version!r}")
        return found

    def list_agents(self, name: str | None = None, include_discovered: bool = True) -> list[AgentVersion]:
        """Every version of every agent (or of ``name``), registered and discovered, by semantic version."""
        versions = list_agent_versions(self.engine, name, project=self.project)
        return [v for v in versions if include_discovered or v.registered]

    def get_agent_history(self, name: str, limit: int | None = None) -> list[AuditEntry]:
        """Everything that happened to ``name`` (registrations, updates, promotions, rollbacks), oldest first."""
        name = validate_name(name)
        self._require_agent(name)
        return audit_log(self.engine, name=name, limit=limit, newest_first=False, project=self.project)

    # -- update -----------------------------------------------------------------------------------
    def update_agent(
        self, name: str, version: str, *, actor: str, reason: str | None = None, **changes: Any
    ) -> AgentVersion:
        """Change the labels (``description``, ``tags``) of a registered version.

        Model, provider, capabilities, dependencies and configuration are fixed once registered:
        changing them needs a new version (``ImmutableField``).
        """
        actor = validate_actor(actor)
        reason = clean_reason(reason)
        fixed = sorted(set(changes) & set(IMMUTABLE_FIELDS))
        if fixed:
            raise ImmutableField(
                f"{', '.join(fixed)} of a registered version cannot change; register a new version"
            )
        unknown = sorted(set(changes) - set(MUTABLE_FIELDS))
        if unknown:
            raise InvalidMetadata(f"unknown field(s) {', '.join(unknown)}; updatable: {', '.join(MUTABLE_FIELDS)}")
        if not changes:
            raise InvalidMetadata("nothing to update")
        now = utcnow()
        with write_transaction(self.engine) as conn:
            row = conn.execute(
                agent_select().where(Agent.name == name, Agent.version == version, agents_of(self.project))
                .with_for_update()
            ).first()
            if row is None or row.source != "registry":
                current = get_agent_version(conn, name, version, self.project)
                if current is None:
                    self._require_agent(name, conn)
                    raise VersionNotFound(f"agent {name!r} has no version {version!r}")
                raise InvalidMetadata(f"{name}@{version} was discovered in telemetry; register it first")
            before = agent_version_from_row(row)
            checked = AgentMetadata(
                name=before.name,
                version=before.version,
                tags=changes.get("tags", before.tags),
                description=changes.get("description", before.description),
            )
            meta = {**(row.meta or {}), "tags": list(checked.tags)}
            conn.execute(
                update(AGENTS)
                .where(AGENTS.c.id == row.id)
                .values({AGENTS.c.metadata: meta, AGENTS.c.description: checked.description, AGENTS.c.updated_at: now})
            )
            after = get_agent_version(conn, name, version)
            assert after is not None
            insert_audit(
                conn,
                project=self.project,
                actor=actor,
                action="update",
                agent_name=name,
                agent_version=version,
                reason=reason,
                before={k: _jsonable(getattr(before, k)) for k in changes},
                after={k: _jsonable(getattr(after, k)) for k in changes},
                at=now,
            )
        return after

    def add_changelog(self, name: str, version: str, entry: str, *, actor: str) -> None:
        """Append a changelog entry to a registered version (entries are never edited)."""
        self.versions.add_changelog(name, version, entry, actor=actor)

    def _require_agent(self, name: str, conn: Any = None) -> None:
        if not agent_exists(conn if conn is not None else self.engine, name, self.project):
            raise AgentNotFound(f"no agent named {name!r} (neither registered nor seen in telemetry)")


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _audit_view(agent: AgentVersion) -> dict[str, Any]:
    return {
        "model_type": agent.model_type,
        "provider": agent.provider,
        "description": agent.description,
        "capabilities": list(agent.capabilities),
        "dependencies": agent.dependencies,
        "configuration": agent.configuration,
        "tags": list(agent.tags),
    }
