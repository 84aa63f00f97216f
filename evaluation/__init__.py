"""Evaluation pipeline: test suites, evaluators, benchmark runs, statistics, regression detection, comparison.

Typical use::

    from agentotel.evaluation import BenchmarkSuite, CallableAgent, RegressionDetector, load_suite

    suite = load_suite("suites/faq.yaml")
    run = BenchmarkSuite(engine=engine, concurrency=8).run(suite, CallableAgent(my_agent, "faq-bot", "2.0"))
    report = RegressionDetector().detect_regressions(run, baseline_run)

The names below are imported lazily, so ``import agentotel.evaluation`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "TestCase": "base",
    "AgentResponse": "base",
    "BaseEvaluator": "base",
    "EvaluationResult": "base",
    "MetricDefinition": "base",
    "Score": "base",
    "TestSuite": "suite",
    "SuiteError": "suite",
    "load_suite": "suite",
    "CallableAgent": "agents",
    "OpenAIEndpointAgent": "agents",
    "RecordedAgent": "agents",
    "load_callable": "agents",
    "AccuracyEvaluator": "quality",
    "RelevanceEvaluator": "quality",
    "CompletenessEvaluator": "quality",
    "FactualityEvaluator": "quality",
    "ToxicityEvaluator": "quality",
    "CoherenceEvaluator": "quality",
    "LLMJudgeEvaluator": "judge",
    "PerformanceEvaluator": "performance",
    "BenchmarkSuite": "benchmark",
    "BenchmarkRun": "benchmark",
    "ResultAggregator": "aggregate",
    "RegressionDetector": "regression",
    "RegressionReport": "regression",
    "AgentComparator": "comparator",
    "compare_runs": "runs",
    "latest_completed_run": "runs",
    "completed_runs": "runs",
    "Practical": "regression",
    "power_guidance": "power",
    "OnlineConfig": "online",
    "OnlineAgentConfig": "online",
    "OnlineEvaluator": "online",
    "start_online_evaluation": "online",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'agentotel.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agentotel.evaluation.{module}"), name)
