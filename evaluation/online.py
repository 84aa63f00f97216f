"""Online evaluation: evaluators run continuously on a sampled share of production executions.

An ``OnlineEvaluator`` reads finished ``agent_executions`` from the warehouse, decides per execution
whether it is sampled (per agent: evaluators, sample rate; heuristics or an LLM judge), scores the
sampled ones and stores each score as a ``gen_ai.evaluation.result`` row of ``evaluation_results``, keyed
to the execution (``agentotel.warehouse.evaluation_models`` says why that table). Each tick:

1. candidates: executions that started after the watermark minus ``lookback`` (late arrivals), ended at
   least ``settle`` ago, of a configured agent, that no claim names yet (oldest first, ``batch_size``);
2. claims: one ``evaluation_online_claims`` row per candidate, inserted with ON CONFLICT DO NOTHING:
   ``claimed`` with this tick's token when sampled, else ``skipped`` with the reason (not sampled, no
   captured content, failed execution). Only the rows carrying this tick's token are scored here, so
   several evaluators (or a restarted one) never score an execution twice;
3. scores: stored with ON CONFLICT DO NOTHING on (execution_id, name); the claim becomes ``scored``
   (``failed`` with the error when every evaluator failed);
4. the watermark advances to the newest candidate. A claim left ``claimed`` for ``claim_timeout`` (the
   process died mid-tick) is taken over; if its scores were stored already it is only marked ``scored``.

Sampling is deterministic (SHA-256 of the execution id against the rate), so a restart or a second
evaluator makes the same choice. ``start_online_evaluation`` runs the loop in a background thread (what
``agentotel up`` starts); ``agentotel eval online`` runs it in the foreground.

Reads for the dashboard (``online_score_series``), the promotion gate (``online_samples``) and the CLI
(``online_status``) are here too; alert rules read ``evaluation:<metric>`` through
``agentotel.alerting.sources``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import ColumnElement, Engine, func, select, true, update

from agentotel.core.durations import parse_duration
from agentotel.core.projects import DEFAULT_PROJECT
from agentotel.core.settings import EvaluationSettings
from agentotel.core.utc import utcnow
from agentotel.evaluation.agents import error_type_of
from agentotel.evaluation.base import (
    AgentResponse,
    BaseEvaluator,
    MetricDefinition,
    Score,
    TestCase,
    finite_or_none,
    recorded_text,
)
from agentotel.evaluation.factory import EvaluatorConfigError, build_evaluator
from agentotel.evaluation.performance import PerformanceEvaluator
from agentotel.evaluation.regression import RunSamples, default_definition
from agentotel.warehouse.evaluation_models import EvaluationResultRecord, OnlineClaim, OnlineState
from agentotel.warehouse.models import AgentExecution
from agentotel.warehouse.upsert import insert_on_conflict

logger = logging.getLogger(__name__)

DEFAULT_EVALUATORS: tuple[str, ...] = ("relevance", "coherence", "toxicity")
RESULTS = EvaluationResultRecord.__table__
CLAIMS = OnlineClaim.__table__


class OnlineConfigError(ValueError):
    """An online evaluation configuration that cannot be used."""


@dataclass(frozen=True)
class OnlineAgentConfig:
    """What online evaluation does for one agent (``agent="*"``: every agent without its own entry)."""

    agent: str = "*"
    evaluators: tuple[Any, ...] = DEFAULT_EVALUATORS  # names or {name: ..., params} as in a suite
    sample_rate: float = 0.1
    versions: tuple[str, ...] = ()  # empty: every version

    def __post_init__(self) -> None:
        if not 0.0 <= self.sample_rate <= 1.0 or math.isnan(self.sample_rate):
            raise OnlineConfigError(f"agent {self.agent!r}: sample_rate must be in [0, 1], got {self.sample_rate}")
        if not self.evaluators:
            raise OnlineConfigError(f"agent {self.agent!r}: name at least one evaluator")


@dataclass(frozen=True)
class OnlineConfig:
    """The online evaluator's configuration (file format: ``ONLINE_CONFIG_FORMAT``)."""

    agents: tuple[OnlineAgentConfig, ...] = (OnlineAgentConfig(),)
    interval: float = 10.0  # seconds between ticks
    settle: float = 2.0  # seconds after an execution ended before it is scored
    lookback: timedelta = timedelta(minutes=15)
    batch_size: int = 200
    claim_timeout: timedelta = timedelta(minutes=5)
    name: str = "default"  # the watermark's key

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.settle < 0 or self.batch_size < 1:
            raise OnlineConfigError("interval must be > 0, settle >= 0 and batch_size >= 1")
        names = [a.agent for a in self.agents]
        if len(set(names)) != len(names):
            raise OnlineConfigError(f"an agent is configured twice: {names}")

    def for_agent(self, agent_name: str | None) -> OnlineAgentConfig | None:
        by_name = {a.agent: a for a in self.agents}
        return by_name.get(agent_name or "") or by_name.get("*")

    @property
    def agent_names(self) -> list[str] | None:
        """The agents to read (None: every agent)."""
        names = [a.agent for a in self.agents]
        return None if "*" in names else names


