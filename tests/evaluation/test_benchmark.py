"""BenchmarkSuite with real agents, the real OTel SDK (in-memory exporter) and real databases."""

import asyncio
import io
import threading

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentotel.evaluation import runs
from agentotel.evaluation.agents import CallableAgent
from agentotel.evaluation.base import TestCase
from agentotel.evaluation.benchmark import BenchmarkSuite, TerminalProgressBar
from agentotel.evaluation.factory import build_evaluators
from agentotel.evaluation.quality import AccuracyEvaluator
from agentotel.evaluation.suite import suite_from_cases
from tests.evaluation.sample_agents import async_qa_agent, qa_agent

CASES = [
    TestCase("fr", "What is the capital of France?", expected="Paris", context=("The capital of France is Paris.",),
             required_points=("Paris",), tags=("capitals",)),
    TestCase("jp", "What is the capital of Japan?", expected="Tokyo", context=("Tokyo is the capital of Japan.",),
             required_points=("Tokyo",), tags=("capitals",)),
    TestCase("water", "What is the boiling point of water?", expected="100 degrees Celsius",
             context=("Water boils at 100 degrees Celsius at sea level.",), required_points=("100 degrees",), tags=("science",)),
    TestCase("boom", "Please explode", expected="nothing", tags=("science",)),
    TestCase("planet", "What is the largest planet?", expected="Jupiter", tags=("science",)),
]
SUITE = suite_from_cases("geo-science", CASES)


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def test_run_scores_traces_and_survives_a_failing_case(spans):
    provider, exporter = spans
    events = []
    bench = BenchmarkSuite(build_evaluators([]), concurrency=2, tracer_provider=provider, progress=events.append,
                           show_progress=False)
    run = bench.run(SUITE, CallableAgent(qa_agent, name="qa", version="1.0"))

    assert run.status == "completed" and [c.case_id for c in run.cases] == ["fr", "jp", "water", "boom", "planet"]
    boom = run.cases[3]
    assert boom.error == "tool backend unavailable" and boom.error_type == "RuntimeError"
    assert set(boom.scores) == {"error"} and boom.scores["error"].value == 1.0
    fr = run.cases[0]
    assert fr.scores["accuracy.fuzzy"].value == pytest.approx(0.9) and fr.scores["completeness"].value == 1.0
    assert fr.scores["hallucination"].value == 0.0 and fr.scores["toxicity"].value == 0.0
    assert run.summary["n_errors"] == 1 and run.summary["metrics"]["accuracy.fuzzy"]["n"] == 4
    assert set(run.summary["by_tag"]) == {"capitals", "science"}
    perf = run.performance
    assert perf["errors_by_type"] == {"RuntimeError": 1} and perf["error_rate"] == pytest.approx(0.2)
    assert perf["latency_ms"]["p50"] is not None and perf["throughput_rps"] > 0
    assert perf["resources"]["memory_rss_max_mb"] > 0

    finished = exporter.get_finished_spans()
    assert len(finished) == 5 and {s.name for s in finished} == {"evaluate geo-science"}
    by_case = {s.attributes["agentotel.evaluation.case_id"]: s for s in finished}
    fr_events = [e for e in by_case["fr"].events if e.name == "gen_ai.evaluation.result"]
    assert len(fr_events) == len(fr.scores)
    accuracy = next(e for e in fr_events if e.attributes["gen_ai.evaluation.name"] == "accuracy.exact")
    assert accuracy.attributes["gen_ai.evaluation.score.value"] == 0.0
    assert accuracy.attributes["gen_ai.evaluation.score.label"] == "fail"
    assert "Paris" in accuracy.attributes["gen_ai.evaluation.explanation"]
    assert by_case["boom"].status.status_code.name == "ERROR" and by_case["boom"].attributes["error.type"] == "RuntimeError"
    assert fr.trace_id == format(by_case["fr"].context.trace_id, "032x")

    kinds = [e.kind for e in events]
    assert kinds[0] == "started" and kinds[-1] == "finished" and kinds.count("case_finished") == 5
    assert [e.completed for e in events if e.kind == "case_finished"] == [1, 2, 3, 4, 5]
    assert events[-1].run is run and events[-1].errors == 1


def test_concurrency_limit_and_batches_are_respected(spans):
    provider, _ = spans
    active, peak, lock = 0, 0, threading.Lock()

    async def slow_agent(question: str) -> str:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        await asyncio.sleep(0.02)
        with lock:
            active -= 1
        return qa_agent(question)

    cases = [TestCase(f"c{i}", "What is the capital of France?", expected="Paris") for i in range(12)]
    events = []
    bench = BenchmarkSuite([AccuracyEvaluator()], concurrency=3, batch_size=5, tracer_provider=provider,
                           progress=events.append, show_progress=False)
    run = bench.run(suite_from_cases("many", cases), CallableAgent(slow_agent))
    assert peak == 3 and len(run.cases) == 12
    assert [e.completed for e in events if e.kind == "batch_finished"] == [5, 10, 12]


