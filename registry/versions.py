"""``VersionManager``: environments dev → staging → prod, promotion, rollback, changelog, audit.

Each environment has at most one active version per agent (``registry_environments``, unique on
(agent_name, environment)). Every promotion and rollback appends a ``registry_deployments`` row and an
audit row in the same transaction as the pointer change. Concurrency: the environment's state is read,
the gate runs (outside any lock: it may take a while), then a write transaction locks the pointer
(``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and compare-and-sets it on its
revision. If another change landed in between, the operation fails with ``PromotionConflict``: its gate
verdict was reached against a baseline that is no longer active.

Rollback is a stack: each deployment remembers the deployment it replaced (``restores_id``), so
rolling back twice goes two steps back. Rollback needs no gate (it returns to a version that was
active in that environment before) but always a reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, insert, update
from sqlalchemy.exc import IntegrityError

from agentotel.registry.errors import (
    AgentNotFound,
    GateRefused,
    InvalidMetadata,
    InvalidTransition,
    PromotionConflict,
    VersionNotFound,
)
from agentotel.registry.gate import (
    GateDecision,
    GatePolicies,
    GatePolicy,
    PromotionGate,
    WarehouseEvaluationStore,
)
from agentotel.registry.queries import (
    ENVIRONMENTS,
    AgentVersion,
    AuditEntry,
    ChangelogEntry,
    Deployment,
    EnvironmentState,
    agent_exists,
    audit_log,
    changelog,
    deployments,
    environment_state,
    environment_states,
    get_agent_version,
    get_deployment,
    list_agent_versions,
)
from agentotel.registry.store import (
    audit_attempt,
    clean_reason,
    insert_audit,
    utcnow,
    validate_actor,
    write_transaction,
)
from agentotel.warehouse.registry_models import RegistryChangelog, RegistryDeployment, RegistryEnvironment

_UNSET: Any = object()


def validate_environment(environment: Any) -> str:
    if environment not in ENVIRONMENTS:
        raise InvalidTransition(f"unknown environment {environment!r}; environments are {', '.join(ENVIRONMENTS)}")
    return environment


class VersionManager:
    """Version history, changelog, environments, promotion and rollback for one warehouse."""

    def __init__(self, engine: Engine, gate: PromotionGate | None = None,
                 policies: Mapping[str, GatePolicy] | None = None, project: str | None = None) -> None:
        """``policies``: the gate's policies per environment (``parse_policies(RegistrySettings.gate)``, a
        ``GatePolicies`` with per-agent entries, resolved by the caller); the defaults without them. Ignored
        when ``gate`` is given. ``project``: the manager sees and changes only that project's environments,
        history and audit entries (the gate reads its evaluation runs) and stamps what it writes with it;
        None: every project, new rows in ``default``."""
        self.engine = engine
        self.project = project
        self._stamp = {} if project is None else {"project_id": project}
        if gate is None:
            chosen = policies if isinstance(policies, GatePolicies) else GatePolicies(policies)
            gate = PromotionGate(WarehouseEvaluationStore(engine, project), chosen)
        self.gate = gate

    # -- reads ------------------------------------------------------------------------------------
    def list_versions(self, name: str) -> list[AgentVersion]:
        """Registered and discovered versions of ``name``, by semantic version."""
        versions = list_agent_versions(self.engine, name, project=self.project)
        if not versions:
            raise AgentNotFound(f"no agent named {name!r}")
        return versions

    def environments(self, name: str) -> dict[str, EnvironmentState | None]:
        """The active version in each environment (None where nothing was promoted yet)."""
        states = {s.environment: s for s in environment_states(self.engine, name, project=self.project)}
        return {env: states.get(env) for env in ENVIRONMENTS}

    def active_version(self, name: str, environment: str) -> str | None:
        state = environment_state(self.engine, name, validate_environment(environment), project=self.project)
        return state.version if state else None

    def deployments(self, name: str, environment: str | None = None, limit: int | None = None) -> list[Deployment]:
        """Promotions and rollbacks, newest first."""
        if environment is not None:
            validate_environment(environment)
        return deployments(self.engine, name, environment, limit=limit, project=self.project)

    def changelog(self, name: str, version: str | None = None) -> list[ChangelogEntry]:
        return changelog(self.engine, name, version, project=self.project)

    def audit_log(self, name: str | None = None, limit: int | None = 200) -> list[AuditEntry]:
        return audit_log(self.engine, name=name, limit=limit, project=self.project)

    # -- changelog --------------------------------------------------------------------------------
    def add_changelog(self, name: str, version: str, entry: str, *, actor: str) -> ChangelogEntry:
        """Append a changelog entry to a registered version."""
        actor = validate_actor(actor)
        text = clean_reason(entry, required=True, what="changelog entry")
        assert text is not None
        agent = self._registered(name, version)
        now = utcnow()
        with write_transaction(self.engine) as conn:
            conn.execute(
                insert(RegistryChangelog),
                {
                    "agent_name": name,
                    "version": version,
                    "agent_id": agent.id,
                    "entry": text,
                    "author": actor,
                    "created_at": now,
                    **self._stamp,
                },
            )
            insert_audit(
                conn, actor=actor, action="changelog", agent_name=name, agent_version=version, after={"entry": text}, at=now
            )
        return ChangelogEntry(name, version, text, actor, now)

    # -- promotion --------------------------------------------------------------------------------
    def check_promotion(self, name: str, version: str, environment: str, suite: str | None = None) -> GateDecision:
        """The gate's verdict on promoting now, without changing anything."""
        environment = validate_environment(environment)
        self._registered(name, version)
        state = environment_state(self.engine, name, environment, project=self.project)
        return self._gate(name, version, environment, state.version if state else None, suite)

    def _gate(self, name: str, version: str, environment: str, current: str | None, suite: str | None) -> GateDecision:
        if suite is None:
            return self.gate.evaluate(name, version, environment, current)
        return self.gate.evaluate(name, version, environment, current, suite=suite)

    def promote(
        self,
        name: str,
        version: str,
        environment: str,
        *,
        actor: str,
        reason: str | None = None,
        override_reason: str | None = None,
        expected_active: str | None = _UNSET,
        suite: str | None = None,
    ) -> Deployment:
        """Make ``version`` the active version of ``name`` in ``environment``.

        The version must be registered, not already active there, and have been deployed to the
        previous environment of the pipeline. The gate must pass, or ``override_reason`` is given (and
        audited). ``expected_active`` (compare-and-set from the caller's view, e.g. a dashboard) fails
        the promotion with ``PromotionConflict`` unless that version (None: nothing) is active now.
        ``suite``: the evidence must come from runs on that suite (``registry promote --evaluate``).
        """
        environment = validate_environment(environment)
        actor = validate_actor(actor)
        reason = clean_reason(reason)
        override_reason = clean_reason(override_reason, what="override reason")
        agent = self._registered(name, version)
        state = environment_state(self.engine, name, environment, project=self.project)
        current = state.version if state else None
        if current == version:
            raise InvalidTransition(f"{name}@{version} is already active in {environment}")
        stage = ENVIRONMENTS.index(environment)
        if stage > 0:
            before_env = ENVIRONMENTS[stage - 1]
            if not deployments(self.engine, name, before_env, version=version, limit=1, project=self.project):
                raise InvalidTransition(
                    f"{name}@{version} has never been in {before_env}; promote it to {before_env} before {environment}"
                )
        if expected_active is not _UNSET and expected_active != current:
            self._conflict(name, version, environment, actor, reason, current, expected_active)
        decision = self._gate(name, version, environment, current, suite)
        if not decision.passed:
            if override_reason is None:
                audit_attempt(
                    self.engine,
                    project=self.project,
                    actor=actor,
                    action="promote",
                    outcome="refused",
                    agent_name=name,
                    agent_version=version,
                    environment=environment,
                    reason=reason,
                    before={"version": current},
                    after={"version": version, "gate": decision.to_dict()},
                )
                raise GateRefused(
                    f"promotion of {name}@{version} to {environment} refused by the gate "
                    f"({decision.policy}): {decision.summary()}; pass an override reason to force it",
                    decision,
                )
            decision = decision.with_override(override_reason)
        why = reason if decision.passed else f"override: {override_reason}" + (f"; {reason}" if reason else "")
        return self._switch(
            name,
            environment,
            state,
            agent,
            action="promote",
            actor=actor,
            reason=why,
            gate=decision.to_dict(),
            restores_id=state.deployment_id if state else None,
        )

    # -- rollback ---------------------------------------------------------------------------------
    def rollback(
        self,
        name: str,
        environment: str,
        *,
        actor: str,
        reason: str,
        to_version: str | None = None,
        expected_active: str | None = _UNSET,
    ) -> Deployment:
        """Return ``environment`` to the version active before the current one, or to ``to_version``.

        ``to_version`` must have been active in that environment before (otherwise promote it).
        """
        environment = validate_environment(environment)
        actor = validate_actor(actor)
        why = clean_reason(reason, required=True, what="rollback reason")
        state = environment_state(self.engine, name, environment, project=self.project)
        if state is None:
            if not agent_exists(self.engine, name, project=self.project):
                raise AgentNotFound(f"no agent named {name!r}")
            raise InvalidTransition(f"nothing is active in {environment} for {name!r}; nothing to roll back")
        if expected_active is not _UNSET and expected_active != state.version:
            self._conflict(name, to_version, environment, actor, why, state.version, expected_active, action="rollback")
        if to_version is None:
            active = get_deployment(self.engine, state.deployment_id, project=self.project)
            target = get_deployment(self.engine, active.restores_id, project=self.project) if active and active.restores_id else None
            if target is None:
                raise InvalidTransition(
                    f"{name}@{state.version} is the first version active in {environment}; no earlier version to roll back to"
                )
        else:
            if to_version == state.version:
                raise InvalidTransition(f"{name}@{to_version} is already active in {environment}")
            earlier = deployments(self.engine, name, environment, version=to_version, limit=1, project=self.project)
            if not earlier:
                self._registered(name, to_version)  # VersionNotFound for an unknown version
                raise InvalidTransition(
                    f"{name}@{to_version} was never active in {environment}; promote it instead of rolling back"
                )
            target = earlier[0]
        agent = get_agent_version(self.engine, name, target.version, project=self.project)
        assert agent is not None
        return self._switch(
            name,
            environment,
            state,
            agent,
            action="rollback",
            actor=actor,
            reason=why,
            gate=None,
            restores_id=target.restores_id,
        )

    # -- internals --------------------------------------------------------------------------------
    def _registered(self, name: str, version: str) -> AgentVersion:
        if not isinstance(version, str) or not version:
            raise InvalidMetadata("a version is required")
        agent = get_agent_version(self.engine, name, version, project=self.project)
        if agent is None:
            if not agent_exists(self.engine, name, project=self.project):
                raise AgentNotFound(f"no agent named {name!r}")
            raise VersionNotFound(f"agent {name!r} has no version {version!r}")
        if not agent.registered:
            raise InvalidTransition(
                f"{name}@{version} was discovered in telemetry but is not registered; register it first"
            )
        return agent

    def _conflict(
        self,
        name: str,
        version: str | None,
        environment: str,
        actor: str,
        reason: str | None,
        current: str | None,
        expected: str | None,
        action: str = "promote",
    ) -> None:
        audit_attempt(
            self.engine,
            project=self.project,
            actor=actor,
            action=action,
            outcome="conflict",
            agent_name=name,
            agent_version=version,
            environment=environment,
            reason=reason,
            before={"version": current, "expected": expected},
            after={"version": version},
        )
        raise PromotionConflict(
            f"{environment} of {name!r} has {current or 'no version'} active, not {expected or 'no version'} "
            "as expected; another change landed first - look again and retry"
        )

    def _switch(
        self,
        name: str,
        environment: str,
        seen: EnvironmentState | None,
        agent: AgentVersion,
        *,
        action: str,
        actor: str,
        reason: str | None,
        gate: dict[str, Any] | None,
        restores_id: int | None,
    ) -> Deployment:
        """Compare-and-set the environment pointer from ``seen`` to ``agent``; append history and audit."""
        now = utcnow()
        previous = seen.version if seen else None
        try:
            with write_transaction(self.engine) as conn:
                locked = environment_state(conn, name, environment, for_update=True, project=self.project)
                if (locked.revision if locked else None) != (seen.revision if seen else None):
                    raise _Lost(locked.version if locked else None)
                deployment_id = conn.execute(
                    insert(RegistryDeployment).returning(RegistryDeployment.id),
                    {
                        "agent_name": name,
                        "environment": environment,
                        "version": agent.version,
                        "agent_id": agent.id,
                        "action": action,
                        "previous_version": previous,
                        "restores_id": restores_id,
                        "actor": actor,
                        "reason": reason,
                        "gate": gate,
                        "created_at": now,
                        **self._stamp,
                    },
                ).scalar_one()
                self._set_pointer(conn, name, environment, seen, agent, deployment_id, actor, now, self._stamp)
                insert_audit(
                    conn,
                    project=self.project,
                    actor=actor,
                    action=action,
                    agent_name=name,
                    agent_version=agent.version,
                    environment=environment,
                    reason=reason,
                    before={"version": previous},
                    after={"version": agent.version, "deployment_id": deployment_id, **({"gate": gate} if gate else {})},
                    at=now,
                )
        except _Lost as lost:
            self._conflict(name, agent.version, environment, actor, reason, lost.current, previous, action=action)
        except IntegrityError:
            # Two first promotions into an empty environment: the unique (project_id, agent_name, environment)
            # decides.
            current = environment_state(self.engine, name, environment, project=self.project)
            if seen is None and current is not None:
                self._conflict(name, agent.version, environment, actor, reason, current.version, None, action=action)
            raise
        result = get_deployment(self.engine, deployment_id, project=self.project)
        assert result is not None
        return result

    @staticmethod
    def _set_pointer(
        conn: Connection,
        name: str,
        environment: str,
        seen: EnvironmentState | None,
        agent: AgentVersion,
        deployment_id: int,
        actor: str,
        now: Any,
        stamp: dict[str, str],
    ) -> None:
        values = {
            "version": agent.version,
            "agent_id": agent.id,
            "deployment_id": deployment_id,
            "updated_at": now,
            "updated_by": actor,
        }
        if seen is None:
            conn.execute(
                insert(RegistryEnvironment),
                {"agent_name": name, "environment": environment, "revision": 1, **values, **stamp},
            )
            return
        t = RegistryEnvironment.__table__
        changed = conn.execute(
            update(t)
            .where(t.c.agent_name == name, t.c.environment == environment, t.c.revision == seen.revision,
                   *[t.c.project_id == p for p in stamp.values()])
            .values(revision=seen.revision + 1, **values)
        ).rowcount
        if changed != 1:
            raise _Lost(None)


class _Lost(Exception):
    """The environment pointer moved since it was read (raised inside the write transaction)."""

    def __init__(self, current: str | None) -> None:
        super().__init__(current)
        self.current = current