ONLINE_CONFIG_FORMAT = """\
interval: 10s          # between ticks
settle: 2s             # an execution is scored once it ended this long ago
lookback: 15m          # executions that arrive late by up to this much are still scored
batch_size: 200        # executions per tick at most
agents:
  support-agent:
    sample_rate: 0.5
    evaluators: [relevance, coherence, {name: judge, metric: faithfulness, model: gpt-4o-mini}]
    versions: ["1.3.0"]          # optional: only these versions
  "*":                           # every other agent
    sample_rate: 0.1
    evaluators: [coherence, toxicity]
"""


def online_config_from_dict(data: Any, where: str = "online evaluation config") -> OnlineConfig:
    """An ``OnlineConfig`` from a parsed document (``ONLINE_CONFIG_FORMAT``)."""
    if not isinstance(data, Mapping):
        raise OnlineConfigError(f"{where}: expected a mapping with 'agents'")
    known = {"interval", "settle", "lookback", "batch_size", "claim_timeout", "name", "agents"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise OnlineConfigError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}; known: {', '.join(sorted(known))}")
    agents_data = data.get("agents") or {"*": {}}
    if not isinstance(agents_data, Mapping):
        raise OnlineConfigError(f"{where}: agents must map an agent name (or '*') to its settings")
    agents = []
    for name, entry in agents_data.items():
        entry = entry or {}
        if not isinstance(entry, Mapping) or not set(entry) <= {"sample_rate", "evaluators", "versions"}:
            raise OnlineConfigError(f"{where}: agents.{name}: expected sample_rate, evaluators, versions")
        try:
            agents.append(OnlineAgentConfig(
                agent=str(name),
                evaluators=tuple(entry.get("evaluators") or DEFAULT_EVALUATORS),
                sample_rate=float(entry.get("sample_rate", 0.1)),
                versions=tuple(str(v) for v in entry.get("versions") or ()),
            ))
        except (TypeError, ValueError) as exc:
            raise OnlineConfigError(f"{where}: agents.{name}: {exc}") from None
    try:
        return OnlineConfig(
            agents=tuple(agents),
            interval=parse_duration(data.get("interval", "10s")).total_seconds(),
            settle=parse_duration(data.get("settle", "2s")).total_seconds(),
            lookback=parse_duration(data.get("lookback", "15m")),
            batch_size=int(data.get("batch_size", 200)),
            claim_timeout=parse_duration(data.get("claim_timeout", "5m")),
            name=str(data.get("name", "default")),
        )
    except (TypeError, ValueError) as exc:
        raise OnlineConfigError(f"{where}: {exc}") from None


