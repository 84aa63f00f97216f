"""Threshold rules: ``aggregation(metric over window) op value``; ``resolve_value`` adds hysteresis."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import model_validator

from agentotel.alerting.rules.base import EvalContext, MetricRule, Sample
from agentotel.alerting.spec import Duration, FieldError, Number

if TYPE_CHECKING:
    import pandas as pd

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}


class ThresholdRule(MetricRule):
    """Fires while the aggregated value compares true; resolves once it is past ``resolve_value``."""

    type: Literal["threshold"]
    op: Literal[">", ">=", "<", "<=", "==", "!="] = ">"
    value: Number
    resolve_value: Number | None = None
    window: Duration = timedelta(minutes=5)
    aggregation: Literal["last", "avg", "min", "max", "sum", "median", "p95"] = "avg"

    @model_validator(mode="after")
    def _resolve_side(self) -> ThresholdRule:
        if self.resolve_value is not None:
            if self.op in ("==", "!="):
                raise FieldError("resolve_value", f"needs an ordering operator, not {self.op}")
            if OPS[self.op](self.resolve_value, self.value) and self.resolve_value != self.value:
                raise FieldError("resolve_value",
                                  f"must lie on the resolved side of value {self.value} (op {self.op})")
        return self

    def evaluate(self, ctx: EvalContext) -> list[Sample]:
        compare = OPS[self.op]
        out = []
        for labels, values in self.fetch(ctx, self.window):
            if values.empty:
                continue
            current = aggregate(values, self.aggregation)
            active = bool(compare(current, self.value))
            still = compare(current, self.resolve_value) if self.resolve_value is not None else active
            out.append(Sample(labels, current, active, not still, {"threshold": self.value}))
        return out


def aggregate(values: pd.Series, how: str) -> float:
    """``values`` reduced by ``how`` (last, avg, min, max, sum, median, p95)."""
    if how == "last":
        return float(values.iloc[-1])
    if how == "p95":
        return float(values.quantile(0.95))
    return float(getattr(values, {"avg": "mean"}.get(how, how))())
