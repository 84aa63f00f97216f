"""Evaluation runs in the warehouse (``evaluation_runs``) and the comparisons built on them.

``results`` holds ``{"suite", "cases": [...], "metrics": {name: definition}, "performance"}``;
``summary`` holds per-metric statistics, per-tag breakdowns and performance figures; ``metadata``
holds agent name/version, suite hash, seed and run settings.

A run belongs to an agent version through ``agent_name``/``agent_version`` (``eval run --agent-name NAME
--agent-version VERSION``); the promotion gate reads a version's runs with ``completed_runs``. A run's
*history* is the earlier completed runs of the same agent on the same suite (name and content hash) by
other versions: re-running the version under test never becomes its own yardstick.

A run belongs to one project (``project_id``): every function takes ``project``; given, it reads and
changes only that project's runs and stamps the runs it starts with it (None: every run the engine sees,
new runs in ``default``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import ColumnElement, Engine, insert, select, true, update
from sqlalchemy.orm import Session, defer

from agentotel.core.projects import DEFAULT_PROJECT
from agentotel.evaluation.base import CaseResult, MetricDefinition, json_safe
from agentotel.evaluation.regression import RegressionDetector, RegressionReport, RunSamples
from agentotel.warehouse.models import Agent, EvaluationRun

RUN_STATUSES = ("running", "completed", "failed")


class RunNotFoundError(LookupError):
    """No evaluation run with that id."""


class RunNotComparableError(ValueError):
    """A run that has no results to compare (still running, or failed before any case)."""


@dataclass
class StoredRun:
    id: str
    benchmark_id: str
    timestamp: datetime
    status: str
    results: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    agent_name: str | None = None
    agent_version: str | None = None
    completed_at: datetime | None = None
    error_message: str | None = None

    @property
    def cases(self) -> list[CaseResult]:
        return [CaseResult.from_dict(c) for c in self.results.get("cases") or []]

    @property
    def metric_definitions(self) -> dict[str, MetricDefinition]:
        return {name: MetricDefinition.from_dict(name, d) for name, d in (self.results.get("metrics") or {}).items()}

    def to_samples(self) -> RunSamples:
        meta = {"agent_name": self.agent_name, "agent_version": self.agent_version, "benchmark_id": self.benchmark_id,
                "suite_hash": self.meta.get("suite_hash")}
        return RunSamples.from_cases(self.cases, self.metric_definitions, run_id=self.id, meta=meta)


def _row_to_run(row: EvaluationRun, with_results: bool = True) -> StoredRun:
    return StoredRun(
        id=row.id,
        benchmark_id=row.benchmark_id,
        timestamp=row.timestamp,
        status=row.status,
        results=(row.results or {}) if with_results else {},
        summary=row.summary or {},
        meta=row.meta or {},
        agent_name=row.agent_name,
        agent_version=row.agent_version,
        completed_at=row.completed_at,
        error_message=row.error_message,
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _in(project: str | None) -> ColumnElement[bool]:
    """The runs of ``project`` (every run for None)."""
    return true() if project is None else EvaluationRun.project_id == project


def start_run(
    engine: Engine,
    run_id: str,
    benchmark_id: str,
    agent_name: str | None,
    agent_version: str | None,
    meta: dict[str, Any] | None = None,
    timestamp: datetime | None = None,
    project: str | None = None,
) -> None:
    """Insert a run with status ``running`` (of ``project``, else ``default``)."""
    stamp = {} if project is None else {"project_id": project}
    with engine.begin() as conn:
        conn.execute(
            insert(EvaluationRun).values(
                id=run_id, benchmark_id=benchmark_id, timestamp=timestamp or _now(), status="running",
                results=None, meta=json_safe(meta or {}), agent_name=agent_name, agent_version=agent_version, **stamp,
            )
        )


def finish_run(
    engine: Engine,
    run_id: str,
    status: str,
    results: dict[str, Any] | None = None,
    summary: dict[str, Any] | None = None,
    error_message: str | None = None,
    project: str | None = None,
) -> None:
    """Set a run's final status (``completed`` or ``failed``) with its results and summary."""
    if status not in ("completed", "failed"):
        raise ValueError(f"final status must be 'completed' or 'failed', got {status!r}")
    with engine.begin() as conn:
        changed = conn.execute(
            update(EvaluationRun)
            .where(EvaluationRun.id == run_id, _in(project))
            .values(
                status=status, results=json_safe(results) if results is not None else None,
                summary=json_safe(summary) if summary is not None else None,
                completed_at=_now(), error_message=error_message,
            )
        ).rowcount
    if not changed:
        raise RunNotFoundError(f"no evaluation run {run_id!r}")


