"""Trend rules: a continuous increase (or decrease) over the last ``windows`` steps, with a significant slope."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import field_validator

from agentotel.alerting.rules.base import EvalContext, MetricRule, Sample
from agentotel.alerting.spec import Number, PositiveInt


class TrendRule(MetricRule):
    """Fires when each of the last ``windows`` steps moves the same way (``strict``) and a linear fit's
    slope exceeds ``min_slope`` with p-value below ``alpha``."""

    type: Literal["trend"]
    windows: PositiveInt = 6
    direction: Literal["increase", "decrease"] = "increase"
    alpha: Number = 0.05
    strict: bool = True
    min_slope: Number = 0.0

    @field_validator("windows")
    @classmethod
    def _enough_windows(cls, value: int) -> int:
        if value < 3:
            raise ValueError("needs at least 3 windows for a slope test")
        return value

    def evaluate(self, ctx: EvalContext) -> list[Sample]:
        out = []
        for labels, values in self.fetch(ctx, self.step * (self.windows + 1)):
            values = values.iloc[-self.windows :]
            if len(values) < max(3, self.windows):
                continue
            y = values.to_numpy(dtype=float)
            sign = 1 if self.direction == "increase" else -1
            diffs = np.diff(y) * sign
            monotonic = bool(np.all(diffs > 0)) if self.strict else True
            if float(np.ptp(y)) == 0:
                slope, p_value = 0.0, 1.0
            else:
                from scipy.stats import linregress  # about 1 s to import: loaded when a trend is fitted

                fit = linregress(np.arange(len(y), dtype=float), y)
                slope, p_value = float(fit.slope), float(fit.pvalue)
            active = monotonic and slope * sign > self.min_slope and p_value < self.alpha
            out.append(Sample(labels, float(y[-1]), active, not active, {"slope_per_step": slope, "p_value": p_value}))
        return out
