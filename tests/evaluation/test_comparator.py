import json

from agentotel.evaluation.agents import CallableAgent
from agentotel.evaluation.base import CaseResult, Score, TestCase
from agentotel.evaluation.benchmark import BenchmarkRun, BenchmarkSuite
from agentotel.evaluation.comparator import AgentComparator
from agentotel.evaluation.factory import build_evaluators
from agentotel.evaluation.suite import suite_from_cases
from tests.evaluation.sample_agents import qa_agent, wrong_agent

CASES = [
    TestCase(f"cap-{i}", f"What is the capital of {'France' if i % 2 else 'Japan'}? #{i}",
             expected="Paris" if i % 2 else "Tokyo", tags=("capitals",)) for i in range(12)
] + [
    TestCase(f"sci-{i}", "Which is the largest planet?", expected="Jupiter", tags=("science",)) for i in range(8)
]
SUITE = suite_from_cases("mixed", CASES)


def runs():
    evaluators = build_evaluators(["accuracy", "factuality", "performance"])
    a = BenchmarkSuite(evaluators, show_progress=False).run(SUITE, CallableAgent(qa_agent, name="bot", version="1"))
    b = BenchmarkSuite(evaluators, show_progress=False).run(SUITE, CallableAgent(wrong_agent, name="bot", version="2"))
    return a, b


def test_compare_agents_and_report():
    a, b = runs()
    comparator = AgentComparator()
    result = comparator.compare_agents(a, b, metrics=["accuracy.fuzzy", "accuracy.exact"])
    assert result.winners == {"accuracy.fuzzy": "a", "accuracy.exact": "tie"}
    markdown = comparator.generate_comparison_report()
    assert markdown.startswith("# Agent comparison: bot@1 (A) vs bot@2 (B)")
    assert "B is significantly better on 0 metric(s), worse on 1, tied on 1." in markdown
    assert "| accuracy.fuzzy |" in markdown and "| bot@1 |" in markdown
    assert json.loads(comparator.generate_comparison_report(format="json"))["winners"]["accuracy.fuzzy"] == "a"


def test_strong_and_weak_areas_by_tag():
    a, b = runs()
    areas = AgentComparator().identify_strong_weak_areas(b)
    weak = {(x.tag, x.metric) for x in areas["weak"]}
    strong = {(x.tag, x.metric) for x in areas["strong"]}
    assert ("capitals", "accuracy.fuzzy") in weak and ("science", "accuracy.fuzzy") in strong
    against = AgentComparator().identify_strong_weak_areas(b, against=a)
    assert ("capitals", "accuracy.fuzzy") in {(x.tag, x.metric) for x in against["weak"]}
    assert not any(x.tag == "science" for x in against["weak"] + against["strong"])


def _run(perf, scores):
    cases = [CaseResult(f"c{i}", tags=("t",), scores={k: Score(k, v) for k, v in scores.items()}) for i in range(3)]
    return BenchmarkRun("r", "s", "bot", "1", None, status="completed", cases=cases, performance=perf)


def test_recommendations_follow_the_metric_profile():
    comparator = AgentComparator()
    tool_bound = comparator.recommend_improvements(
        _run({"latency_ms": {"p50": 5000, "p95": 9000, "p99": 9500}, "tokens_per_request": 120}, {}))
    assert tool_bound[0].area == "latency" and "tool calls" in tool_bound[0].action

    token_bound = comparator.recommend_improvements(
        _run({"latency_ms": {"p50": 6000, "p95": 9000, "p99": 9500}, "tokens_per_request": 6000}, {}))
    assert "shorten prompts" in token_bound[0].action

    messy = comparator.recommend_improvements(_run(
        {"error_rate": 0.2, "errors_by_type": {"TimeoutError": 3, "ValueError": 1},
         "latency_ms": {"p50": 100, "p95": 900, "p99": 1200}, "cost_usd_per_request": 0.05},
        {"hallucination": 0.4, "completeness": 0.5, "coherence": 0.9}))
    areas = [r.area for r in messy]
    assert areas[:2] == ["reliability", "hallucination"] and "TimeoutError" in messy[0].observation
    assert "completeness" in areas and "coherence" not in areas
    assert any(r.area == "latency" and "long tail" in r.observation for r in messy)
    assert comparator.recommend_improvements(_run({}, {"coherence": 0.95})) == []
    budget = comparator.recommend_improvements(_run({"cost_usd_per_request": 0.05}, {}), cost_budget_usd=0.01)
    assert [r.area for r in budget] == ["cost"]