def save_run(engine: Engine, run: Any, project: str | None = None) -> None:
    """Store a finished ``BenchmarkRun`` in one go (insert, then final status)."""
    start_run(engine, run.run_id, run.benchmark_id, run.agent_name, run.agent_version, run.meta, run.started_at,
              project)
    finish_run(engine, run.run_id, run.status, run.results_payload(), run.summary, run.error_message, project)


def load_run(engine: Engine, run_id: str, project: str | None = None) -> StoredRun:
    with Session(engine) as session:
        row = session.get(EvaluationRun, run_id)
        if row is None or (project is not None and row.project_id != project):
            raise RunNotFoundError(f"no evaluation run {run_id!r}")
        return _row_to_run(row)


def latest_completed_run(engine: Engine, agent_name: str, agent_version: str | None,
                         project: str | None = None) -> str | None:
    """Id of the newest completed run of ``agent_name`` (at ``agent_version``; any version if None)."""
    query = select(EvaluationRun.id).where(EvaluationRun.agent_name == agent_name, EvaluationRun.status == "completed",
                                           _in(project))
    if agent_version is not None:
        query = query.where(EvaluationRun.agent_version == agent_version)
    query = query.order_by(EvaluationRun.timestamp.desc(), EvaluationRun.id.desc()).limit(1)
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def list_runs(
    engine: Engine,
    agent_name: str | None = None,
    benchmark_id: str | None = None,
    status: str | None = None,
    before: datetime | None = None,
    limit: int = 50,
    with_results: bool = True,
    project: str | None = None,
) -> list[StoredRun]:
    """Runs, newest first, filtered by agent, benchmark, status (one of ``RUN_STATUSES``, else ValueError)
    and start time; ``with_results=False`` leaves the per-case results unread (a run list)."""
    if status is not None and status not in RUN_STATUSES:
        raise ValueError(f"status must be one of {', '.join(RUN_STATUSES)}")
    query = select(EvaluationRun).where(_in(project))
    if not with_results:
        query = query.options(defer(EvaluationRun.results, raiseload=True))
    if agent_name is not None:
        query = query.where(EvaluationRun.agent_name == agent_name)
    if benchmark_id is not None:
        query = query.where(EvaluationRun.benchmark_id == benchmark_id)
    if status is not None:
        query = query.where(EvaluationRun.status == status)
    if before is not None:
        query = query.where(EvaluationRun.timestamp < before)
    query = query.order_by(EvaluationRun.timestamp.desc(), EvaluationRun.id.desc()).limit(limit)
    with Session(engine) as session:
        return [_row_to_run(row, with_results) for row in session.scalars(query)]


def run_history(engine: Engine, run: StoredRun, exclude: Sequence[str] = (), limit: int = 20,
                project: str | None = None) -> list[StoredRun]:
    """Earlier completed runs of the same agent on the same suite (name and content hash) by other versions
    (for the anomaly score and the history check), newest first."""
    runs = list_runs(engine, agent_name=run.agent_name, benchmark_id=run.benchmark_id, status="completed",
                     before=run.timestamp, limit=4 * limit + len(exclude) + 1, project=project)
    skip = {run.id, *exclude}
    suite_hash = run.meta.get("suite_hash")
    return [r for r in runs if r.id not in skip and r.meta.get("suite_hash") == suite_hash
            and (not run.agent_version or r.agent_version != run.agent_version)][:limit]


