"""Regression detection between two evaluation runs.

For every metric both runs have, the detector picks a test: paired when the runs share cases
(Wilcoxon signed-rank for scores, McNemar for pass/fail), otherwise Welch's t-test for scores,
Mann-Whitney U for latency/cost/count and Fisher's exact test for pass/fail. The p-values of one
comparison are adjusted with Benjamini-Hochberg. A metric regressed when it moved in the worse
direction, its adjusted p-value is below ``alpha``, and the change is practically significant
(``Practical``): at least an absolute floor in the metric's unit and, for latency, cost and counts, at
least a share of the baseline (defaults in ``DEFAULT_PRACTICAL``: scores and pass rates 0.05; latency
max(10 %, 5 ms); cost max(5 %, 0.00001 USD); counts max(5 %, 5)).

Opt-in deciding checks, tested and BH-adjusted with the others:

- tails (``tail=[metric or kind]``): ``<metric>.p95`` / ``.p99`` by a quantile test (the share of each
  run above the pooled percentile, one-sided Fisher exact test; exact under "no change"); a percentile
  needs ``2 / (1 - q)`` cases per run (40 for p95, 200 for p99);
- history (``history_metrics=[metric]``): ``<metric>.history``, the current mean scored against the
  means of earlier runs (``agentotel.core.anomaly``, z-score) and turned into a one-sided p-value by the
  prediction interval of a new run (t with k - 1 degrees of freedom); needs ``MIN_HISTORY`` earlier runs.

A metric that cannot be tested (fewer than ``min_samples`` cases, missing from one run) is reported with
``testable=False`` and the reason ("4 cases < 5"); the promotion gate refuses on it (fail closed).
It also reports percentage change, percentiles, Cohen's d, Cliff's delta, a bootstrap CI of the mean
difference and a robust anomaly score (``agentotel.core.anomaly``) of the current mean against earlier runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from agentotel.alerting.manager import AlertManager
from agentotel.core import anomaly
from agentotel.evaluation import stats
from agentotel.evaluation.base import CaseResult, MetricDefinition, finite_or_none, json_safe

LOWER_IS_BETTER_HINTS = ("latency", "duration", "cost", "token", "error", "hallucination", "toxicity")
RELATIVE_KINDS = ("latency", "cost", "count")
MIN_HISTORY = 3  # earlier runs needed before a run is scored against its history (agentotel.core.anomaly)
TAIL_QUANTILES = (95.0, 99.0)


@dataclass(frozen=True)
class Practical:
    """When a change is large enough to matter: ``|Δ| >= absolute`` and, where ``relative`` is set,
    ``|Δ| >= relative × |baseline|`` (so latency ``Practical(5.0, 0.10)`` means max(10 %, 5 ms))."""

    absolute: float = 0.0
    relative: float | None = None

    def smallest(self, baseline: float | None) -> float:
        """The smallest absolute change that counts against ``baseline``."""
        share = self.relative * abs(baseline) if self.relative is not None and baseline is not None else 0.0
        return max(self.absolute, share)

    def reached(self, difference: float | None, baseline: float | None) -> bool:
        """Whether a change of ``difference`` from ``baseline`` counts (no change never does)."""
        if difference is None or difference == 0:
            return False
        return not math.isfinite(difference) or abs(difference) >= self.smallest(baseline)

    def describe(self, unit: str = "") -> str:
        floor = f"{self.absolute:g}{(' ' + unit) if unit else ''}"
        return f"max({self.relative:.0%}, {floor})" if self.relative is not None else floor


# kind -> the default practical threshold (README "Evaluation"); scores and pass rates are 0..1
DEFAULT_PRACTICAL: dict[str, Practical] = {
    "score": Practical(0.05),
    "binary": Practical(0.05),
    "latency": Practical(5.0, 0.10),  # ms
    "cost": Practical(1e-5, 0.05),  # USD per case
    "count": Practical(5.0, 0.05),  # tokens per case
}


def min_cases_for_quantile(q: float) -> int:
    """Cases per run a ``q``-th percentile test needs: on average two values beyond it."""
    return math.ceil(2.0 / (1.0 - q / 100.0) - 1e-9)


def default_definition(name: str) -> MetricDefinition:
    """A guess for a metric nobody described: direction and kind from its name."""
    lower = any(hint in name for hint in LOWER_IS_BETTER_HINTS)
    if "latency" in name or "duration" in name:
        kind = "latency"
    elif "cost" in name:
        kind = "cost"
    elif "token" in name:
        kind = "count"
    elif name == "error" or name.endswith(".exact") or name.endswith(".pass"):
        kind = "binary"
    else:
        kind = "score"
    return MetricDefinition(name, higher_is_better=not lower, kind=kind)


@dataclass
class MetricSeries:
    """Values of one metric in one run, with the case ids they belong to (for pairing)."""

    values: np.ndarray
    definition: MetricDefinition
    case_ids: list[str] | None = None


@dataclass
class RunSamples:
    """The per-case metric values of a run, ready for comparison."""

    metrics: dict[str, MetricSeries]
    run_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_cases(
        cls,
        cases: Iterable[CaseResult],
        definitions: Mapping[str, MetricDefinition] | None = None,
        run_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> RunSamples:
        values: dict[str, list[float]] = {}
        ids: dict[str, list[str]] = {}
        for case in cases:
            for name, score in case.scores.items():
                value = finite_or_none(score.value)
                if value is not None:
                    values.setdefault(name, []).append(value)
                    ids.setdefault(name, []).append(case.case_id)
        definitions = definitions or {}
        metrics = {
            name: MetricSeries(np.asarray(vals, dtype=float), definitions.get(name) or default_definition(name), ids[name])
            for name, vals in values.items()
        }
        return cls(metrics, run_id, dict(meta or {}))

    @classmethod
    def from_mapping(
        cls,
        data: Mapping[str, Sequence[float] | Mapping[str, float]],
        definitions: Mapping[str, MetricDefinition | Mapping[str, Any]] | None = None,
        run_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> RunSamples:
        """``{metric: [values]}`` (unpaired) or ``{metric: {case_id: value}}`` (pairable)."""
        metrics = {}
        for name, series in data.items():
            definition = (definitions or {}).get(name)
            if isinstance(definition, Mapping):
                definition = MetricDefinition.from_dict(name, dict(definition))
            definition = definition or default_definition(name)
            if isinstance(series, Mapping):
                items = [(str(k), finite_or_none(v)) for k, v in series.items()]
                items = [(k, v) for k, v in items if v is not None]
                metrics[name] = MetricSeries(np.asarray([v for _, v in items], dtype=float), definition, [k for k, _ in items])
            else:
                vals = [v for v in (finite_or_none(x) for x in series) if v is not None]
                metrics[name] = MetricSeries(np.asarray(vals, dtype=float), definition, None)
        return cls(metrics, run_id, dict(meta or {}))

    def mean(self, metric: str) -> float | None:
        series = self.metrics.get(metric)
        return float(series.values.mean()) if series is not None and series.values.size else None


def as_samples(run: Any) -> RunSamples:
    """Accept ``RunSamples``, anything with ``to_samples()`` (benchmark and stored runs) or a mapping."""
    if isinstance(run, RunSamples):
        return run
    to_samples = getattr(run, "to_samples", None)
    if to_samples is not None:
        return to_samples()
    if isinstance(run, Mapping):
        return RunSamples.from_mapping(run)
    raise TypeError(f"cannot compare {type(run).__name__}: expected RunSamples, a run, or {{metric: values}}")


@dataclass
class MetricComparison:
    """One metric's comparison. ``p_value`` is BH-adjusted; ``effect_size`` is Cohen's d (current - baseline)."""

    metric: str
    higher_is_better: bool
    kind: str
    test: str
    paired: bool
    n_current: int
    n_baseline: int
    mean_current: float | None
    mean_baseline: float | None
    difference: float | None
    pct_change: float | None
    p_value_raw: float | None
    p_value: float | None = None
    effect_size: float | None = None
    cliffs_delta: float | None = None
    welch_p: float | None = None
    mannwhitney_p: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    percentiles_current: dict[str, float] = field(default_factory=dict)
    percentiles_baseline: dict[str, float] = field(default_factory=dict)
    tail_exceedance: float | None = None
    tail_p_value: float | None = None
    anomaly_score: float | None = None
    practical_change: float | None = None
    practical_min: float | None = None  # the smallest absolute change that counts (``Practical.smallest``)
    practical: str = ""  # the practical threshold as text, e.g. "max(10%, 5 ms)"
    check: str = "mean"  # mean | p95 | p99 | history
    testable: bool = True
    untested_reason: str = ""
    worse: bool = False
    significant: bool = False
    is_regression: bool = False
    is_improvement: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return json_safe(asdict(self))


@dataclass
class RegressionReport:
    """Result of one comparison; ``regressions`` are the metrics that regressed."""

    comparisons: list[MetricComparison]
    current_run_id: str | None = None
    baseline_run_id: str | None = None
    alpha: float = 0.05
    threshold: float | None = None  # the override given, if any (each comparison carries its own threshold)
    current_meta: dict[str, Any] = field(default_factory=dict)
    baseline_meta: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def regressions(self) -> list[MetricComparison]:
        return [c for c in self.comparisons if c.is_regression]

    @property
    def improvements(self) -> list[MetricComparison]:
        return [c for c in self.comparisons if c.is_improvement]

    @property
    def has_regression(self) -> bool:
        return bool(self.regressions)

    @property
    def untestable(self) -> list[MetricComparison]:
        """Metrics that could not be tested (too few cases, missing from a run), with ``untested_reason``."""
        return [c for c in self.comparisons if not c.testable]

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {
                "current_run_id": self.current_run_id,
                "baseline_run_id": self.baseline_run_id,
                "alpha": self.alpha,
                "threshold": self.threshold,
                "created_at": self.created_at.isoformat(),
                "has_regression": self.has_regression,
                "regressions": [c.metric for c in self.regressions],
                "untestable": {c.metric: c.untested_reason for c in self.untestable},
                "improvements": [c.metric for c in self.improvements],
                "current": self.current_meta,
                "baseline": self.baseline_meta,
                "metrics": [c.to_dict() for c in self.comparisons],
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False, default=str)

    def to_markdown(self) -> str:
        title = f"# Regression report: run {self.current_run_id or 'current'} vs baseline {self.baseline_run_id or 'baseline'}"
        verdict = (
            f"**REGRESSION** in {len(self.regressions)} metric(s): " + ", ".join(c.metric for c in self.regressions)
            if self.has_regression
            else "**No regression** found."
        )
        untested = [f"{c.metric} ({c.untested_reason})" for c in self.untestable]
        if untested:
            verdict += f" Not tested: {', '.join(untested)}."
        lines = [title, "", verdict, ""]
        current_hash, baseline_hash = self.current_meta.get("suite_hash"), self.baseline_meta.get("suite_hash")
        if current_hash and baseline_hash and current_hash != baseline_hash:
            lines += [f"Note: the runs used different suites (hash {str(baseline_hash)[:12]} → {str(current_hash)[:12]}); "
                      "only cases with the same id are paired.", ""]
        lines += [
            f"Benjamini-Hochberg adjusted significance level {self.alpha}; a change counts when it is at least "
            "the metric's practical threshold (column 'threshold').",
            "",
            "| metric | baseline | current | change | test | p (adj.) | threshold | Cohen's d | Cliff's δ | 95% CI of diff. "
            "| anomaly | verdict |",
            "|---|---:|---:|---:|---|---:|---|---:|---:|---|---:|---|",
        ]
        for c in self.comparisons:
            verdict_cell = ("regression" if c.is_regression else "improvement" if c.is_improvement
                            else f"not tested: {c.untested_reason}" if not c.testable else (c.note or "—"))
            ci = f"[{_num(c.ci_low)}, {_num(c.ci_high)}]" if c.ci_low is not None else "—"
            change = f"{c.pct_change:+.1f}%" if c.pct_change is not None else f"{c.difference:+.3g} (abs.)" if c.difference is not None else "—"
            lines.append(
                f"| {c.metric} | {_num(c.mean_baseline)} | {_num(c.mean_current)} | {change} | {c.test}"
                f"{' (paired)' if c.paired else ''} | {_num(c.p_value, 4)} | {c.practical or '—'} | {_num(c.effect_size)} "
                f"| {_num(c.cliffs_delta)} "
                f"| {ci} | {_num(c.anomaly_score)} | {verdict_cell} |"
            )
        tails = [c for c in self.comparisons if c.percentiles_current and c.kind in RELATIVE_KINDS and c.check == "mean"]
        if tails:
            lines += [
                "",
                "| metric | p50 base → cur | p95 base → cur | p99 base → cur | beyond baseline p95 | tail p |",
                "|---|---|---|---|---:|---:|",
            ]
            for c in tails:
                cells = [f"{_num(c.percentiles_baseline.get(q))} → {_num(c.percentiles_current.get(q))}" for q in ("p50", "p95", "p99")]
                share = f"{c.tail_exceedance:.1%}" if c.tail_exceedance is not None else "—"
                lines.append(f"| {c.metric} | " + " | ".join(cells) + f" | {share} | {_num(c.tail_p_value, 4)} |")
        return "\n".join(lines) + "\n"


def _num(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—" if value is None else ("∞" if value > 0 else "-∞")
    return f"{value:.{digits}g}" if abs(value) < 1e-3 and value != 0 else f"{value:,.{digits}f}".rstrip("0").rstrip(".")


def _percentiles(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return {}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(values.max())}


class RegressionDetector:
    """Compares a run with a baseline (see the module docstring for the decision rule)."""

    def __init__(
        self,
        alpha: float = 0.05,
        threshold: float | None = None,
        thresholds: Mapping[str, float] | None = None,
        min_samples: int = 5,
        bootstrap: bool = True,
        n_resamples: int = 1000,
        seed: int | None = 0,
        anomaly_z: float = 3.0,
        secondary_tests: bool = True,
        floors: Mapping[str, float] | None = None,
        tail: Sequence[str] = (),
        tail_quantiles: Sequence[float] = TAIL_QUANTILES,
        history_metrics: Sequence[str] = (),
    ):
        """Practical thresholds: ``threshold`` replaces the main part of every default (absolute for scores
        and pass rates, the share of the baseline for latency, cost and counts), ``thresholds`` per metric;
        ``floors`` sets the absolute floor per metric or kind (``{"latency": 2.0}``, ``{"cost_usd": 0.001}``).
        ``tail``: metrics (or kinds) whose percentiles decide too; ``history_metrics``: metrics whose mean
        is tested against earlier runs. ``secondary_tests=False`` skips the unpaired tests that do not
        decide (faster, same verdicts)."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        for name, value in [("threshold", threshold), *(thresholds or {}).items(), *(floors or {}).items()]:
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"threshold {name} must be a number >= 0, got {value}")
        if min_samples < 2:
            raise ValueError(f"min_samples must be >= 2, got {min_samples}")
        for q in tail_quantiles:
            if not 50 <= q < 100:
                raise ValueError(f"tail quantiles are percentiles in [50, 100), got {q}")
        self.alpha = alpha
        self.threshold = threshold
        self.thresholds = dict(thresholds or {})
        self.floors = dict(floors or {})
        self.min_samples = min_samples
        self.bootstrap = bootstrap
        self.n_resamples = n_resamples
        self.seed = seed
        self.anomaly_z = anomaly_z
        self.secondary_tests = secondary_tests
        self.tail = tuple(tail)
        self.tail_quantiles = tuple(float(q) for q in tail_quantiles)
        self.history_metrics = tuple(history_metrics)
        self.last_report: RegressionReport | None = None

    def practical_for(self, definition: MetricDefinition, threshold: float | None = None) -> Practical:
        """The practical threshold of a metric: its kind's default, then ``threshold`` (argument, else the
        detector's), then the per-metric ``thresholds``, with the floor from ``floors`` (metric, else kind)."""
        base = DEFAULT_PRACTICAL.get(definition.kind, DEFAULT_PRACTICAL["score"])
        main = self.thresholds.get(definition.name, self.threshold if threshold is None else threshold)
        floor = self.floors.get(definition.name, self.floors.get(definition.kind))
        if definition.kind in RELATIVE_KINDS:
            return Practical(base.absolute if floor is None else floor, base.relative if main is None else main)
        absolute = base.absolute if main is None else main
        return Practical(absolute if floor is None else max(absolute, floor))

    def detect_regressions(
        self,
        current: Any,
        baseline: Any,
        threshold: float | None = None,
        history: Sequence[Any] | None = None,
        metrics: Sequence[str] | None = None,
    ) -> RegressionReport:
        """Compare ``current`` with ``baseline`` (runs, ``RunSamples`` or ``{metric: values}``).

        ``history``: earlier runs (or ``{metric: mean}`` mappings) for the anomaly score and the history check.
        ``metrics``: restrict the comparison to these metrics (a listed metric missing from a run is
        reported as untestable). Metrics only one run has are reported as untestable too.
        """
        cur, base = as_samples(current), as_samples(baseline)
        threshold = self.threshold if threshold is None else threshold
        history_means = self._history_means(history)
        names = sorted(set(cur.metrics) | set(base.metrics) | set(metrics or ()))
        if metrics is not None:
            names = [m for m in names if m in metrics]
        comparisons: list[MetricComparison] = []
        for name in names:
            if name not in cur.metrics or name not in base.metrics:
                comparisons.append(self._missing(name, cur, base))
                continue
            comparison = self._compare(name, cur.metrics[name], base.metrics[name], history_means.get(name), threshold)
            comparisons.append(comparison)
            if self._wants(self.tail, cur.metrics[name].definition):
                comparisons += [self._tail(name, q, cur.metrics[name], base.metrics[name], threshold)
                                for q in self.tail_quantiles]
            if name in self.history_metrics:
                comparisons.append(self._history(name, cur.metrics[name], history_means.get(name) or [], threshold))
        raw = [(c, c.p_value_raw) for c in comparisons if c.p_value_raw is not None and c.testable]
        tested = [c for c, _ in raw]
        _, adjusted = stats.benjamini_hochberg([p for _, p in raw], self.alpha)
        for comparison, p_adj in zip(tested, adjusted):
            comparison.p_value = p_adj
            comparison.significant = p_adj < self.alpha
            beyond = self._beyond(comparison)
            comparison.is_regression = comparison.significant and beyond and comparison.worse
            comparison.is_improvement = comparison.significant and beyond and not comparison.worse
        report = RegressionReport(
            comparisons, cur.run_id, base.run_id, self.alpha, threshold, dict(cur.meta), dict(base.meta)
        )
        self.last_report = report
        return report

    @staticmethod
    def _wants(selection: Sequence[str], definition: MetricDefinition) -> bool:
        return definition.name in selection or definition.kind in selection

    def _beyond(self, c: MetricComparison) -> bool:
        return c.difference is not None and c.practical_min is not None and c.difference != 0 and (
            not math.isfinite(c.difference) or abs(c.difference) >= c.practical_min)

    def _missing(self, name: str, cur: RunSamples, base: RunSamples) -> MetricComparison:
        series = cur.metrics.get(name) or base.metrics.get(name)
        definition = series.definition if series is not None else default_definition(name)
        where = "the current run" if name not in cur.metrics else "the baseline run"
        if name not in cur.metrics and name not in base.metrics:
            where = "both runs"
        n_cur = int(cur.metrics[name].values.size) if name in cur.metrics else 0
        n_base = int(base.metrics[name].values.size) if name in base.metrics else 0
        return MetricComparison(
            metric=name, higher_is_better=definition.higher_is_better, kind=definition.kind, test="none", paired=False,
            n_current=n_cur, n_baseline=n_base, mean_current=cur.mean(name), mean_baseline=base.mean(name),
            difference=None, pct_change=None, p_value_raw=None, testable=False, untested_reason=f"missing in {where}",
            note=f"missing in {where}",
        )

    def _history_means(self, history: Sequence[Any] | None) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        means: Mapping[str, float | None]
        for run in history or ():
            if isinstance(run, Mapping) and all(isinstance(v, (int, float)) for v in run.values()):
                means = {k: float(v) for k, v in run.items()}
            else:
                samples = as_samples(run)
                means = {m: samples.mean(m) for m in samples.metrics}
            for metric, value in means.items():
                if value is not None and math.isfinite(value):
                    out.setdefault(metric, []).append(value)
        return out

    def _untestable(self, comparison: MetricComparison, n_cur: int, n_base: int, needed: int) -> bool:
        """Mark ``comparison`` untestable when a run has fewer than ``needed`` values ("4 cases < 5")."""
        if n_cur >= needed and n_base >= needed:
            return False
        reason = (f"{n_cur} cases < {needed}" if n_cur < needed else f"baseline has {n_base} cases < {needed}")
        comparison.testable = False
        comparison.untested_reason = reason
        comparison.note = "; ".join(filter(None, [comparison.note, f"too few samples ({reason})"]))
        return True

    def _compare(self, name: str, cur: MetricSeries, base: MetricSeries, history: list[float] | None,
                 threshold: float | None = None) -> MetricComparison:
        definition = cur.definition
        x, y, paired = self._align(cur, base)
        kind, hib = definition.kind, definition.higher_is_better
        mean_c = float(x.mean()) if x.size else None
        mean_b = float(y.mean()) if y.size else None
        diff = pct = None
        if mean_c is not None and mean_b is not None:
            diff = mean_c - mean_b
            pct = (diff / abs(mean_b) * 100.0) if mean_b != 0 else (0.0 if diff == 0 else None)
        practical = self.practical_for(definition, threshold)
        comparison = MetricComparison(
            metric=name, higher_is_better=hib, kind=kind, test="none", paired=paired,
            n_current=int(x.size), n_baseline=int(y.size), mean_current=mean_c, mean_baseline=mean_b,
            difference=diff, pct_change=pct, p_value_raw=None,
            percentiles_current=_percentiles(x), percentiles_baseline=_percentiles(y),
            practical_min=practical.smallest(mean_b), practical=practical.describe(definition.unit),
        )
        if diff is not None:
            comparison.worse = (diff < 0) if hib else (diff > 0)
            if kind in RELATIVE_KINDS:
                comparison.practical_change = abs(diff) / abs(mean_b) if mean_b else (math.inf if diff else 0.0)
            else:
                comparison.practical_change = abs(diff)
        if history and mean_c is not None:
            z = anomaly.score(mean_c, history, "robust") if len(history) >= MIN_HISTORY else math.nan
            if math.isfinite(z):
                comparison.anomaly_score = -z if hib else z  # positive = unusually bad
                if comparison.anomaly_score >= self.anomaly_z:
                    comparison.note = "anomalous vs history"
        if self._untestable(comparison, int(cur.values.size), int(base.values.size), self.min_samples):
            return comparison
        if kind in RELATIVE_KINDS:
            comparison.tail_exceedance, comparison.tail_p_value = stats.tail_exceedance_test(x, y, 95.0, hib)
        comparison.effect_size = stats.cohens_d(x, y)
        comparison.cliffs_delta = stats.cliffs_delta(x, y)
        if kind == "binary":
            if paired:
                comparison.test = "mcnemar"
                comparison.p_value_raw, _ = stats.mcnemar_test(x, y)
            else:
                comparison.test = "fisher_exact"
                comparison.p_value_raw = stats.fisher_exact_test(x, y)
        else:
            if self.secondary_tests or (not paired and kind not in RELATIVE_KINDS):
                comparison.welch_p = stats.welch_t_test(x, y)
            if self.secondary_tests or (not paired and kind in RELATIVE_KINDS):
                comparison.mannwhitney_p = stats.mann_whitney_u(x, y)
            if paired:
                comparison.test = "wilcoxon"
                comparison.p_value_raw = stats.wilcoxon_signed_rank(x, y)
            elif kind in RELATIVE_KINDS:
                comparison.test = "mann_whitney_u"
                comparison.p_value_raw = comparison.mannwhitney_p
            else:
                comparison.test = "welch_t"
                comparison.p_value_raw = comparison.welch_p
        if self.bootstrap:
            comparison.ci_low, comparison.ci_high = stats.bootstrap_mean_difference(
                x, y, paired=paired, n_resamples=self.n_resamples, seed=self.seed
            )
        return comparison

    def _tail(self, name: str, q: float, cur: MetricSeries, base: MetricSeries,
              threshold: float | None) -> MetricComparison:
        """``<metric>.p<q>``: the percentiles compared by a quantile test (pooled-percentile Fisher test)."""
        definition = cur.definition
        x, y = cur.values, base.values
        label = f"p{q:g}"
        practical = self.practical_for(definition, threshold)
        pc = float(np.percentile(x, q)) if x.size else None
        pb = float(np.percentile(y, q)) if y.size else None
        diff = pc - pb if pc is not None and pb is not None else None
        comparison = MetricComparison(
            metric=f"{name}.{label}", higher_is_better=definition.higher_is_better, kind=definition.kind,
            test="quantile_fisher", paired=False, n_current=int(x.size), n_baseline=int(y.size),
            mean_current=pc, mean_baseline=pb, difference=diff,
            pct_change=(diff / abs(pb) * 100.0) if diff is not None and pb else None, p_value_raw=None,
            practical_min=practical.smallest(pb), practical=practical.describe(definition.unit), check=label,
        )
        if diff is not None:
            comparison.worse = (diff < 0) if definition.higher_is_better else (diff > 0)
            comparison.practical_change = abs(diff) / abs(pb) if definition.kind in RELATIVE_KINDS and pb else abs(diff)
        if self._untestable(comparison, int(x.size), int(y.size), max(self.min_samples, min_cases_for_quantile(q))):
            return comparison
        comparison.p_value_raw = stats.quantile_test(x, y, q, definition.higher_is_better)
        return comparison

    def _history(self, name: str, cur: MetricSeries, history: list[float], threshold: float | None) -> MetricComparison:
        """``<metric>.history``: the current mean against earlier runs' means (z-score of
        ``agentotel.core.anomaly``; one-sided p-value from the prediction interval of a new run)."""
        definition = cur.definition
        practical = self.practical_for(definition, threshold)
        mean_c = float(cur.values.mean()) if cur.values.size else None
        centre = float(np.mean(history)) if history else None
        diff = mean_c - centre if mean_c is not None and centre is not None else None
        comparison = MetricComparison(
            metric=f"{name}.history", higher_is_better=definition.higher_is_better, kind=definition.kind,
            test="history_t", paired=False, n_current=int(cur.values.size), n_baseline=len(history),
            mean_current=mean_c, mean_baseline=centre, difference=diff,
            pct_change=(diff / abs(centre) * 100.0) if diff is not None and centre else None, p_value_raw=None,
            practical_min=practical.smallest(centre), practical=practical.describe(definition.unit), check="history",
        )
        if diff is not None:
            comparison.worse = (diff < 0) if definition.higher_is_better else (diff > 0)
            comparison.practical_change = (abs(diff) / abs(centre) if definition.kind in RELATIVE_KINDS and centre
                                           else abs(diff))
        if len(history) < MIN_HISTORY:
            comparison.testable = False
            comparison.untested_reason = f"{len(history)} earlier runs < {MIN_HISTORY}"
            comparison.note = comparison.untested_reason
            return comparison
        if self._untestable(comparison, int(cur.values.size), self.min_samples, self.min_samples):
            return comparison
        assert mean_c is not None
        z = anomaly.score(mean_c, history, "zscore")
        comparison.anomaly_score = -z if definition.higher_is_better else z
        comparison.p_value_raw = stats.prediction_p_value(comparison.anomaly_score, len(history))
        return comparison

    def _align(self, cur: MetricSeries, base: MetricSeries) -> tuple[np.ndarray, np.ndarray, bool]:
        """Paired arrays over shared cases when most cases are shared; else the raw samples."""
        if cur.case_ids and base.case_ids and len(set(cur.case_ids)) == len(cur.case_ids) and len(set(base.case_ids)) == len(base.case_ids):
            base_index = {cid: i for i, cid in enumerate(base.case_ids)}
            pairs = [(i, base_index[cid]) for i, cid in enumerate(cur.case_ids) if cid in base_index]
            if len(pairs) >= self.min_samples and len(pairs) >= 0.5 * min(len(cur.case_ids), len(base.case_ids)):
                ci, bi = zip(*pairs)
                return cur.values[list(ci)], base.values[list(bi)], True
        return cur.values, base.values, False

    def generate_report(self, format: str = "markdown", report: RegressionReport | None = None) -> str:
        """The last (or given) report as Markdown or JSON."""
        report = report or self.last_report
        if report is None:
            raise ValueError("no report yet: call detect_regressions() first")
        if format == "markdown":
            return report.to_markdown()
        if format == "json":
            return report.to_json()
        raise ValueError(f"unknown report format {format!r}: use 'markdown' or 'json'")

    def alert_on_regression(
        self,
        engine: Any,
        report: RegressionReport | None = None,
        severity: str | None = None,
        rule_id: str = "evaluation.regression",
        labels: Mapping[str, str] | None = None,
        project: str | None = None,
    ) -> int | None:
        """Raise an alert (of ``project``) for a report with regressions (None when there is none).

        Through ``agentotel.alerting.manager.AlertManager`` (a firing alert with the same labels is updated,
        not duplicated); returns the alert id.
        """
        report = report or self.last_report
        if report is None or not report.has_regression:
            return None
        severity = severity or ("critical" if any(_far_beyond(c) for c in report.regressions) else "warning")
        alert_labels = regression_labels(report, labels)
        message = regression_message(report)
        return AlertManager(engine, project=project).create_alert(rule_id=rule_id, severity=severity, message=message, labels=alert_labels)


