"""AgentComparator: two agents' runs side by side, strong and weak areas by tag, rule-based advice."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentotel.evaluation.base import CaseResult, MetricDefinition, finite_or_none, json_safe
from agentotel.evaluation.regression import (
    MetricComparison,
    RegressionDetector,
    RegressionReport,
    default_definition,
)

QUALITY_KINDS = ("score", "binary")


@dataclass
class Area:
    tag: str
    metric: str
    value: float
    reference: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return json_safe(self.__dict__.copy())


@dataclass
class Recommendation:
    area: str
    observation: str
    action: str
    priority: str = "medium"  # high | medium | low

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass
class ComparisonResult:
    """Per-metric comparison of agent B against agent A; ``winner`` is ``a``, ``b`` or ``tie``."""

    name_a: str
    name_b: str
    report: RegressionReport
    winners: dict[str, str] = field(default_factory=dict)

    @property
    def comparisons(self) -> list[MetricComparison]:
        return self.report.comparisons

    def to_dict(self) -> dict[str, Any]:
        return json_safe({
            "agent_a": self.name_a,
            "agent_b": self.name_b,
            "winners": self.winners,
            "metrics": [c.to_dict() for c in self.report.comparisons],
        })


def _cases(run: Any) -> list[CaseResult]:
    return list(getattr(run, "cases", []) or [])


def _definitions(run: Any) -> dict[str, MetricDefinition]:
    return dict(getattr(run, "metrics", None) or getattr(run, "metric_definitions", None) or {})


def _performance(run: Any) -> dict[str, Any]:
    perf = getattr(run, "performance", None)
    if isinstance(perf, dict) and perf:
        return perf
    results = getattr(run, "results", None) or {}
    return results.get("performance") or {}


def _label(run: Any, default: str) -> str:
    name = getattr(run, "agent_name", None) or default
    version = getattr(run, "agent_version", None)
    return f"{name}@{version}" if version else name


def _means(cases: Sequence[CaseResult]) -> dict[str, tuple[float, int]]:
    sums: dict[str, list[float]] = defaultdict(list)
    for case in cases:
        for name, score in case.scores.items():
            value = finite_or_none(score.value)
            if value is not None:
                sums[name].append(value)
    return {name: (sum(v) / len(v), len(v)) for name, v in sums.items()}


class AgentComparator:
    """Compares agents through their evaluation runs (``BenchmarkRun`` or stored runs)."""

    def __init__(self, detector: RegressionDetector | None = None, margin: float = 0.1, min_cases: int = 2):
        self.detector = detector or RegressionDetector()
        self.margin = margin
        self.min_cases = min_cases
        self.last: ComparisonResult | None = None

    def compare_agents(self, agent_a: Any, agent_b: Any, metrics: Sequence[str] | None = None) -> ComparisonResult:
        """Compare B with A on ``metrics`` (all shared ones by default), with the detector's statistics."""
        report = self.detector.detect_regressions(agent_b, agent_a, metrics=metrics)
        winners = {}
        for c in report.comparisons:
            if c.is_improvement:
                winners[c.metric] = "b"
            elif c.is_regression:
                winners[c.metric] = "a"
            else:
                winners[c.metric] = "tie"
        self.last = ComparisonResult(_label(agent_a, "A"), _label(agent_b, "B"), report, winners)
        return self.last

    def generate_comparison_report(self, result: ComparisonResult | None = None, format: str = "markdown") -> str:
        result = result or self.last
        if result is None:
            raise ValueError("no comparison yet: call compare_agents() first")
        if format == "json":
            return json.dumps(result.to_dict(), indent=2)
        if format != "markdown":
            raise ValueError(f"unknown report format {format!r}: use 'markdown' or 'json'")
        a, b = result.name_a, result.name_b
        wins_b = sum(w == "b" for w in result.winners.values())
        wins_a = sum(w == "a" for w in result.winners.values())
        lines = [
            f"# Agent comparison: {a} (A) vs {b} (B)",
            "",
            f"B is significantly better on {wins_b} metric(s), worse on {wins_a}, "
            f"tied on {len(result.winners) - wins_a - wins_b}.",
            "",
            "| metric | A | B | change | p (adj.) | Cliff's δ | better |",
            "|---|---:|---:|---:|---:|---:|---|",
        ]
        for c in result.comparisons:
            change = f"{c.pct_change:+.1f}%" if c.pct_change is not None else "—"
            winner = {"a": a, "b": b}.get(result.winners.get(c.metric, "tie"), "tie")
            lines.append(
                f"| {c.metric} | {_fmt(c.mean_baseline)} | {_fmt(c.mean_current)} | {change} | {_fmt(c.p_value)} "
                f"| {_fmt(c.cliffs_delta)} | {winner} |"
            )
        return "\n".join(lines) + "\n"

    def identify_strong_weak_areas(
        self, run: Any, against: Any = None, metrics: Sequence[str] | None = None
    ) -> dict[str, list[Area]]:
        """Tags where a quality metric is at least ``margin`` better (strong) or worse (weak) than the
        reference: the run's overall mean, or the same tag in ``against`` when given."""
        cases = _cases(run)
        definitions = _definitions(run)
        overall = _means(cases)
        by_tag: dict[str, list[CaseResult]] = defaultdict(list)
        for case in cases:
            for tag in case.tags:
                by_tag[tag].append(case)
        other_by_tag: dict[str, dict[str, tuple[float, int]]] = {}
        if against is not None:
            groups: dict[str, list[CaseResult]] = defaultdict(list)
            for case in _cases(against):
                for tag in case.tags:
                    groups[tag].append(case)
            other_by_tag = {tag: _means(group) for tag, group in groups.items()}
        strong, weak = [], []
        for tag, group in sorted(by_tag.items()):
            for metric, (value, n) in sorted(_means(group).items()):
                definition = definitions.get(metric) or default_definition(metric)
                if definition.kind not in QUALITY_KINDS or (metrics and metric not in metrics) or n < self.min_cases:
                    continue
                reference = (other_by_tag.get(tag, {}).get(metric) if against is not None else overall.get(metric))
                if reference is None:
                    continue
                delta = (value - reference[0]) * (1 if definition.higher_is_better else -1)
                if delta >= self.margin:
                    strong.append(Area(tag, metric, value, reference[0], n))
                elif delta <= -self.margin:
                    weak.append(Area(tag, metric, value, reference[0], n))
        strong.sort(key=lambda a: -abs(a.value - a.reference))
        weak.sort(key=lambda a: -abs(a.value - a.reference))
        return {"strong": strong, "weak": weak}

    def recommend_improvements(
        self, run: Any, latency_slo_ms: float = 5000.0, cost_budget_usd: float | None = None
    ) -> list[Recommendation]:
        """Rule-based advice from the run's metric profile, most important first."""
        means = {m: v for m, (v, _) in _means(_cases(run)).items()}
        perf = _performance(run)
        latency = perf.get("latency_ms") or {}
        p50, p95, p99 = latency.get("p50"), latency.get("p95"), latency.get("p99")
        tokens = perf.get("tokens_per_request")
        out: list[Recommendation] = []
        error_rate = perf.get("error_rate") or means.get("error") or 0.0
        if error_rate > 0.05:
            errors = perf.get("errors_by_type") or {}
            top = max(errors, key=lambda kind: errors[kind]) if errors else "unknown"
            out.append(Recommendation("reliability", f"error rate {error_rate:.0%}, mostly {top}",
                                      f"handle {top}: retries with backoff, timeouts and input validation", "high"))
        if p95 is not None and p95 > latency_slo_ms:
            if tokens is not None and tokens < 500:
                out.append(Recommendation("latency", f"p95 latency {p95:.0f} ms with only {tokens:.0f} tokens per request",
                                          "time is spent outside the model: profile tool calls and external APIs, "
                                          "cache or parallelize them", "high"))
            else:
                out.append(Recommendation("latency", f"p95 latency {p95:.0f} ms" + (f" with {tokens:.0f} tokens per request" if tokens else ""),
                                          "shorten prompts, cap max_tokens, stream responses or use a faster model", "high"))
        if p50 and p99 and p99 > 3 * p50:
            out.append(Recommendation("latency", f"long tail: p99 {p99:.0f} ms is {p99 / p50:.1f}× p50",
                                      "add per-call timeouts and look at the slowest cases' traces", "medium"))
        rules = [
            ("hallucination", lambda v: v > 0.2, "high", "{v:.0%} of claims unsupported by the reference",
             "ground answers in retrieved context, instruct the agent to answer only from it and cite sources"),
            ("toxicity", lambda v: v > 0.05, "high", "mean toxicity {v:.2f}",
             "add a moderation/guardrail step on outputs and tighten the system prompt"),
            ("completeness", lambda v: v < 0.8, "medium", "only {v:.0%} of required points covered",
             "ask for a structured answer that covers each required point (checklist in the prompt)"),
            ("accuracy.fuzzy", lambda v: v < 0.7, "medium", "fuzzy accuracy {v:.2f}",
             "add few-shot examples and check retrieval quality for the failing cases"),
            ("relevance", lambda v: v < 0.3, "medium", "relevance {v:.2f}",
             "keep answers on the question: restate it in the prompt and trim unrelated content"),
            ("coherence", lambda v: v < 0.7, "low", "coherence {v:.2f} (repetition, contradiction or truncation)",
             "lower temperature, add a frequency penalty and raise max_tokens if answers are cut off"),
        ]
        for metric, bad, priority, observation, action in rules:
            value = means.get(metric)
            if value is not None and bad(value):
                out.append(Recommendation(metric, observation.format(v=value), action, priority))
        cost = perf.get("cost_usd_per_request")
        if cost_budget_usd is not None and cost is not None and cost > cost_budget_usd:
            out.append(Recommendation("cost", f"${cost:.4f} per request (budget ${cost_budget_usd:.4f})",
                                      "cache repeated prompts, trim context or route easy cases to a smaller model", "medium"))
        for area in self.identify_strong_weak_areas(run)["weak"][:3]:
            out.append(Recommendation(f"tag:{area.tag}", f"{area.metric} {area.value:.2f} vs {area.reference:.2f} overall",
                                      f"add examples and targeted instructions for '{area.tag}' cases", "low"))
        order = {"high": 0, "medium": 1, "low": 2}
        return sorted(out, key=lambda r: order[r.priority])


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"
