"""The registry seen through telemetry: discovered versions and what each version does in each environment.

Executions are matched to versions by ``agent_executions.agent_name`` / ``agent_version`` (the
receiver takes them from ``gen_ai.agent.name`` / ``gen_ai.agent.version`` or ``service.version``;
``''`` when unknown). The environment of an execution is the OTel resource attribute
``deployment.environment.name`` (or the older ``deployment.environment``) of its span, with the common
spellings folded onto the registry's environments (``production`` → ``prod`` …).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, case, func, select

from agentotel.core.utc import as_utc
from agentotel.registry.queries import (
    ENVIRONMENTS,
    AgentVersion,
    bind_connection,
    environment_states,
    list_agent_versions,
    version_sort_key,
)
from agentotel.warehouse.models import AgentExecution, Span

ENVIRONMENT_ALIASES = {
    "development": "dev",
    "develop": "dev",
    "stage": "staging",
    "stg": "staging",
    "production": "prod",
    "prd": "prod",
}


def normalize_environment(value: str | None) -> str | None:
    """``Production`` → ``prod``; unknown names pass through lower-cased; empty → None."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip().lower()
    return ENVIRONMENT_ALIASES.get(value, value)


@dataclass(frozen=True)
class VersionStats:
    """Executions, errors and cost of one agent version (in one environment, or all when None)."""

    agent_name: str
    version: str
    environment: str | None
    source: str | None  # registry | telemetry | None (executions of a version not in ``agents``)
    executions: int
    failures: int
    cost_usd: float
    tokens: int
    avg_duration_ms: float | None
    first_execution: datetime | None
    last_execution: datetime | None

    @property
    def error_rate(self) -> float | None:
        return self.failures / self.executions if self.executions else None

    @property
    def avg_cost_usd(self) -> float | None:
        return self.cost_usd / self.executions if self.executions else None


@dataclass(frozen=True)
class EnvironmentOverview:
    """One environment of one agent: the active version and how that version behaves there."""

    agent_name: str
    environment: str
    active_version: str | None
    since: datetime | None
    updated_by: str | None
    stats: VersionStats | None


def discovered_versions(bind: Engine | Connection, agent_name: str | None = None,
                        project: str | None = None) -> list[AgentVersion]:
    """Versions seen in telemetry that nobody registered yet."""
    return list_agent_versions(bind, agent_name, source="telemetry", project=project)


def _environment_expr() -> Any:
    res = Span.resource_attributes
    return func.coalesce(
        res["deployment.environment.name"].as_string(), res["deployment.environment"].as_string()
    )


def _aggregate(
    bind: Engine | Connection,
    agent_name: str | None,
    since: datetime | None,
    until: datetime | None,
    by_environment: bool,
    versions: Sequence[str] | None = None,
    project: str | None = None,
) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    ex = AgentExecution
    version = func.coalesce(ex.agent_version, "")
    columns: list[Any] = [
        ex.agent_name.label("agent_name"),
        version.label("version"),
        func.count().label("executions"),
        func.sum(case((ex.success.is_(False), 1), else_=0)).label("failures"),
        func.coalesce(func.sum(ex.cost_usd), 0.0).label("cost_usd"),
        func.coalesce(func.sum(ex.tokens_used), 0).label("tokens"),
        func.avg(ex.duration_ms).label("avg_duration_ms"),
        func.min(ex.timestamp).label("first_execution"),
        func.max(ex.timestamp).label("last_execution"),
    ]
    group: list[Any] = [ex.agent_name, version]
    if by_environment:
        env = _environment_expr()
        columns.append(env.label("environment"))
        group.append(env)
        stmt = select(*columns).select_from(ex).outerjoin(
            Span, and_(Span.trace_id == ex.trace_id, Span.span_id == ex.span_id)
        )
    else:
        stmt = select(*columns).select_from(ex)
    stmt = stmt.where(ex.agent_name.is_not(None))
    if project is not None:
        stmt = stmt.where(ex.project_id == project)
    if agent_name is not None:
        stmt = stmt.where(ex.agent_name == agent_name)
    if versions is not None:
        stmt = stmt.where(version.in_(list(versions)))
    if since is not None:
        stmt = stmt.where(ex.timestamp >= since)
    if until is not None:
        stmt = stmt.where(ex.timestamp < until)
    stmt = stmt.group_by(*group)
    with bind_connection(bind) as conn:
        rows = conn.execute(stmt).all()
    out = []
    for r in rows:
        env_name = normalize_environment(r.environment) if by_environment else None
        out.append((r.agent_name, r.version, env_name, r._asdict()))
    return out


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    executions = sum(int(p["executions"]) for p in parts)
    weighted = [(p["avg_duration_ms"], int(p["executions"])) for p in parts if p["avg_duration_ms"] is not None]
    weight = sum(n for _, n in weighted)
    firsts = [p["first_execution"] for p in parts if p["first_execution"] is not None]
    lasts = [p["last_execution"] for p in parts if p["last_execution"] is not None]
    return {
        "executions": executions,
        "failures": sum(int(p["failures"] or 0) for p in parts),
        "cost_usd": float(sum(float(p["cost_usd"] or 0) for p in parts)),
        "tokens": int(sum(int(p["tokens"] or 0) for p in parts)),
        "avg_duration_ms": (sum(float(a) * n for a, n in weighted) / weight) if weight else None,
        "first_execution": as_utc(min(firsts)) if firsts else None,
        "last_execution": as_utc(max(lasts)) if lasts else None,
    }




