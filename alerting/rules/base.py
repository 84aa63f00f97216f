"""What every rule shares: its common fields, the samples it produces and the context it runs in."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, get_args

import pandas as pd
from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, field_validator

from agentotel.alerting.spec import Duration, Spec, Text, TextMap

Severity = Literal["critical", "error", "warning", "info"]
SEVERITIES: tuple[str, ...] = get_args(Severity)


@dataclass
class Sample:
    """One alert series' state at evaluation time."""

    labels: dict[str, str]
    value: float | None
    active: bool
    clear: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalContext:
    """What a rule is evaluated against: the metric source, the time and earlier rules' samples."""

    source: Any  # sources.MetricSource
    now: datetime
    results: dict[str, list[Sample]] = field(default_factory=dict)


def label_key(labels: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """A label set as a hashable, order-independent key."""
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must be a non-empty string")
    return value


class Rule(Spec):
    """The fields every rule has; subclasses set ``type`` and implement ``evaluate``."""

    id: Annotated[str, AfterValidator(_non_blank)]
    type: str
    severity: Severity = "warning"
    message: Text = ""
    for_: Duration = Field(default=timedelta(0), alias="for")
    keep_firing_for: Duration = timedelta(0)
    labels: TextMap = {}
    annotations: TextMap = {}
    escalation: Text = "default"
    _line: int | None = PrivateAttr(default=None)

    @property
    def line(self) -> int | None:
        """The line of the rule in its file (set by the loader)."""
        return self._line

    @line.setter
    def line(self, value: int | None) -> None:
        self._line = value

    def depends_on(self) -> set[str]:
        """The ids of the rules whose results this one reads (composite rules)."""
        return set()

    def evaluate(self, ctx: EvalContext) -> list[Sample]:
        raise NotImplementedError

    def default_message(self) -> str:
        """The message template when the rule has none."""
        return "{rule_id}: value {value}"

    def render_message(self, labels: Mapping[str, Any], value: float | None) -> str:
        """``message`` with ``{value}``, ``{rule_id}`` and label placeholders filled; unknown ones kept. A
        series without a value (composite rules) shows ``n/a`` whatever the format (``{value:.1%}``)."""
        template = self.message or self.default_message()
        fields = _KeepMissing({**self.labels, **labels, "rule_id": self.id, "severity": self.severity})
        fields["value"] = value if value is not None else _NoValue()
        try:
            return string.Formatter().vformat(template, (), fields)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return template


class _KeepMissing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class _NoValue:
    """``{value}`` of a series without one: ``n/a`` under any format spec."""

    def __format__(self, spec: str) -> str:
        return "n/a"


def _filters(value: Any) -> dict[str, str | list[str]]:
    if not isinstance(value, Mapping):
        raise ValueError("must be a mapping of label → value or list of values")
    return {str(k): [str(i) for i in x] if isinstance(x, list) else str(x) for k, x in value.items()}


def _label_names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise ValueError("must be a list of label names")
    return list(value)


class MetricRule(Rule):
    """A rule over one metric's series, per ``group_by`` label set."""

    metric: Text
    filters: Annotated[dict[str, str | list[str]], BeforeValidator(_filters)] = {}
    group_by: Annotated[list[str], BeforeValidator(_label_names)] = []
    step: Duration = timedelta(minutes=1)

    @field_validator("step")
    @classmethod
    def _positive_step(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("must be positive")
        return value

    def fetch(self, ctx: EvalContext, lookback: timedelta) -> list[tuple[dict[str, str], pd.Series]]:
        """(labels, values ordered by time) of each series over ``lookback`` before ``ctx.now``."""
        # the end bound is exclusive: include the bucket the evaluation time falls in
        frame = ctx.source.series(self.metric, ctx.now - lookback, ctx.now + timedelta(microseconds=1),
                                  self.step, self.filters or None, self.group_by or None)
        return _groups(frame, self.group_by)


def _groups(frame: pd.DataFrame, group_by: Sequence[str]) -> list[tuple[dict[str, str], pd.Series]]:
    """Split a source frame into (labels, value series ordered by time)."""
    if frame is None or frame.empty:
        return []
    frame = frame.dropna(subset=["value"]).sort_values("timestamp")
    if not group_by:
        return [({}, frame["value"].astype(float).reset_index(drop=True))] if len(frame) else []
    out = []
    for key, part in frame.groupby(list(group_by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        labels = {g: ("" if pd.isna(v) else str(v)) for g, v in zip(group_by, key)}
        out.append((labels, part["value"].astype(float).reset_index(drop=True)))
    return out
