"""Aggregation of per-case scores: mean, std, median, t and bootstrap confidence intervals, per-tag views."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from agentotel.evaluation.base import CaseResult, finite_or_none


@dataclass(frozen=True)
class MetricSummary:
    """Descriptive statistics of one metric; CIs are for the mean."""

    n: int
    mean: float | None
    std: float | None
    median: float | None
    min: float | None
    max: float | None
    ci_low: float | None
    ci_high: float | None
    bootstrap_ci_low: float | None
    bootstrap_ci_high: float | None
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (finite_or_none(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def t_interval(values: ArrayLike, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Student-t confidence interval of the mean (None with fewer than 2 values)."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return None, None
    mean, sem = float(x.mean()), float(stats.sem(x))
    if sem == 0.0:
        return mean, mean
    low, high = stats.t.interval(confidence, x.size - 1, loc=mean, scale=sem)
    return float(low), float(high)


def bootstrap_interval(
    values: ArrayLike, confidence: float = 0.95, n_resamples: int = 2000, seed: int | None = 0
) -> tuple[float | None, float | None]:
    """BCa bootstrap interval of the mean (``scipy.stats.bootstrap``); percentile method if BCa degenerates."""
    x = np.asarray(values, dtype=float)
    if x.size < 2:
        return None, None
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    for method in ("BCa", "percentile"):
        with np.errstate(all="ignore"):
            result = stats.bootstrap(
                (x,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method=method,
                random_state=np.random.default_rng(seed), vectorized=True,
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return low, high
    return None, None


class ResultAggregator:
    """Summaries of metric values over cases, overall and per tag."""

    def __init__(self, confidence: float = 0.95, n_resamples: int = 2000, seed: int | None = 0, bootstrap: bool = True):
        self.confidence = confidence
        self.n_resamples = n_resamples
        self.seed = seed
        self.bootstrap = bootstrap

    def summarize(self, values: Iterable[float | None]) -> MetricSummary:
        x = np.asarray([v for v in (finite_or_none(v) for v in values) if v is not None], dtype=float)
        if x.size == 0:
            return MetricSummary(0, None, None, None, None, None, None, None, None, None, self.confidence)
        ci = t_interval(x, self.confidence)
        boot = bootstrap_interval(x, self.confidence, self.n_resamples, self.seed) if self.bootstrap else (None, None)
        return MetricSummary(
            n=int(x.size),
            mean=float(x.mean()),
            std=float(x.std(ddof=1)) if x.size > 1 else None,
            median=float(np.median(x)),
            min=float(x.min()),
            max=float(x.max()),
            ci_low=ci[0],
            ci_high=ci[1],
            bootstrap_ci_low=boot[0],
            bootstrap_ci_high=boot[1],
            confidence=self.confidence,
        )

    @staticmethod
    def metric_values(cases: Iterable[CaseResult]) -> dict[str, list[float]]:
        out: dict[str, list[float]] = defaultdict(list)
        for case in cases:
            for name, score in case.scores.items():
                value = finite_or_none(score.value)
                if value is not None:
                    out[name].append(value)
        return dict(out)

    def aggregate(self, cases: Sequence[CaseResult]) -> dict[str, MetricSummary]:
        """One summary per metric over all cases."""
        return {name: self.summarize(values) for name, values in sorted(self.metric_values(cases).items())}

    def by_tag(self, cases: Sequence[CaseResult]) -> dict[str, dict[str, MetricSummary]]:
        """One summary per (tag, metric); cases without tags are under ``untagged``."""
        groups: dict[str, list[CaseResult]] = defaultdict(list)
        for case in cases:
            for tag in case.tags or ("untagged",):
                groups[tag].append(case)
        return {tag: self.aggregate(group) for tag, group in sorted(groups.items())}

    def comparative_summary(self, runs: Mapping[str, Mapping[str, MetricSummary]]) -> list[dict[str, Any]]:
        """Rows ``{metric, <run>: mean, ...}`` for several runs' summaries side by side."""
        metrics = sorted({m for summary in runs.values() for m in summary})
        return [
            {"metric": metric, **{run: (s[metric].mean if metric in s else None) for run, s in runs.items()}}
            for metric in metrics
        ]