def load_online_config(path: str | Path) -> OnlineConfig:
    """Read an online evaluation configuration file (YAML or JSON)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise OnlineConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise OnlineConfigError(f"{path}: not YAML or JSON: {str(exc).splitlines()[0]}") from None
    return online_config_from_dict(data, str(path))


def sampled(execution_id: str, rate: float) -> bool:
    """Whether an execution falls in the sampled share (deterministic: the same answer everywhere)."""
    if rate >= 1.0:
        return True
    digest = hashlib.sha256(execution_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


@dataclass
class TickStats:
    """What one tick did."""

    candidates: int = 0
    scored: int = 0
    skipped: int = 0
    failed: int = 0
    taken_over: int = 0
    scores: int = 0
    watermark: datetime | None = None


class OnlineEvaluator:
    """Scores a sampled share of production executions, tick by tick (see the module docstring). Each score
    belongs to the project of its execution; ``project`` limits the executions looked at to that project's
    (with a watermark of its own)."""

    def __init__(self, engine: Engine, config: OnlineConfig | None = None, settings: EvaluationSettings | None = None,
                 worker: str | None = None, tracer_provider: Any = None, project: str | None = None) -> None:
        self.engine = engine
        self.config = config or OnlineConfig()
        self.project = project
        # the watermark's key: the configuration's name and the project (every project's evaluator: default's)
        self._state = {"name": self.config.name, "project_id": project or DEFAULT_PROJECT}
        self.settings = settings or EvaluationSettings()
        self.worker = worker or f"online-{uuid.uuid4().hex[:12]}"
        self._evaluators: dict[str, list[BaseEvaluator]] = {}
        for agent in self.config.agents:
            try:
                built = [build_evaluator(spec, tracer_provider, self.settings) for spec in agent.evaluators]
            except EvaluatorConfigError as exc:
                raise OnlineConfigError(f"agent {agent.agent!r}: {exc}") from None
            self._evaluators[agent.agent] = [e for e in built if not isinstance(e, PerformanceEvaluator)]
        self._ticks = 0

    def metric_definitions(self) -> dict[str, MetricDefinition]:
        return {name: d for evaluators in self._evaluators.values() for e in evaluators for name, d in e.get_metrics().items()}

    # -- one tick -----------------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> TickStats:
        """Claim, score and store what arrived since the last tick; returns what it did."""
        now = now or utcnow()
        self._ticks += 1
        token = f"{self.worker}-{self._ticks}"[:64]
        stats = TickStats()
        watermark = self._watermark(now)
        rows = self._candidates(watermark - self.config.lookback, now - timedelta(seconds=self.config.settle))
        stats.candidates = len(rows)
        mine = self._claim(rows, token, now, stats)
        mine += self._take_over(token, now, stats)
        if mine:
            self._score(mine, now, stats)
        if rows:
            newest = max(r["timestamp"] for r in rows)
            watermark = max(watermark, newest)
        self._save_watermark(watermark, now)
        stats.watermark = watermark
        return stats

    def _mine(self) -> ColumnElement[bool]:
        """The claims of this evaluator's project (every claim for an evaluator of every project)."""
        return true() if self.project is None else OnlineClaim.project_id == self.project

    def _watermark(self, now: datetime) -> datetime:
        with self.engine.connect() as conn:
            stored = conn.execute(select(OnlineState.watermark).where(
                OnlineState.name == self._state["name"], OnlineState.project_id == self._state["project_id"])).scalar()
        return stored if stored is not None else now

    def _save_watermark(self, watermark: datetime, now: datetime) -> None:
        with self.engine.begin() as conn:
            insert_on_conflict(conn, OnlineState.__table__, [{**self._state, "watermark": watermark, "updated_at": now}],
                               ("name", "project_id"), update_columns=("watermark", "updated_at"))

    def _candidates(self, since: datetime, ended_before: datetime) -> list[dict[str, Any]]:
        e, c = AgentExecution, OnlineClaim
        query = (
            select(e.id, e.trace_id, e.span_id, e.agent_name, e.agent_version, e.timestamp, e.input, e.output,
                   e.success, e.duration_ms, e.project_id)
            .outerjoin(c, c.execution_id == e.id)
            .where(e.timestamp >= since, e.end_time.is_not(None), e.end_time <= ended_before, c.execution_id.is_(None))
            .order_by(e.timestamp, e.id)
            .limit(self.config.batch_size)
        )
        names = self.config.agent_names
        if names is not None:
            query = query.where(e.agent_name.in_(names))
        if self.project is not None:
            query = query.where(e.project_id == self.project)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def _decide(self, row: dict[str, Any]) -> tuple[bool, str | None]:
        """(sampled, reason when not)."""
        agent = self.config.for_agent(row["agent_name"])
        if agent is None:
            return False, "agent not configured"
        if agent.versions and (row["agent_version"] or "") not in agent.versions:
            return False, "version not configured"
        if not sampled(row["id"], agent.sample_rate):
            return False, "not sampled"
        if not row["success"]:
            return False, "failed execution"
        if not (row["output"] or "").strip():
            return False, "no captured output (content capture off?)"
        return True, None

    def _claim(self, rows: list[dict[str, Any]], token: str, now: datetime, stats: TickStats) -> list[dict[str, Any]]:
        if not rows:
            return []
        claims = []
        for row in rows:
            take, reason = self._decide(row)
            claims.append({
                "execution_id": row["id"], "agent_name": row["agent_name"], "agent_version": row["agent_version"],
                "execution_time": row["timestamp"], "sampled": take, "status": "claimed" if take else "skipped",
                "worker": token, "claimed_at": now, "finished_at": None if take else now, "detail": reason,
                "project_id": row["project_id"],
            })
        with self.engine.begin() as conn:
            insert_on_conflict(conn, CLAIMS, claims, ("execution_id",))
            won = set(conn.execute(select(OnlineClaim.execution_id).where(
                OnlineClaim.worker == token, OnlineClaim.execution_id.in_([r["id"] for r in rows]),
                self._mine())).scalars())
        stats.skipped += sum(1 for c in claims if not c["sampled"] and c["execution_id"] in won)
        return [r for r, c in zip(rows, claims) if c["sampled"] and r["id"] in won]

    def _take_over(self, token: str, now: datetime, stats: TickStats) -> list[dict[str, Any]]:
        """Claims a dead worker left ``claimed``: take them (compare-and-set on the old token)."""
        stale_before = now - self.config.claim_timeout
        with self.engine.begin() as conn:
            stale = conn.execute(select(OnlineClaim.execution_id, OnlineClaim.worker).where(
                OnlineClaim.status == "claimed", OnlineClaim.claimed_at < stale_before, self._mine(),
            ).limit(self.config.batch_size)).all()
            taken = []
            for execution_id, old in stale:
                changed = conn.execute(update(OnlineClaim).where(
                    OnlineClaim.execution_id == execution_id, OnlineClaim.worker == old, OnlineClaim.status == "claimed",
                ).values(worker=token, claimed_at=now)).rowcount
                if changed == 1:
                    taken.append(execution_id)
            if not taken:
                return []
            done = set(conn.execute(select(EvaluationResultRecord.execution_id).where(
                EvaluationResultRecord.execution_id.in_(taken)).distinct()).scalars())
            if done:  # scored before the worker died: never score twice, only record it
                conn.execute(update(OnlineClaim).where(OnlineClaim.execution_id.in_(done)).values(
                    status="scored", finished_at=now, detail="scores found after a restart"))
            e = AgentExecution
            rows = [dict(r._mapping) for r in conn.execute(select(
                e.id, e.trace_id, e.span_id, e.agent_name, e.agent_version, e.timestamp, e.input, e.output, e.success,
                e.duration_ms, e.project_id).where(e.id.in_([t for t in taken if t not in done])))]
        stats.taken_over += len(taken)
        return rows

    def _score(self, rows: list[dict[str, Any]], now: datetime, stats: TickStats) -> None:
        by_agent: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            agent = self.config.for_agent(row["agent_name"])
            by_agent.setdefault(agent.agent if agent else "*", []).append(row)
        results: list[dict[str, Any]] = []
        outcome: dict[str, tuple[str, str | None]] = {}
        for key, group in by_agent.items():
            evaluators = self._evaluators.get(key, [])
            scored = asyncio.run(_score_group(evaluators, group))
            for row, (scores, errors) in zip(group, scored):
                for evaluator_name, score in scores:
                    results.append(_result_row(row, score, evaluator_name, now))
                for evaluator_name, error in errors:
                    results.append(_result_row(row, Score(evaluator_name, None), evaluator_name, now, error))
                if scores:
                    outcome[row["id"]] = ("scored", "; ".join(f"{n}: {e}" for n, e in errors) or None)
                elif errors:
                    outcome[row["id"]] = ("failed", "; ".join(f"{n}: {e}" for n, e in errors))
                else:
                    outcome[row["id"]] = ("skipped", "no evaluator applies")
        with self.engine.begin() as conn:
            insert_on_conflict(conn, RESULTS, results, ("execution_id", "name"))
            for status in ("scored", "failed", "skipped"):
                ids = [i for i, (s, _) in outcome.items() if s == status]
                for execution_id in ids:
                    conn.execute(update(OnlineClaim).where(OnlineClaim.execution_id == execution_id).values(
                        status=status, finished_at=now, detail=outcome[execution_id][1]))
        stats.scores += sum(1 for r in results if r["error_type"] is None)
        stats.scored += sum(1 for s, _ in outcome.values() if s == "scored")
        stats.failed += sum(1 for s, _ in outcome.values() if s == "failed")
        stats.skipped += sum(1 for s, _ in outcome.values() if s == "skipped")

    # -- the loop -----------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set; a failing tick is logged and retried."""
        while not stop.is_set():
            try:
                stats = self.tick()
                if stats.scored or stats.failed:
                    logger.info("online evaluation: %d execution(s) scored, %d failed, %d skipped",
                                stats.scored, stats.failed, stats.skipped)
            except Exception as exc:  # noqa: BLE001 - the loop outlives a database hiccup
                logger.warning("online evaluation tick failed (%s: %s); retrying in %.0f s", type(exc).__name__,
                               str(exc).splitlines()[0] if str(exc) else "", self.config.interval)
                logger.debug("online evaluation tick failed", exc_info=True)
            stop.wait(self.config.interval)