def _stats(
    bind: Engine | Connection,
    agent_name: str | None,
    since: datetime | None,
    until: datetime | None,
    by_environment: bool,
    versions: Sequence[str] | None = None,
    project: str | None = None,
) -> list[VersionStats]:
    groups: dict[tuple[str, str, str | None], list[dict[str, Any]]] = {}
    for name, version, env, row in _aggregate(bind, agent_name, since, until, by_environment, versions, project):
        groups.setdefault((name, version, env), []).append(row)
    sources = {(v.name, v.version): v.source for v in list_agent_versions(bind, agent_name, project=project)}
    if not by_environment:  # every known version appears, with zeros when it has not run
        for key in sources:
            groups.setdefault((key[0], key[1], None), [])
    empty = {"executions": 0, "failures": 0, "cost_usd": 0.0, "tokens": 0, "avg_duration_ms": None,
             "first_execution": None, "last_execution": None}
    stats = [
        VersionStats(agent_name=n, version=v, environment=e, source=sources.get((n, v)), **(_merge(p) if p else empty))
        for (n, v, e), p in groups.items()
    ]
    env_order = {env: i for i, env in enumerate(ENVIRONMENTS)}
    return sorted(
        stats,
        key=lambda s: (s.agent_name, version_sort_key(s.version), env_order.get(s.environment or "", 99), s.environment or ""),
    )


def version_stats(
    bind: Engine | Connection,
    agent_name: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    project: str | None = None,
) -> list[VersionStats]:
    """Per version (of ``project``'s executions): executions, failures (error rate), cost, tokens, mean duration, first/last run.

    Registered and discovered versions without executions are listed with zeros.
    """
    return _stats(bind, agent_name, since, until, by_environment=False, project=project)


def environment_stats(
    bind: Engine | Connection,
    agent_name: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    versions: Sequence[str] | None = None,
    project: str | None = None,
) -> list[VersionStats]:
    """Per (version, environment reported by telemetry): the same figures; environment None = not reported.

    ``versions`` limits the scan to those versions.
    """
    return _stats(bind, agent_name, since, until, by_environment=True, versions=versions, project=project)


def environment_overview(
    bind: Engine | Connection, agent_name: str, since: datetime | None = None, until: datetime | None = None,
    project: str | None = None,
) -> list[EnvironmentOverview]:
    """dev / staging / prod of ``agent_name``: active version, since when, by whom, and its figures there."""
    states = {s.environment: s for s in environment_states(bind, agent_name, project)}
    active = sorted({s.version for s in states.values()})
    stats = {
        (s.version, s.environment): s
        for s in (environment_stats(bind, agent_name, since, until, versions=active, project=project) if active else [])
    }
    overview = []
    for env in ENVIRONMENTS:
        state = states.get(env)
        overview.append(
            EnvironmentOverview(
                agent_name=agent_name,
                environment=env,
                active_version=state.version if state else None,
                since=state.since if state else None,
                updated_by=state.updated_by if state else None,
                stats=stats.get((state.version, env)) if state else None,
            )
        )
    return overview


__all__ = [
    "EnvironmentOverview",
    "VersionStats",
    "discovered_versions",
    "environment_overview",
    "environment_stats",
    "normalize_environment",
    "version_stats",
]
