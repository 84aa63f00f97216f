"""BenchmarkSuite: runs an agent over a suite with several evaluators, in parallel, traced and stored.

Cases run in batches, at most ``concurrency`` at a time. A failing case (the agent raising, an evaluator
raising) is recorded and the run goes on. Each case is a span ``evaluate {suite}``; every score is a
``gen_ai.evaluation.result`` event on it. With an engine the run is stored in ``evaluation_runs``
(running → completed, or failed with the error). Progress goes to callbacks, to an async iterator
(``stream``) and, on a terminal, to a progress bar.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from agentotel.core import semconv as sc
from agentotel.core.version import __version__
from agentotel.evaluation.agents import error_type_of
from agentotel.evaluation.aggregate import ResultAggregator
from agentotel.evaluation.base import (
    Agent,
    AgentResponse,
    BaseEvaluator,
    CaseResult,
    MetricDefinition,
    TestCase,
    case_result_from_response,
)
from agentotel.evaluation.factory import build_evaluators
from agentotel.evaluation.performance import PerformanceEvaluator, ResourceSampler
from agentotel.evaluation.regression import RunSamples
from agentotel.evaluation.runs import finish_run, start_run
from agentotel.evaluation.suite import TestSuite
from agentotel.evaluation.telemetry import emit_evaluation_error, emit_evaluation_result, get_tracer


@dataclass
class ProgressEvent:
    """``started`` | ``case_finished`` | ``batch_finished`` | ``finished``; ``run`` is set on ``finished``."""

    kind: str
    run_id: str
    completed: int
    total: int
    errors: int
    elapsed: float
    case: CaseResult | None = None
    run: BenchmarkRun | None = None


@dataclass
class BenchmarkRun:
    """The outcome of one suite run."""

    run_id: str
    benchmark_id: str
    agent_name: str
    agent_version: str
    started_at: datetime
    status: str = "running"
    cases: list[CaseResult] = field(default_factory=list)
    metrics: dict[str, MetricDefinition] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    performance: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    completed_at: datetime | None = None
    error_message: str | None = None

    def results_payload(self) -> dict[str, Any]:
        return {
            "suite": self.benchmark_id,
            "cases": [c.to_dict() for c in self.cases],
            "metrics": {name: d.to_dict() for name, d in self.metrics.items()},
            "performance": self.performance,
        }

    def to_samples(self) -> RunSamples:
        meta = {"agent_name": self.agent_name, "agent_version": self.agent_version, "benchmark_id": self.benchmark_id,
                "suite_hash": self.meta.get("suite_hash")}
        return RunSamples.from_cases(self.cases, self.metrics, run_id=self.run_id, meta=meta)

    @property
    def errors(self) -> int:
        return sum(1 for c in self.cases if c.error is not None)


class TerminalProgressBar:
    """``[#####-----] 12/40  1 error(s)  3.2s`` redrawn in place."""

    def __init__(self, stream: TextIO | None = None, width: int = 30):
        self.stream = stream or sys.stdout
        self.width = width

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == "batch_finished":
            return
        filled = int(self.width * event.completed / event.total) if event.total else self.width
        line = (
            f"\r[{'#' * filled}{'-' * (self.width - filled)}] {event.completed}/{event.total}"
            f"  {event.errors} error(s)  {event.elapsed:.1f}s"
        )
        self.stream.write(line + ("\n" if event.kind == "finished" else ""))
        self.stream.flush()


ProgressCallback = Callable[[ProgressEvent], None]


class BenchmarkSuite:
    """Runs ``agent`` over a ``TestSuite`` with ``evaluators`` (default: the suite's, else all heuristics)."""

    def __init__(
        self,
        evaluators: Sequence[BaseEvaluator] | None = None,
        concurrency: int = 4,
        batch_size: int | None = None,
        engine: Any = None,
        tracer_provider: Any = None,
        progress: ProgressCallback | Sequence[ProgressCallback] | None = None,
        show_progress: bool | None = None,
        seed: int = 0,
        aggregator: ResultAggregator | None = None,
        project: str | None = None,
    ):
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.evaluators = list(evaluators) if evaluators is not None else None
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.engine = engine
        self.project = project  # the project the stored run belongs to (None: default)
        self.tracer_provider = tracer_provider
        self.tracer = get_tracer(tracer_provider)
        self.callbacks: list[ProgressCallback] = [progress] if callable(progress) else list(progress or [])
        if show_progress is None:
            show_progress = sys.stdout.isatty()
        if show_progress:
            self.callbacks.append(TerminalProgressBar())
        self.seed = seed
        self.aggregator = aggregator or ResultAggregator(seed=seed)

    def run(self, suite: TestSuite, agent: Agent, run_id: str | None = None) -> BenchmarkRun:
        """Synchronous ``arun`` on its own event loop, whose worker threads (for sync agents) number at
        least ``concurrency``, so every case in flight has a thread."""

        async def main() -> BenchmarkRun:
            workers = ThreadPoolExecutor(max_workers=max(self.concurrency, 4), thread_name_prefix="agentotel-eval")
            asyncio.get_running_loop().set_default_executor(workers)
            return await self.arun(suite, agent, run_id)

        return asyncio.run(main())

    async def stream(self, suite: TestSuite, agent: Agent, run_id: str | None = None) -> AsyncIterator[ProgressEvent]:
        """Progress events as the run goes; the last one (``finished``) carries the run."""
        queue: asyncio.Queue[ProgressEvent | BaseException | None] = asyncio.Queue()

        async def runner() -> None:
            try:
                await self.arun(suite, agent, run_id, _listener=queue.put_nowait)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                queue.put_nowait(exc)
            finally:
                queue.put_nowait(None)

        task = asyncio.create_task(runner())
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def arun(
        self, suite: TestSuite, agent: Agent, run_id: str | None = None, _listener: ProgressCallback | None = None
    ) -> BenchmarkRun:
        """Run every case, score it, store the run; returns the ``BenchmarkRun``."""
        evaluators = self.evaluators if self.evaluators is not None else build_evaluators(suite.evaluators, self.tracer_provider)
        performance = next((e for e in evaluators if isinstance(e, PerformanceEvaluator)), None)
        if performance is None:
            performance = PerformanceEvaluator()
            evaluators = [*evaluators, performance]
        random.seed(self.seed)
        run = BenchmarkRun(
            run_id=run_id or uuid.uuid4().hex,
            benchmark_id=suite.name,
            agent_name=getattr(agent, "name", "") or "agent",
            agent_version=getattr(agent, "version", "") or "",
            started_at=datetime.now(timezone.utc),
            metrics={name: d for e in evaluators for name, d in e.get_metrics().items()},
            meta={
                "agent_name": getattr(agent, "name", None),
                "agent_version": getattr(agent, "version", None),
                "suite_name": suite.name,
                "suite_hash": suite.hash,
                "suite_source": suite.source,
                "seed": self.seed,
                "concurrency": self.concurrency,
                "batch_size": self.batch_size,
                "evaluators": [e.name for e in evaluators],
                "agentotel_version": __version__,
            },
        )
        if self.engine is not None:
            start_run(self.engine, run.run_id, run.benchmark_id, run.agent_name, run.agent_version, run.meta, run.started_at,
                      self.project)
        callbacks = [*self.callbacks, *([_listener] if _listener else [])]
        start = time.perf_counter()
        total = len(suite.cases)

        def notify(kind: str, case: CaseResult | None = None, final: BenchmarkRun | None = None) -> None:
            event = ProgressEvent(kind, run.run_id, len(run.cases), total, run.errors, time.perf_counter() - start, case, final)
            for callback in callbacks:
                try:
                    callback(event)
                except Exception:  # noqa: BLE001 - a broken progress consumer must not stop the run
                    pass

        try:
            for evaluator in evaluators:
                evaluator.prepare(suite.cases)
            semaphore = asyncio.Semaphore(self.concurrency)
            notify("started")
            with ResourceSampler() as resources:
                batch_size = self.batch_size or max(1, total)
                for offset in range(0, total, batch_size):
                    batch = suite.cases[offset : offset + batch_size]

                    async def one(case: TestCase) -> None:
                        async with semaphore:
                            result = await self._run_case(suite, agent, case, evaluators, run.run_id)
                        run.cases.append(result)
                        notify("case_finished", result)

                    await asyncio.gather(*(one(case) for case in batch))
                    notify("batch_finished")
            order = {case.id: i for i, case in enumerate(suite.cases)}
            run.cases.sort(key=lambda c: order.get(c.case_id, 0))
            wall = time.perf_counter() - start
            run.performance = performance.summarize(run.cases, wall, resources.summary())
            run.summary = self._summary(run)
            run.status = "completed"
        except BaseException as exc:
            run.status = "failed"
            run.error_message = f"{error_type_of(exc)}: {exc}"
            if self.engine is not None:
                finish_run(self.engine, run.run_id, "failed", run.results_payload(), None, run.error_message,
                           self.project)
            raise
        run.completed_at = datetime.now(timezone.utc)
        if self.engine is not None:
            finish_run(self.engine, run.run_id, "completed", run.results_payload(), run.summary, project=self.project)
        notify("finished", final=run)
        return run

    async def _run_case(
        self, suite: TestSuite, agent: Agent, case: TestCase, evaluators: Sequence[BaseEvaluator], run_id: str
    ) -> CaseResult:
        attributes = {
            sc.AGENT_NAME: getattr(agent, "name", "") or "",
            sc.AGENT_VERSION: getattr(agent, "version", "") or "",
            "agentotel.evaluation.suite": suite.name,
            "agentotel.evaluation.case_id": case.id,
            "agentotel.evaluation.run_id": run_id,
        }
        parent = _evaluated_span_context(agent, case)
        with self.tracer.start_as_current_span(f"evaluate {suite.name}", context=parent, attributes=attributes) as span:
            try:
                response = await agent.run(case)
            except Exception as exc:  # noqa: BLE001 - an agent that raises is one failed case
                response = AgentResponse(error=str(exc) or error_type_of(exc), error_type=error_type_of(exc))
            result = case_result_from_response(case, response)
            context = span.get_span_context()
            if context.is_valid:
                result.trace_id = format(context.trace_id, "032x")
                result.span_id = format(context.span_id, "016x")
            if not response.ok:
                span.set_attribute("error.type", response.error_type or "_OTHER")
                span.set_status(Status(StatusCode.ERROR, response.error or ""))
            for evaluator in evaluators:
                if not (response.ok or isinstance(evaluator, PerformanceEvaluator)) or not evaluator.applies_to(case):
                    continue
                try:
                    scores = await evaluator.ascore(case, response)
                except Exception as exc:  # noqa: BLE001 - recorded, the other evaluators go on
                    result.evaluator_errors[evaluator.name] = f"{error_type_of(exc)}: {exc}"
                    emit_evaluation_error(span, evaluator.name, error_type_of(exc))
                    continue
                for score in scores:
                    result.scores[score.name] = score
                    emit_evaluation_result(span, score)
            if result.cost_usd is None and "cost_usd" in result.scores:  # priced from the pricing table
                result.cost_usd = result.scores["cost_usd"].value
        return result

    def _summary(self, run: BenchmarkRun) -> dict[str, Any]:
        return {
            "n_cases": len(run.cases),
            "n_errors": run.errors,
            "metrics": {name: s.to_dict() for name, s in self.aggregator.aggregate(run.cases).items()},
            "by_tag": {
                tag: {name: s.to_dict() for name, s in metrics.items()}
                for tag, metrics in self.aggregator.by_tag(run.cases).items()
            },
            "performance": run.performance,
        }


def _evaluated_span_context(agent: Agent, case: TestCase) -> Any:
    """For recorded executions, a context whose parent is the recorded span, so the evaluation (and its
    ``gen_ai.evaluation.result`` events) lands in the production trace it judges; else None (current context)."""
    locate = getattr(agent, "evaluated_span", None)
    ids = locate(case) if locate is not None else None
    if not ids:
        return None
    try:
        span_context = SpanContext(int(ids[0], 16), int(ids[1], 16), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    except (TypeError, ValueError):
        return None
    return trace.set_span_in_context(NonRecordingSpan(span_context)) if span_context.is_valid else None
