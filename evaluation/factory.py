"""Evaluators by name, as suites and the command line ask for them."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from agentotel.evaluation.base import BaseEvaluator
from agentotel.evaluation.judge import LLMJudgeEvaluator
from agentotel.evaluation.performance import PerformanceEvaluator, PricingTable
from agentotel.evaluation.quality import QUALITY_EVALUATORS

EVALUATOR_NAMES = (*QUALITY_EVALUATORS, "performance", "judge")


class EvaluatorConfigError(ValueError):
    """An evaluator name or parameter that does not exist."""


def build_evaluator(spec: Mapping[str, Any] | str, tracer_provider: Any = None) -> BaseEvaluator:
    """``{"name": "accuracy", "fuzzy_threshold": 0.9}`` → an evaluator instance."""
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = spec.pop("name", None)
    try:
        if name in QUALITY_EVALUATORS:
            return QUALITY_EVALUATORS[name](**spec)
        if name == "performance":
            pricing_file = spec.pop("pricing_file", None)
            return PerformanceEvaluator(pricing=PricingTable.from_file(pricing_file) if pricing_file else None, **spec)
        if name == "judge":
            spec.setdefault("api_key", os.environ.get("OPENAI_API_KEY") or "not-needed")
            spec.setdefault("base_url", os.environ.get("AGENTOTEL_JUDGE_BASE_URL") or os.environ.get("OPENAI_BASE_URL"))
            if "scale" in spec:
                spec["scale"] = tuple(spec["scale"])
            return LLMJudgeEvaluator(tracer_provider=tracer_provider, **spec)
    except TypeError as exc:
        raise EvaluatorConfigError(f"evaluator {name!r}: bad parameters {sorted(spec)}: {exc}") from None
    except (ValueError, OSError) as exc:
        raise EvaluatorConfigError(f"evaluator {name!r}: {exc}") from None
    raise EvaluatorConfigError(f"unknown evaluator {name!r}; known: {', '.join(EVALUATOR_NAMES)}")


def build_evaluators(specs: Iterable[Mapping[str, Any] | str] | None, tracer_provider: Any = None) -> list[BaseEvaluator]:
    """Evaluators from specs; every quality heuristic when none are given. Performance is always included."""
    specs = list(specs or [])
    evaluators = [build_evaluator(s, tracer_provider) for s in specs] if specs else [cls() for cls in QUALITY_EVALUATORS.values()]
    if not any(isinstance(e, PerformanceEvaluator) for e in evaluators):
        evaluators.append(PerformanceEvaluator())
    return evaluators
