"""Helpers for registry tests: a registry on the test warehouse, telemetry rows as the receiver writes them."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import func, select, text

from agentotel.registry import (
    DEFAULT_POLICIES,
    AgentMetadata,
    AgentRegistry,
    PromotionGate,
    VersionManager,
    WarehouseEvaluationStore,
    audit_log,
    deployments,
    environment_states,
)
from agentotel.warehouse.models import Agent
from agentotel.warehouse.upsert import insert_on_conflict


def make_registry(engine, gate: PromotionGate | None = None) -> AgentRegistry:
    """A registry with the default gate policies (independent of AGENTOTEL_REGISTRY_GATE)."""
    gate = gate or PromotionGate(WarehouseEvaluationStore(engine), policies=dict(DEFAULT_POLICIES))
    return AgentRegistry(engine, VersionManager(engine, gate))


def register(registry: AgentRegistry, name: str, *versions: str, actor: str = "ana") -> None:
    for version in versions:
        registry.register_agent(AgentMetadata(name, version, model_type="gpt-4o-mini", provider="openai"), actor=actor)


def discover(engine, name: str, version: str, project: str = "default") -> None:
    """The row the receiver writes when it first sees ``gen_ai.agent.name``/version in ``project``
    (processors/writer.py)."""
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        insert_on_conflict(
            conn,
            Agent.__table__,
            [{"name": name, "version": version, "source": "telemetry", "created_at": now, "updated_at": now,
              "last_seen_at": now, "project_id": project}],
            ("project_id", "name", "version"),
        )


def count_rows(engine, table: str, **where) -> int:
    from agentotel.warehouse.models import Base

    t = Base.metadata.tables[table]
    stmt = select(func.count()).select_from(t)
    for key, value in where.items():
        stmt = stmt.where(t.c[key] == value)
    with engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


def scalar(engine, sql: str, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


@dataclass
class BarrierGate(PromotionGate):
    """The real gate, made to wait until every racer has read the environment and passed its gate."""

    barrier: threading.Barrier = field(default_factory=lambda: threading.Barrier(2))

    def evaluate(self, *args, **kwargs):
        decision = super().evaluate(*args, **kwargs)
        self.barrier.wait(timeout=20)
        return decision


def race(engine, gate: PromotionGate, jobs) -> tuple[list, list]:
    """Run ``jobs`` (callables taking a VersionManager) in threads at once; return (results, errors)."""
    results, errors = [], []
    lock = threading.Lock()

    def run(job):
        try:
            out = job(VersionManager(engine, gate))
            with lock:
                results.append(out)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results, errors


def assert_consistent(engine, name: str, environment: str) -> None:
    """The pointer names the newest deployment; its revision counts the deployments; history is whole."""
    [state] = [s for s in environment_states(engine, name) if s.environment == environment]
    history = deployments(engine, name, environment)
    assert state.deployment_id == history[0].id
    assert state.version == history[0].version
    assert state.revision == len(history)
    for newer, older in zip(history, history[1:]):
        assert newer.previous_version == older.version
    ok = [e for e in audit_log(engine, name=name, environment=environment, limit=None) if e.outcome == "ok"]
    assert len(ok) == len(history)


EVAL_CASES = 30


def evaluate(engine, name: str, version: str, quality: float = 1.0) -> str:
    """Run the real evaluation component (BenchmarkSuite, accuracy evaluator) on a callable agent.

    The agent answers ``quality`` of the cases right; latency is reported as a fixed per-case value so
    two runs of equal quality differ in nothing. Returns the stored run's id.
    """
    from opentelemetry.sdk.trace import TracerProvider

    from agentotel.evaluation.agents import CallableAgent
    from agentotel.evaluation.benchmark import BenchmarkSuite
    from agentotel.evaluation.factory import build_evaluators
    from agentotel.evaluation.suite import suite_from_dict

    suite = suite_from_dict({
        "name": "capitals",
        "evaluators": ["accuracy"],
        "cases": [{"id": f"c{i}", "input": f"q{i}", "expected": f"answer {i}"} for i in range(EVAL_CASES)],
    })  # fmt: skip

    def agent(question: str) -> dict:
        i = int(question[1:])
        right = (i % 10) < round(quality * 10)
        return {"output": f"answer {i}" if right else "no idea", "latency_ms": 50.0 + i}

    tracer_provider = TracerProvider()
    run = BenchmarkSuite(
        evaluators=build_evaluators(["accuracy"], tracer_provider),
        engine=engine,
        tracer_provider=tracer_provider,
        show_progress=False,
    ).run(suite, CallableAgent(agent, name=name, version=version))
    assert run.status == "completed"
    return run.run_id