async def test_stream_yields_progress_and_an_async_agent(spans):
    provider, _ = spans
    bench = BenchmarkSuite(build_evaluators(["accuracy", "performance"]), concurrency=4, tracer_provider=provider,
                           show_progress=False)
    events = [e async for e in bench.stream(SUITE, CallableAgent(async_qa_agent, name="async-qa"))]
    assert events[0].kind == "started" and events[-1].kind == "finished"
    run = events[-1].run
    assert run.cases[0].scores["total_tokens"].value > 0
    # gpt-4o-mini at $0.15 / $0.60 per 1M tokens
    fr = run.cases[0]
    assert fr.scores["cost_usd"].value == pytest.approx((fr.input_tokens * 0.15 + 8 * 0.60) / 1e6)
    assert run.performance["cost_usd_per_request"] > 0


def test_terminal_progress_bar_draws_in_place(spans):
    provider, _ = spans
    out = io.StringIO()
    BenchmarkSuite([AccuracyEvaluator()], tracer_provider=provider, progress=TerminalProgressBar(out, width=10),
                   show_progress=False).run(SUITE, CallableAgent(qa_agent))
    text = out.getvalue()
    assert "\r[----------] 0/5" in text and "\r[##########] 5/5  1 error(s)" in text and text.endswith("\n")


def test_a_broken_evaluator_is_recorded_and_the_run_goes_on(spans):

    class Broken(AccuracyEvaluator):
        name = "broken"

        def score(self, case, response):
            raise ZeroDivisionError("bad metric")

    provider, exporter = spans
    run = BenchmarkSuite([Broken(), AccuracyEvaluator()], tracer_provider=provider, show_progress=False).run(
        SUITE, CallableAgent(qa_agent))
    assert run.status == "completed"
    assert run.cases[0].evaluator_errors == {"broken": "ZeroDivisionError: bad metric"}
    assert "accuracy.exact" in run.cases[0].scores
    span = next(s for s in exporter.get_finished_spans() if s.attributes["agentotel.evaluation.case_id"] == "fr")
    failed = [dict(e.attributes) for e in span.events if "error.type" in e.attributes]
    assert failed == [{"gen_ai.evaluation.name": "broken", "error.type": "ZeroDivisionError"}]


def test_run_is_stored_and_read_back(engine, spans):
    provider, _ = spans
    seen_status = []

    def check_running(event):
        if event.kind == "started":
            seen_status.append(runs.load_run(engine, event.run_id).status)

    bench = BenchmarkSuite(build_evaluators([]), engine=engine, tracer_provider=provider, progress=check_running,
                           show_progress=False, seed=7)
    run = bench.run(SUITE, CallableAgent(qa_agent, name="qa", version="2.1"))
    assert seen_status == ["running"]
    stored = runs.load_run(engine, run.run_id)
    assert stored.status == "completed" and stored.completed_at is not None
    assert (stored.agent_name, stored.agent_version, stored.benchmark_id) == ("qa", "2.1", "geo-science")
    assert stored.meta["suite_hash"] == SUITE.hash and stored.meta["seed"] == 7
    assert [c.case_id for c in stored.cases] == [c.case_id for c in run.cases]
    assert stored.cases[0].scores["accuracy.fuzzy"].value == pytest.approx(0.9)
    assert stored.summary["metrics"]["completeness"]["mean"] == pytest.approx(run.summary["metrics"]["completeness"]["mean"])
    assert stored.metric_definitions["latency_ms"].higher_is_better is False
    assert runs.latest_completed_run(engine, "qa", "2.1") == run.run_id
    assert runs.latest_completed_run(engine, "qa", "9.9") is None


def test_a_crashing_run_is_stored_as_failed(engine, spans):
    provider, _ = spans

    class Abort(BaseException):  # not an Exception: it stops the run instead of failing one case
        pass

    class Exploding:
        name, version = "x", "1"

        async def run(self, case):
            raise Abort("operator abort")

    bench = BenchmarkSuite([AccuracyEvaluator()], engine=engine, tracer_provider=provider, show_progress=False)
    with pytest.raises(Abort):
        bench.run(SUITE, Exploding(), run_id="crash-1")
    stored = runs.load_run(engine, "crash-1")
    assert stored.status == "failed" and stored.error_message.endswith("Abort: operator abort")
    assert runs.latest_completed_run(engine, "x", "1") is None


def test_pricing_uses_the_project_table_a_user_file_or_an_explicit_table(tmp_path):
    from agentotel.evaluation.performance import PricingTable

    shipped = PricingTable()
    assert shipped.cost("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000) == pytest.approx(0.15 + 0.60)
    assert shipped.cost("unknown-model", 10, 10) is None and shipped.cost("gpt-4o-mini", None, None) is None
    custom = tmp_path / "prices.json"
    custom.write_text('{"models": {"house-model": {"input": 1.0, "output": 2.0}}}')
    assert PricingTable.from_file(custom).cost("house-model", 500_000, 250_000) == pytest.approx(1.0)
    explicit = PricingTable({"acme": (10.0, 20.0)})
    assert explicit.cost("acme-large", 100_000, 0) == pytest.approx(1.0) and explicit.cost("gpt-4o", 1, 1) is None
