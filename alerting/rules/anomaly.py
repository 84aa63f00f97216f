"""Anomaly rules: the latest value is outside the normal range of a rolling window (``core.anomaly``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BeforeValidator

from agentotel.alerting.rules.base import EvalContext, MetricRule, Sample
from agentotel.alerting.spec import Duration, Number, PositiveInt
from agentotel.core import anomaly
from agentotel.core.durations import parse_duration


def _season(value: Any) -> str | timedelta:
    return value if value in ("auto", "none") else parse_duration(value)


class AnomalyRule(MetricRule):
    """Scores the latest point against the ones before it (z-score or median/MAD).

    ``season``: ``none``, ``auto`` (autocorrelation picks the period when one is clear) or a duration;
    with a season the baseline is the values at the same phase of earlier periods.
    """

    type: Literal["anomaly"]
    lookback: Duration = timedelta(hours=6)
    method: Literal["mad", "zscore"] = "mad"
    threshold: Number = 3.5
    direction: Literal["both", "up", "down"] = "both"
    min_points: PositiveInt = 10
    season: Annotated[str | timedelta, BeforeValidator(_season)] = "none"

    def evaluate(self, ctx: EvalContext) -> list[Sample]:
        out = []
        for labels, values in self.fetch(ctx, self.lookback):
            if len(values) < self.min_points + 1:
                continue
            current, history = float(values.iloc[-1]), values.iloc[:-1].to_numpy(dtype=float)
            period = self._period(history)
            baseline = history
            if period:
                same_phase = history[len(history) - period :: -period][::-1]
                if len(same_phase) >= 3:
                    baseline = same_phase
            score = anomaly.score(current, baseline, "robust" if self.method == "mad" else "zscore")
            signed = {"up": score, "down": -score}.get(self.direction, abs(score))
            active = bool(signed > self.threshold)
            out.append(Sample(labels, current, active, not active,
                              {"score": score, "capped": anomaly.is_capped(score), "season_period": period,
                               "baseline_points": len(baseline)}))
        return out

    def _period(self, history: np.ndarray) -> int | None:
        if isinstance(self.season, timedelta):
            return max(1, round(self.season / self.step))
        if self.season == "auto":
            return anomaly.detect_seasonality(history).period
        return None