async def _score_group(evaluators: Sequence[BaseEvaluator], rows: Sequence[dict[str, Any]],
                       concurrency: int = 8) -> list[tuple[list[tuple[str, Score]], list[tuple[str, str]]]]:
    # No ``prepare``: a score must not depend on which executions shared its tick (the TF-IDF of relevance
    # then uses each comparison's own two texts), so an execution scores the same whenever it is scored.
    cases = [TestCase(id=row["id"], input=recorded_text(row["input"], "user")) for row in rows]
    semaphore = asyncio.Semaphore(concurrency)

    async def one(case: TestCase, row: dict[str, Any]) -> tuple[list[tuple[str, Score]], list[tuple[str, str]]]:
        response = AgentResponse(output=recorded_text(row["output"], "assistant"),
                                 latency_ms=float(row["duration_ms"] or 0.0))
        scores: list[tuple[str, Score]] = []
        errors: list[tuple[str, str]] = []
        async with semaphore:
            for evaluator in evaluators:
                if not evaluator.applies_to(case):
                    continue
                try:
                    scores += [(evaluator.name, s) for s in await evaluator.ascore(case, response)]
                except Exception as exc:  # noqa: BLE001 - recorded with the execution, the others go on
                    errors.append((evaluator.name, error_type_of(exc)))
        return scores, errors

    return list(await asyncio.gather(*(one(case, row) for case, row in zip(cases, rows))))


