"""Evaluators by name, as suites and the command line ask for them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from agentotel.core.settings import EvaluationSettings
from agentotel.evaluation.base import BaseEvaluator
from agentotel.evaluation.judge import LLMJudgeEvaluator
from agentotel.evaluation.performance import PerformanceEvaluator, PricingTable
from agentotel.evaluation.quality import QUALITY_EVALUATORS

EVALUATOR_NAMES = (*QUALITY_EVALUATORS, "performance", "judge")


class EvaluatorConfigError(ValueError):
    """An evaluator name or parameter that does not exist."""


def build_evaluator(spec: Mapping[str, Any] | str, tracer_provider: Any = None,
                    settings: EvaluationSettings | None = None) -> BaseEvaluator:
    """``{"name": "accuracy", "fuzzy_threshold": 0.9}`` → an evaluator instance.

    ``settings`` (resolved by the caller; without them, the defaults) give the judge its API key and base
    URL and the performance evaluator its pricing file, where the spec does not."""
    settings = settings or EvaluationSettings()
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    name = spec.pop("name", None)
    try:
        if name in QUALITY_EVALUATORS:
            return QUALITY_EVALUATORS[name](**spec)
        if name == "performance":
            pricing_file = spec.pop("pricing_file", None) or settings.pricing_file
            return PerformanceEvaluator(pricing=PricingTable.from_file(pricing_file) if pricing_file else None, **spec)
        if name == "judge":
            spec.setdefault("api_key", settings.openai_api_key or "not-needed")
            spec.setdefault("base_url", settings.judge_base_url)
            if "scale" in spec:
                spec["scale"] = tuple(spec["scale"])
            return LLMJudgeEvaluator(tracer_provider=tracer_provider, **spec)
    except TypeError as exc:
        raise EvaluatorConfigError(f"evaluator {name!r}: bad parameters {sorted(spec)}: {exc}") from None
    except (ValueError, OSError) as exc:
        raise EvaluatorConfigError(f"evaluator {name!r}: {exc}") from None
    raise EvaluatorConfigError(f"unknown evaluator {name!r}; known: {', '.join(EVALUATOR_NAMES)}")


def build_evaluators(specs: Iterable[Mapping[str, Any] | str] | None, tracer_provider: Any = None,
                     settings: EvaluationSettings | None = None) -> list[BaseEvaluator]:
    """Evaluators from specs; every quality heuristic when none are given. Performance is always included."""
    specs = list(specs or [])
    evaluators = ([build_evaluator(s, tracer_provider, settings) for s in specs] if specs
                  else [cls() for cls in QUALITY_EVALUATORS.values()])
    if not any(isinstance(e, PerformanceEvaluator) for e in evaluators):
        evaluators.append(build_evaluator("performance", settings=settings))
    return evaluators