def _far_beyond(c: MetricComparison) -> bool:
    """A regression four times its practical threshold (or more) is critical."""
    if c.difference is None or c.practical_min is None:
        return False
    return not math.isfinite(c.difference) or abs(c.difference) >= 4 * max(c.practical_min, 1e-12)


def regression_labels(report: RegressionReport, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    labels = {
        "source": "evaluation",
        "agent": str(report.current_meta.get("agent_name") or ""),
        "agent_version": str(report.current_meta.get("agent_version") or ""),
        "benchmark": str(report.current_meta.get("benchmark_id") or ""),
        "current_run": str(report.current_run_id or ""),
        "baseline_run": str(report.baseline_run_id or ""),
        "metrics": ",".join(c.metric for c in report.regressions),
    }
    labels.update({str(k): str(v) for k, v in (extra or {}).items()})
    return {k: v for k, v in labels.items() if v}


def regression_message(report: RegressionReport) -> str:
    who = report.current_meta.get("agent_name") or "agent"
    version = report.current_meta.get("agent_version")
    parts = [
        f"{c.metric} {c.pct_change:+.1f}% (p={c.p_value:.3g})" if c.pct_change is not None else f"{c.metric} (p={c.p_value:.3g})"
        for c in report.regressions
    ]
    return (
        f"Evaluation regression for {who}{' ' + str(version) if version else ''}: run {report.current_run_id} vs "
        f"baseline {report.baseline_run_id}: " + "; ".join(parts)
    )
