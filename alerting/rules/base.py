"""What every rule shares: its common fields, the samples it produces and the context it runs in."""

from __future__ import annotations

import itertools
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import numpy as np
from pydantic import AfterValidator, BeforeValidator, Field, PrivateAttr, field_validator

from agentotel.alerting.spec import Duration, Spec, Text, TextMap

if TYPE_CHECKING:  # pandas loads where rules are evaluated, not where a rules file is read
    import pandas as pd

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
    """What a rule is evaluated against: the metric source, the time and earlier rules' samples.
    ``series`` is the source seen through the round's ``SeriesCache``."""

    source: Any  # sources.MetricSource
    now: datetime
    results: dict[str, list[Sample]] = field(default_factory=dict)
    series: SeriesCache = field(init=False)

    def __post_init__(self) -> None:
        self.series = SeriesCache(self.source)


class SeriesCache:
    """A metric source for one evaluation round: each distinct query runs once.

    Rules of a round read the same window ending at the same time, so rules that differ only in their
    thresholds share a query. A query whose filters are all on labels it groups by (``filters: {agent: a},
    group_by: [agent]``: one rule per agent) is answered from the unfiltered query grouped the same way,
    which is exact: those filters select whole groups. Frames are copies; an error is raised again for every
    rule that asks the same question.
    """

    def __init__(self, source: Any) -> None:
        self.source = source
        self._answers: dict[tuple[Any, ...], pd.DataFrame | Exception] = {}
        self._groups: dict[tuple[Any, ...], dict[tuple[str, ...], pd.DataFrame]] = {}

    def series(self, metric: str, start: datetime, end: datetime, step: timedelta,
               filters: Mapping[str, Any] | None = None, group_by: Sequence[str] | None = None) -> pd.DataFrame:
        groups = tuple(group_by or ())
        wanted = {str(k): v for k, v in (filters or {}).items()}
        if set(wanted) <= set(groups):  # no filters, or filters that select whole groups
            key = (metric, start, end, step, groups)
            frame = self._answer(key, metric, start, end, step, None, groups)
            return self._select(key, frame, wanted) if wanted else frame.copy()
        filters_key = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in wanted.items()))
        return self._answer((metric, start, end, step, groups, filters_key), metric, start, end, step,
                            wanted or None, groups).copy()

    def _answer(self, key: tuple[Any, ...], metric: str, start: datetime, end: datetime, step: timedelta,
                filters: Mapping[str, Any] | None, groups: tuple[str, ...]) -> pd.DataFrame:
        if key not in self._answers:
            try:
                self._answers[key] = self.source.series(metric, start, end, step, filters, list(groups) or None)
            except Exception as exc:  # every rule asking this gets the error (and no second query)
                self._answers[key] = exc
        answer = self._answers[key]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def _select(self, key: tuple[Any, ...], frame: pd.DataFrame, wanted: Mapping[str, Any]) -> pd.DataFrame:
        names = tuple(sorted(wanted))
        if frame is None or frame.empty:
            return frame.copy()
        split = self._groups.get((key, names))
        if split is None:
            labels = frame[list(names)].astype(str)
            split = {k if isinstance(k, tuple) else (k,): part
                     for k, part in frame.groupby([labels[n] for n in names], sort=False)}
            self._groups[(key, names)] = split
        choices = [[str(x) for x in v] if isinstance(v, (list, tuple, set)) else [str(v)] for v in
                   (wanted[n] for n in names)]
        parts = [split[combo] for combo in itertools.product(*choices) if combo in split]
        if not parts:
            return frame.iloc[0:0].copy()
        if len(parts) == 1:
            return parts[0].copy()
        import pandas as pd

        return pd.concat(parts).copy()


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
        frame = ctx.series.series(self.metric, ctx.now - lookback, ctx.now + timedelta(microseconds=1),
                                  self.step, self.filters or None, self.group_by or None)
        return _groups(frame, self.group_by)


def _groups(frame: pd.DataFrame, group_by: Sequence[str]) -> list[tuple[dict[str, str], pd.Series]]:
    """Split a source frame into (labels, value series ordered by time), groups in label order; rows
    without a value are left out, a missing label is ``""``. (Plain numpy: a round runs this per rule.)"""
    if frame is None or frame.empty:
        return []
    import pandas as pd

    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=float)
    keep = np.flatnonzero(~np.isnan(values))
    if not len(keep):
        return []
    times = frame["timestamp"].to_numpy()[keep]
    rows = keep[np.argsort(times, kind="stable")]  # by time; equal times keep their order
    if not group_by:
        return [({}, pd.Series(values[rows]))]
    columns = [frame[g].to_numpy(dtype=object) for g in group_by]
    members: dict[tuple[str, ...], list[int]] = {}
    for row in rows:
        key = tuple("" if _missing(c[row]) else str(c[row]) for c in columns)
        members.setdefault(key, []).append(row)
    return [(dict(zip(group_by, key)), pd.Series(values[members[key]])) for key in sorted(members)]


def _missing(value: Any) -> bool:
    import pandas as pd  # loaded already: the frame came from it

    return value is None or (isinstance(value, float) and value != value) or value is pd.NaT