def _result_row(row: dict[str, Any], score: Score, evaluator: str, now: datetime,
                error_type: str | None = None) -> dict[str, Any]:
    return {
        "execution_id": row["id"], "trace_id": row["trace_id"], "span_id": row["span_id"],
        "agent_name": row["agent_name"], "agent_version": row["agent_version"], "execution_time": row["timestamp"],
        "evaluated_at": now, "name": score.name, "score_value": finite_or_none(score.value),
        "score_label": (score.label or None) and score.label[:64],
        "explanation": (score.explanation or None) and score.explanation[:4096], "error_type": error_type,
        "evaluator": evaluator, "source": "online", "project_id": row["project_id"],
    }


class OnlineEvaluation:
    """A running online evaluator (background thread); ``stop()`` (or setting ``stop``) ends it."""

    def __init__(self, evaluator: OnlineEvaluator, stop: threading.Event | None = None) -> None:
        self.evaluator = evaluator
        self._stop = stop or threading.Event()
        self.thread = threading.Thread(target=evaluator.run, args=(self._stop,), name="agentotel-online-eval",
                                       daemon=True)

    def start(self) -> OnlineEvaluation:
        self.thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self.thread.is_alive():
            self.thread.join(timeout)


def start_online_evaluation(engine: Engine, settings: EvaluationSettings | None = None,
                            config: OnlineConfig | None = None, *, stop: threading.Event | None = None,
                            sample_rate: float | None = None) -> OnlineEvaluation:
    """Start online evaluation in a background thread (what ``agentotel up`` runs): the configuration given,
    else the file of ``settings.online_config`` (``AGENTOTEL_ONLINE_EVALUATION``), else every agent at
    ``sample_rate`` (default 10 %) with the heuristics (relevance, coherence, toxicity). It stops when
    ``stop`` is set (the caller's shutdown event) or on the handle's ``stop()``."""
    settings = settings or EvaluationSettings()
    if config is None:
        if settings.online_config:
            config = load_online_config(settings.online_config)
        else:
            config = OnlineConfig(agents=(OnlineAgentConfig(sample_rate=0.1 if sample_rate is None else sample_rate),))
    return OnlineEvaluation(OnlineEvaluator(engine, config, settings), stop).start()


# -- reads ----------------------------------------------------------------------------------------------