@dataclass(frozen=True)
class RunInfo:
    """A stored run without its per-case results: what the promotion gate chooses runs by."""

    id: str
    benchmark_id: str
    suite_hash: str | None
    n_cases: int
    timestamp: datetime
    agent_name: str | None
    agent_version: str | None

    @property
    def suite(self) -> str:
        """``name@hash12``: the suite as the gate names it."""
        return f"{self.benchmark_id}@{(self.suite_hash or '?')[:12]}"


def completed_runs(engine: Engine, agent_name: str, agent_version: str | None = None,
                   benchmark_id: str | None = None, limit: int = 200, project: str | None = None) -> list[RunInfo]:
    """Completed runs of an agent (one version, or every version), newest first, without case results."""
    query = (select(EvaluationRun.id, EvaluationRun.benchmark_id, EvaluationRun.meta.label("meta"), EvaluationRun.summary,
                    EvaluationRun.timestamp, EvaluationRun.agent_name, EvaluationRun.agent_version)
             .where(EvaluationRun.agent_name == agent_name, EvaluationRun.status == "completed", _in(project)))
    if agent_version is not None:
        query = query.where(EvaluationRun.agent_version == agent_version)
    if benchmark_id is not None:
        query = query.where(EvaluationRun.benchmark_id == benchmark_id)
    query = query.order_by(EvaluationRun.timestamp.desc(), EvaluationRun.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [
            RunInfo(row.id, row.benchmark_id, (row.meta or {}).get("suite_hash"),
                    int((row.summary or {}).get("n_cases") or 0), row.timestamp, row.agent_name, row.agent_version)
            for row in conn.execute(query)
        ]


def registry_source(engine: Engine, agent_name: str, agent_version: str, project: str = DEFAULT_PROJECT) -> str | None:
    """How the registry of ``project`` knows ``agent_name``@``agent_version``: ``registry`` (registered),
    ``telemetry`` (only seen in traces) or None (unknown): what ``eval run`` says about the version it links a
    run to (agents are per project: tenancy_0003)."""
    query = select(Agent.source).where(Agent.name == agent_name, Agent.version == agent_version,
                                       Agent.project_id == project)  # fmt: skip
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def run_agent_names(engine: Engine, limit: int = 20, project: str | None = None) -> list[tuple[str | None, str | None]]:
    """(agent_name, agent_version) of the newest completed runs: what a refusal can point at when a
    version has no run of its own (a run stored under another name is not linked to it)."""
    query = (select(EvaluationRun.agent_name, EvaluationRun.agent_version)
             .where(EvaluationRun.status == "completed", _in(project))
             .order_by(EvaluationRun.timestamp.desc()).limit(limit))
    with engine.connect() as conn:
        seen: dict[tuple[str | None, str | None], None] = {}
        for row in conn.execute(query):
            seen.setdefault((row.agent_name, row.agent_version), None)
        return list(seen)


def compare_runs(
    engine: Engine,
    current_run_id: str,
    baseline_run_id: str,
    threshold: float | None = None,
    detector: RegressionDetector | None = None,
    with_history: bool = True,
    metrics: Sequence[str] | None = None,
    project: str | None = None,
) -> RegressionReport:
    """Compare two stored runs (of ``project``); ``report.has_regression`` / ``report.regressions`` give the verdict."""
    current = load_run(engine, current_run_id, project)
    baseline = load_run(engine, baseline_run_id, project)
    for run in (current, baseline):
        if not run.results.get("cases"):
            raise RunNotComparableError(f"evaluation run {run.id!r} ({run.status}) has no case results to compare")
    history = run_history(engine, current, exclude=[baseline.id], project=project) if with_history else []
    detector = detector or RegressionDetector()
    return detector.detect_regressions(current, baseline, threshold=threshold, history=history, metrics=metrics)
