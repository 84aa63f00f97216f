"""Power guidance: the smallest change a suite can detect, per metric, next to the gate's threshold.

For a run of ``n`` cases and each metric, the change that a comparison with another run of the same size
detects with ``power`` (default 80 %) at ``alpha`` (statsmodels): two-sample t-test power for scores,
latency, cost and counts (the spread is this run's standard deviation), two-proportion power with Cohen's
h for pass/fail rates (in the worse direction from this run's rate). It is an approximation of the tests
the detector runs (Wilcoxon/Mann-Whitney are about as powerful; pairing on a shared suite helps; the
Benjamini-Hochberg correction over several metrics costs some), good enough to say "this suite is too
small to see the change the gate cares about". When the detectable change is larger than the metric's
practical threshold (``RegressionDetector.practical_for``), ``PowerRow.warning`` says so.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from agentotel.evaluation.regression import RELATIVE_KINDS, RegressionDetector, as_samples


@dataclass(frozen=True)
class PowerRow:
    """One metric's guidance; ``detectable`` is an absolute change in the metric's unit."""

    metric: str
    kind: str
    n: int
    mean: float | None
    sd: float | None
    detectable: float | None
    threshold: float | None
    practical: str
    note: str = ""

    @property
    def detectable_relative(self) -> float | None:
        if self.detectable is None or not self.mean:
            return None
        return self.detectable / abs(self.mean)

    @property
    def enough(self) -> bool | None:
        """Whether the suite detects a change as small as the threshold (None: unknown)."""
        if self.detectable is None or self.threshold is None:
            return None
        return self.detectable <= self.threshold

    def warning(self, power: float = 0.8) -> str | None:
        if self.enough is not False:
            return None
        assert self.detectable is not None
        relative = f" ({self.detectable_relative:.0%})" if self.kind in RELATIVE_KINDS and self.detectable_relative else ""
        return (f"{self.metric}: {self.n} cases detect a change of {_g(self.detectable)}{relative} or more with "
                f"{power:.0%} power, above the gate's practical threshold {self.practical}; add cases")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "detectable_relative": self.detectable_relative, "enough": self.enough}


def power_guidance(run: Any, detector: RegressionDetector | None = None, alpha: float = 0.05,
                   power: float = 0.8) -> list[PowerRow]:
    """Guidance for every metric of ``run`` (a run, ``RunSamples`` or ``{metric: values}``)."""
    detector = detector or RegressionDetector()
    samples = as_samples(run)
    rows = []
    for name in sorted(samples.metrics):
        series = samples.metrics[name]
        values = series.values
        definition = series.definition
        mean = float(values.mean()) if values.size else None
        practical = detector.practical_for(definition)
        threshold = practical.smallest(mean) if mean is not None else None
        sd = float(values.std(ddof=1)) if values.size >= 2 else None
        detectable, note = _detectable(values, definition.kind, definition.higher_is_better, alpha, power)
        rows.append(PowerRow(name, definition.kind, int(values.size), mean, sd, detectable, threshold,
                             practical.describe(definition.unit), note))
    return rows


def _detectable(values: np.ndarray, kind: str, higher_is_better: bool, alpha: float,
                power: float) -> tuple[float | None, str]:
    n = int(values.size)
    if n < 2:
        return None, "fewer than 2 cases"
    from statsmodels.stats.power import NormalIndPower, TTestIndPower

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' convergence chatter at tiny n
        try:
            if kind == "binary":
                h = float(NormalIndPower().solve_power(effect_size=None, nobs1=n, alpha=alpha, power=power, ratio=1.0))
            else:
                d = float(TTestIndPower().solve_power(effect_size=None, nobs1=n, alpha=alpha, power=power, ratio=1.0))
        except (ValueError, RuntimeError, ArithmeticError):
            return None, "no solution at this n"
    if kind == "binary":
        rate = float(np.clip(values.mean(), 0.0, 1.0))
        angle = math.asin(math.sqrt(rate))
        worse = angle - h / 2 if higher_is_better else angle + h / 2
        if not 0.0 <= worse <= math.pi / 2:
            return None, "no change of that size is possible in the worse direction"
        return abs(math.sin(worse) ** 2 - rate), ""
    if not math.isfinite(d):
        return None, "no solution at this n"
    sd = float(values.std(ddof=1))
    if sd == 0:
        return None, "every case scored the same: the spread is unknown"
    return d * sd, ""


def power_markdown(rows: list[PowerRow], alpha: float = 0.05, power: float = 0.8) -> str:
    lines = [f"Smallest change detectable with {power:.0%} power (alpha {alpha}, against a run of the same size):", "",
             "| metric | n | mean | sd | detectable | gate threshold | enough cases |",
             "|---|---:|---:|---:|---:|---|---|"]
    for r in rows:
        relative = f" ({r.detectable_relative:.0%})" if r.kind in RELATIVE_KINDS and r.detectable_relative else ""
        enough = "—" if r.enough is None else "yes" if r.enough else "**no**"
        lines.append(f"| {r.metric} | {r.n} | {_g(r.mean)} | {_g(r.sd)} | {_g(r.detectable)}{relative} | {r.practical} "
                     f"| {enough}{(' (' + r.note + ')') if r.note else ''} |")
    return "\n".join(lines)


def _g(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"