def online_samples(engine: Engine, agent_name: str, agent_version: str | None, metrics: Sequence[str],
                   since: datetime | None = None, until: datetime | None = None, limit: int = 100_000,
                   project: str | None = None) -> RunSamples:
    """A version's online scores (of ``project``'s executions) as ``RunSamples`` (one value per scored
    execution), for comparisons."""
    r = EvaluationResultRecord
    query = select(r.execution_id, r.name, r.score_value).where(
        r.agent_name == agent_name, r.name.in_(list(metrics)), r.score_value.is_not(None))
    if agent_version is not None:
        query = query.where(r.agent_version == agent_version)
    if project is not None:
        query = query.where(r.project_id == project)
    if since is not None:
        query = query.where(r.execution_time >= since)
    if until is not None:
        query = query.where(r.execution_time < until)
    data: dict[str, dict[str, float]] = {}
    with engine.connect() as conn:
        for execution_id, name, value in conn.execute(query.order_by(r.execution_time.desc()).limit(limit)):
            if value is not None:
                data.setdefault(name, {})[execution_id] = float(value)
    definitions = {name: default_definition(name) for name in data}
    return RunSamples.from_mapping(data, definitions, run_id=f"online:{agent_name}@{agent_version}",
                                   meta={"agent_name": agent_name, "agent_version": agent_version, "source": "online"})


def online_scores(engine: Engine, agent_name: str | None = None, since: datetime | None = None,
                  limit: int = 50_000) -> list[dict[str, Any]]:
    """Scored online results (newest first): execution, agent, version, time, metric, value, label."""
    r = EvaluationResultRecord
    query = select(r.execution_id, r.trace_id, r.span_id, r.agent_name, r.agent_version, r.execution_time,
                   r.evaluated_at, r.name, r.score_value, r.score_label, r.explanation).where(r.score_value.is_not(None))
    if agent_name is not None:
        query = query.where(r.agent_name == agent_name)
    if since is not None:
        query = query.where(r.execution_time >= since)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query.order_by(r.execution_time.desc()).limit(limit))]


def online_score_series(engine: Engine, agent_name: str | None = None, since: datetime | None = None,
                        bucket: timedelta = timedelta(minutes=5)) -> list[dict[str, Any]]:
    """Online scores per agent version, metric and time bucket: n, mean and median, oldest first (the
    dashboard's chart per agent version)."""
    groups: dict[tuple[Any, ...], list[float]] = {}
    step = bucket.total_seconds()
    for row in online_scores(engine, agent_name, since):
        at = row["execution_time"]
        start = datetime.fromtimestamp(math.floor(at.timestamp() / step) * step, tz=at.tzinfo)
        key = (start, row["agent_name"], row["agent_version"], row["name"])
        groups.setdefault(key, []).append(float(row["score_value"]))
    out = []
    for (start, agent, version, metric), values in sorted(groups.items(), key=lambda kv: (kv[0][0], str(kv[0][1:]))):
        ordered = sorted(values)
        middle = len(ordered) // 2
        median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        out.append({"bucket": start, "agent_name": agent, "agent_version": version, "metric": metric,
                    "n": len(values), "mean": sum(values) / len(values), "median": median})
    return out


@dataclass
class OnlineStatus:
    """Where online evaluation stands: claims by status, scores stored, the watermark."""

    claims: dict[str, int] = field(default_factory=dict)
    scores: int = 0
    watermarks: dict[str, datetime] = field(default_factory=dict)
    last_scored_at: datetime | None = None


def online_status(engine: Engine, project: str | None = None) -> OnlineStatus:
    """Claims, scores and watermarks of ``project`` (None: of every project; a watermark of a project other
    than ``default`` is then named ``<name>@<project>``)."""
    claims_of = true() if project is None else OnlineClaim.project_id == project
    results_of = true() if project is None else RESULTS.c.project_id == project
    states_of = true() if project is None else OnlineState.project_id == project
    with engine.connect() as conn:
        claims = {status: int(n) for status, n in conn.execute(
            select(OnlineClaim.status, func.count()).where(claims_of).group_by(OnlineClaim.status))}
        scores = int(conn.execute(select(func.count()).select_from(RESULTS).where(
            RESULTS.c.score_value.is_not(None), results_of)).scalar_one())
        watermarks = {name if project is not None or owner == DEFAULT_PROJECT else f"{name}@{owner}": at
                      for name, owner, at in conn.execute(
                          select(OnlineState.name, OnlineState.project_id, OnlineState.watermark).where(states_of))}
        last = conn.execute(select(func.max(RESULTS.c.evaluated_at)).where(results_of)).scalar()
    return OnlineStatus(claims, scores, watermarks, last)
