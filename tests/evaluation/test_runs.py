"""Runs stored in evaluation_runs (agentotel.evaluation.runs) and compared: the registry's promotion gate uses compare_runs."""

from datetime import datetime, timedelta, timezone

import pytest

from agentotel.evaluation import runs
from agentotel.evaluation.agents import CallableAgent
from agentotel.evaluation.base import TestCase
from agentotel.evaluation.benchmark import BenchmarkSuite
from agentotel.evaluation.factory import build_evaluators
from agentotel.evaluation.suite import suite_from_cases
from tests.evaluation.sample_agents import qa_agent, wrong_agent

CASES = [
    TestCase(f"{country}-{i}", f"What is the capital of {country}? (variant {i})", expected=capital,
             context=(f"The capital of {country} is {capital}.",), tags=("capitals", country.lower()))
    for i in range(10)
    for country, capital in (("France", "Paris"), ("Japan", "Tokyo"))
] + [TestCase(f"water-{i}", f"What is the boiling point of water? ({i})", expected="100 degrees Celsius",
              tags=("science",)) for i in range(6)]
SUITE = suite_from_cases("capitals", CASES)


def run_agent(engine, fn, version, run_id):
    bench = BenchmarkSuite(build_evaluators(["accuracy", "factuality", "performance"]), engine=engine,
                           show_progress=False)
    return bench.run(SUITE, CallableAgent(fn, name="geo-bot", version=version), run_id=run_id)


@pytest.mark.slow
def test_compare_runs_finds_the_regression_of_a_worse_version(engine):
    run_agent(engine, qa_agent, "1.0", "run-v1")
    run_agent(engine, wrong_agent, "2.0", "run-v2")

    report = runs.compare_runs(engine, "run-v2", "run-v1")
    assert report.has_regression
    by_metric = {c.metric: c for c in report.regressions}
    assert {"accuracy.fuzzy", "hallucination", "factuality"} <= set(by_metric)
    accuracy = by_metric["accuracy.fuzzy"]
    assert accuracy.paired and accuracy.test == "wilcoxon"
    assert accuracy.p_value < 0.05 and accuracy.p_value >= accuracy.p_value_raw
    assert accuracy.effect_size < -1 and accuracy.pct_change < -50
    assert report.current_meta["agent_version"] == "2.0" and report.baseline_run_id == "run-v1"

    same = runs.compare_runs(engine, "run-v1", "run-v1")
    assert not same.has_regression and not same.improvements
    back = runs.compare_runs(engine, "run-v1", "run-v2")
    # (latency of an in-process function on a busy machine may move either way: not asserted)
    assert not {c.metric for c in back.regressions} - {"latency_ms"}
    assert "accuracy.fuzzy" in {c.metric for c in back.improvements}
    assert "different suites" not in report.to_markdown()

    other_suite = suite_from_cases("capitals", CASES[:12])
    BenchmarkSuite(build_evaluators(["accuracy"]), engine=engine, show_progress=False).run(
        other_suite, CallableAgent(qa_agent, name="geo-bot", version="3.0"), run_id="run-v3")
    mixed = runs.compare_runs(engine, "run-v3", "run-v1")
    assert "Note: the runs used different suites" in mixed.to_markdown()
    assert {c.n_current for c in mixed.comparisons if c.metric == "accuracy.fuzzy"} == {12}


def test_latest_completed_run_history_and_errors(engine):
    earlier_version = run_agent(engine, qa_agent, "0.9", "a-0")
    first = run_agent(engine, qa_agent, "1.0", "a-1")
    second = run_agent(engine, qa_agent, "1.0", "a-2")
    assert first.started_at < second.started_at
    assert runs.latest_completed_run(engine, "geo-bot", "1.0") == "a-2"
    assert runs.latest_completed_run(engine, "geo-bot", None) == "a-2"
    assert runs.latest_completed_run(engine, "other-bot", "1.0") is None
    runs.start_run(engine, "a-3", "capitals", "geo-bot", "1.0", {}, datetime.now(timezone.utc) + timedelta(seconds=1))
    assert runs.latest_completed_run(engine, "geo-bot", "1.0") == "a-2"  # still running: not a baseline
    runs.finish_run(engine, "a-3", "failed", error_message="agent crashed")
    assert runs.latest_completed_run(engine, "geo-bot", "1.0") == "a-2"
    # history: earlier runs of the suite by other versions (re-running 1.0 never becomes its own yardstick)
    assert [r.id for r in runs.run_history(engine, runs.load_run(engine, "a-2"))] == [earlier_version.run_id]
    assert [r.id for r in runs.list_runs(engine, agent_name="geo-bot")] == ["a-3", "a-2", "a-1", "a-0"]

    with pytest.raises(runs.RunNotFoundError, match="no evaluation run 'nope'"):
        runs.compare_runs(engine, "nope", "a-1")
    with pytest.raises(runs.RunNotComparableError, match="'a-3' \\(failed\\) has no case results"):
        runs.compare_runs(engine, "a-3", "a-1")
    with pytest.raises(runs.RunNotFoundError):
        runs.finish_run(engine, "nope", "completed")


def test_nan_scores_are_stored_as_null(engine):
    from agentotel.evaluation.base import CaseResult, MetricDefinition, Score
    from agentotel.evaluation.benchmark import BenchmarkRun

    run = BenchmarkRun("nan-run", "s", "bot", "1", datetime.now(timezone.utc), status="completed",
                       cases=[CaseResult("c", scores={"m": Score("m", float("nan"))}, latency_ms=float("inf"))],
                       metrics={"m": MetricDefinition("m")}, summary={"x": float("nan")})
    runs.save_run(engine, run)
    stored = runs.load_run(engine, "nan-run")
    assert stored.cases[0].scores["m"].value is None and stored.cases[0].latency_ms is None
    assert stored.summary == {"x": None}
