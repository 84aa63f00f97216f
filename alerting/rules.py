"""Alert rules: the YAML format, its validation (errors name file, line and rule) and the five rule types.

A rule turns metric series into *samples*: one per label set, each saying whether the firing condition
holds (``active``) and whether the resolve condition holds (``clear``; differs from ``not active`` only
where a rule has hysteresis). The engine (``engine.py``) turns samples into pending → firing → resolved.

File layout::

    settings: {evaluation_interval: 60s, dedup_window: 5m}
    channels: {slack: {type: slack, url_env: SLACK_WEBHOOK_URL}, ...}
    escalation_policies: {default: [{after: 0s, channels: [slack]}, {after: 15m, channels: [pagerduty]}]}
    rules:
      - {id: high-error-rate, type: threshold, metric: error_rate, op: ">", value: 0.05, for: 5m}
"""

from __future__ import annotations

import importlib
import operator
import re
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from agentotel.core import anomaly
from agentotel.core.durations import parse_duration

SEVERITIES = ("critical", "error", "warning", "info")
RULE_TYPES = ("threshold", "anomaly", "trend", "composite", "custom")


class RuleError(ValueError):
    """A rule file problem, located: ``file:line: rule 'id': message``."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None, rule: str | None = None):
        self.file, self.line, self.rule, self.detail = file, line, rule, message
        where = f"{file or '<rules>'}:{line}" if line else (file or "<rules>")
        super().__init__(f"{where}: " + (f"rule {rule!r}: " if rule else "") + message)



# --- samples and evaluation context -------------------------------------------------------------------


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
    source: Any  # MetricSource
    now: datetime
    results: dict[str, list[Sample]] = field(default_factory=dict)


def _label_key(labels: Mapping[str, Any]) -> tuple:
    return tuple(sorted((str(k), str(v)) for k, v in labels.items()))


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


# --- rule types ------------------------------------------------------------------------------------------

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}
_AGGREGATIONS = ("last", "avg", "min", "max", "sum", "median", "p95")


@dataclass
class Rule:
    """Fields every rule has."""

    id: str
    type: str
    severity: str = "warning"
    message: str = ""
    for_: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    escalation: str = "default"
    line: int | None = None

    def depends_on(self) -> set[str]:
        return set()

    def evaluate(self, ctx: EvalContext) -> list[Sample]:  # pragma: no cover - abstract
        raise NotImplementedError

    def render_message(self, labels: Mapping[str, Any], value: float | None) -> str:
        """``message`` with ``{value}``, ``{rule_id}`` and label placeholders filled; unknown ones kept."""
        template = self.message or f"{self.id}: value {{value}}"
        fields = _KeepMissing({**self.labels, **labels, "rule_id": self.id, "severity": self.severity})
        fields["value"] = value if value is not None else float("nan")
        try:
            return string.Formatter().vformat(template, (), fields)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            return template


class _KeepMissing(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass
class MetricRule(Rule):
    metric: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    group_by: list[str] = field(default_factory=list)
    step: timedelta = timedelta(minutes=1)

    def fetch(self, ctx: EvalContext, lookback: timedelta) -> list[tuple[dict[str, str], pd.Series]]:
        # the end bound is exclusive: include the bucket the evaluation time falls in
        frame = ctx.source.series(self.metric, ctx.now - lookback, ctx.now + timedelta(microseconds=1),
                                  self.step, self.filters or None, self.group_by or None)
        return _groups(frame, self.group_by)


@dataclass
class ThresholdRule(MetricRule):
    """``aggregation(metric over window) op value``; ``resolve_value`` adds hysteresis."""

    op: str = ">"
    value: float = 0.0
    resolve_value: float | None = None
    window: timedelta = timedelta(minutes=5)
    aggregation: str = "avg"

    def evaluate(self, ctx: EvalContext) -> list[Sample]:
        compare = _OPS[self.op]
        out = []
        for labels, values in self.fetch(ctx, self.window):
            if values.empty:
                continue
            current = _aggregate(values, self.aggregation)
            active = bool(compare(current, self.value))
            still = compare(current, self.resolve_value) if self.resolve_value is not None else active
            out.append(Sample(labels, current, active, not still, {"threshold": self.value}))
        return out


def _aggregate(values: pd.Series, how: str) -> float:
    if how == "last":
        return float(values.iloc[-1])
    if how == "p95":
        return float(values.quantile(0.95))
    return float(getattr(values, {"avg": "mean"}.get(how, how))())


@dataclass
class AnomalyRule(MetricRule):
    """The latest value is outside the normal range of a rolling window (z-score or median/MAD).

    ``season``: ``none``, ``auto`` (autocorrelation picks the period when one is clear) or a duration;
    with a season the baseline is the values at the same phase of earlier periods.
    """

    lookback: timedelta = timedelta(hours=6)
    method: str = "mad"
    threshold: float = 3.5
    direction: str = "both"
    min_points: int = 10
    season: str | timedelta = "none"

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


@dataclass
class TrendRule(MetricRule):
    """A continuous increase (or decrease) over the last ``windows`` steps, with a significant slope."""

    windows: int = 6
    direction: str = "increase"
    alpha: float = 0.05
    strict: bool = True
    min_slope: float = 0.0

    def evaluate(self, ctx: EvalContext) -> list[Sample]:
        from scipy.stats import linregress

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
                fit = linregress(np.arange(len(y), dtype=float), y)
                slope, p_value = float(fit.slope), float(fit.pvalue)
            active = monotonic and slope * sign > self.min_slope and p_value < self.alpha
            out.append(Sample(labels, float(y[-1]), active, not active, {"slope_per_step": slope, "p_value": p_value}))
        return out


@dataclass
class CompositeRule(Rule):
    """AND / OR / NOT of other rules' current conditions, matched per label set."""

    expr: str = ""
    tree: Any = None

    def depends_on(self) -> set[str]:
        return _names(self.tree)

    def evaluate(self, ctx: EvalContext) -> list[Sample]:
        refs = {name: ctx.results.get(name, []) for name in self.depends_on()}
        universe: dict[tuple, dict[str, str]] = {}
        for samples in refs.values():
            for s in samples:
                universe.setdefault(_label_key(s.labels), dict(s.labels))
        if not universe:
            universe[()] = {}
        out = []
        for key, labels in universe.items():
            mine = set(key)

            def truth(name: str, _mine: set = mine) -> bool:
                return any(s.active for s in refs[name] if set(_label_key(s.labels)) <= _mine)

            active = _eval_tree(self.tree, truth)
            out.append(Sample(labels, None, active, not active))
        return out


@dataclass
class CustomRule(Rule):
    """``function: "package.module:callable"`` called as ``fn(source, now, **params)``.

    It returns a bool, a number (active when truthy), a dict ``{labels, value, active[, clear]}`` or a
    list of such dicts.
    """

    function: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    func: Callable[..., Any] | None = None

    def evaluate(self, ctx: EvalContext) -> list[Sample]:
        result = self.func(ctx.source, ctx.now, **self.params)
        items = result if isinstance(result, list) else [result]
        out = []
        for item in items:
            if isinstance(item, Mapping):
                active = bool(item.get("active", False))
                value = item.get("value")
                out.append(Sample({str(k): str(v) for k, v in (item.get("labels") or {}).items()},
                                  None if value is None else float(value), active, bool(item.get("clear", not active))))
            elif item is not None:
                active = bool(item)
                value = None if isinstance(item, bool) else float(item)
                out.append(Sample({}, value, active, not active))
        return out


# --- composite expressions ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(\(|\)|[A-Za-z_][\w.\-]*)")


def parse_expr(text: str) -> Any:
    """Parse ``a and (b or not c)`` into nested tuples; raises ValueError with the position."""
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ValueError(f"unexpected character at {pos}: {text[pos:pos + 10]!r}")
        tokens.append(match.group(1))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    tree, rest = _parse_or(tokens)
    if rest:
        raise ValueError(f"unexpected {rest[0]!r}")
    return tree


def _parse_or(tokens: list[str]) -> tuple[Any, list[str]]:
    left, tokens = _parse_and(tokens)
    while tokens and tokens[0].lower() == "or":
        right, tokens = _parse_and(tokens[1:])
        left = ("or", left, right)
    return left, tokens


def _parse_and(tokens: list[str]) -> tuple[Any, list[str]]:
    left, tokens = _parse_not(tokens)
    while tokens and tokens[0].lower() == "and":
        right, tokens = _parse_not(tokens[1:])
        left = ("and", left, right)
    return left, tokens


def _parse_not(tokens: list[str]) -> tuple[Any, list[str]]:
    if not tokens:
        raise ValueError("expression ends too early")
    head = tokens[0]
    if head.lower() == "not":
        inner, rest = _parse_not(tokens[1:])
        return ("not", inner), rest
    if head == "(":
        inner, rest = _parse_or(tokens[1:])
        if not rest or rest[0] != ")":
            raise ValueError("missing ')'")
        return inner, rest[1:]
    if head == ")" or head.lower() in ("and", "or"):
        raise ValueError(f"unexpected {head!r}")
    return ("ref", head), tokens[1:]


def _names(tree: Any) -> set[str]:
    if tree is None:
        return set()
    if tree[0] == "ref":
        return {tree[1]}
    return set().union(*(_names(t) for t in tree[1:]))


def _eval_tree(tree: Any, truth: Callable[[str], bool]) -> bool:
    kind = tree[0]
    if kind == "ref":
        return truth(tree[1])
    if kind == "not":
        return not _eval_tree(tree[1], truth)
    if kind == "and":
        return _eval_tree(tree[1], truth) and _eval_tree(tree[2], truth)
    return _eval_tree(tree[1], truth) or _eval_tree(tree[2], truth)


# --- configuration file ----------------------------------------------------------------------------------------


@dataclass
class ChannelConfig:
    name: str
    type: str
    options: dict[str, Any]
    line: int | None = None
    rate_limit: tuple[int, timedelta] | None = None  # at most count messages per period


@dataclass
class EscalationTier:
    after: timedelta
    channels: list[str]


@dataclass
class AlertingConfig:
    """A parsed rules file: rules in evaluation order, channels, escalation policies, settings."""

    rules: list[Rule] = field(default_factory=list)
    channels: dict[str, ChannelConfig] = field(default_factory=dict)
    policies: dict[str, list[EscalationTier]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    file: str | None = None

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def policy_for(self, rule_id: str) -> list[EscalationTier]:
        rule = self.rule(rule_id)
        return self.policies.get(rule.escalation if rule else "default", [])


SETTINGS_DEFAULTS: dict[str, Any] = {
    "evaluation_interval": "60s",
    "dedup_window": "5m",
    "group_wait": "0s",
    "max_attempts": 8,
    "backoff_base": "2s",
    "backoff_max": "5m",
    "allow_hosts": [],
}


class _LineLoader(yaml.SafeLoader):
    """Safe YAML loader that remembers the line of every mapping and of each of its keys."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)  # YAML merge keys (<<: *defaults)
    mapping = {}
    lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[key] = key_node.start_mark.line + 1
    mapping["__line__"] = node.start_mark.line + 1
    mapping["__lines__"] = lines
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in ("__line__", "__lines__")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def load_rules(path: str | Path) -> AlertingConfig:
    """Read and validate a rules file; raises ``RuleError`` naming the file, line and rule."""
    path = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"cannot read: {exc.strerror}", file=path) from None
    return parse_rules(text, path)


def parse_rules(text: str, file: str | None = None) -> AlertingConfig:
    """Validate rules YAML given as text (see ``load_rules``)."""
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RuleError(f"invalid YAML: {getattr(exc, 'problem', exc)}", file, mark.line + 1 if mark else None) from None
    if doc is None:
        doc = {"__line__": 1, "__lines__": {}}
    if not isinstance(doc, dict):
        raise RuleError("the top level must be a mapping with a 'rules' list", file, 1)
    _unknown(doc, {"settings", "channels", "escalation_policies", "rules"}, file, None)
    config = AlertingConfig(file=file)
    config.settings = _settings(doc.get("settings") or {}, file)
    config.channels = _channels(doc.get("channels") or {}, file)
    config.policies = _policies(doc.get("escalation_policies") or {}, config.channels, file)
    rules_raw = doc.get("rules") or []
    if not isinstance(rules_raw, list):
        raise RuleError("'rules' must be a list", file, doc["__lines__"].get("rules"))
    rules: dict[str, Rule] = {}
    for raw in rules_raw:
        rule = _rule(raw, file)
        if rule.id in rules:
            raise RuleError("duplicate rule id", file, rule.line, rule.id)
        if rule.escalation != "default" and rule.escalation not in config.policies:
            raise RuleError(f"unknown escalation policy {rule.escalation!r}", file, rule.line, rule.id)
        rules[rule.id] = rule
    config.rules = _ordered(rules, file)
    return config


def _unknown(raw: dict, allowed: set[str], file: str | None, rule: str | None) -> None:
    for key in raw:
        if key not in allowed and key not in ("__line__", "__lines__"):
            raise RuleError(f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})",
                            file, raw["__lines__"].get(key, raw["__line__"]), rule)


def _settings(raw: Any, file: str | None) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RuleError("'settings' must be a mapping", file)
    _unknown(raw, set(SETTINGS_DEFAULTS), file, None)
    merged = {**SETTINGS_DEFAULTS, **_strip(raw)}
    for key in ("evaluation_interval", "dedup_window", "group_wait", "backoff_base", "backoff_max"):
        try:
            merged[key] = parse_duration(merged[key])
        except ValueError as exc:
            raise RuleError(f"settings.{key}: {exc}", file, raw["__lines__"].get(key)) from None
    if not isinstance(merged["max_attempts"], int) or merged["max_attempts"] < 1:
        raise RuleError("settings.max_attempts must be a positive integer", file, raw["__lines__"].get("max_attempts"))
    if not isinstance(merged["allow_hosts"], list):
        raise RuleError("settings.allow_hosts must be a list", file, raw["__lines__"].get("allow_hosts"))
    return merged


def _channels(raw: Any, file: str | None) -> dict[str, ChannelConfig]:
    from agentotel.alerting.handlers import CHANNEL_TYPES

    if not isinstance(raw, dict):
        raise RuleError("'channels' must be a mapping of name → settings", file)
    out = {}
    for name, body in raw.items():
        if name in ("__line__", "__lines__"):
            continue
        line = raw["__lines__"].get(name)
        if not isinstance(body, dict) or body.get("type") not in CHANNEL_TYPES:
            raise RuleError(f"channel {name!r}: 'type' must be one of {', '.join(CHANNEL_TYPES)}", file, line)
        options = _strip(body)
        kind = options.pop("type")
        try:
            rate_limit = _rate_limit(options.pop("rate_limit", None))
            CHANNEL_TYPES[kind].validate_options(options)
        except ValueError as exc:
            raise RuleError(f"channel {name!r}: {exc}", file, line) from None
        out[str(name)] = ChannelConfig(str(name), kind, options, line, rate_limit)
    return out


def _rate_limit(raw: Any) -> tuple[int, timedelta] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("count"), int) or raw["count"] < 1 or "per" not in raw:
        raise ValueError("rate_limit needs {count: <positive integer>, per: <duration>}")
    return raw["count"], parse_duration(raw["per"])


def _policies(raw: Any, channels: dict[str, ChannelConfig], file: str | None) -> dict[str, list[EscalationTier]]:
    if not isinstance(raw, dict):
        raise RuleError("'escalation_policies' must be a mapping of name → tiers", file)
    out: dict[str, list[EscalationTier]] = {}
    for name, tiers in raw.items():
        if name in ("__line__", "__lines__"):
            continue
        line = raw["__lines__"].get(name)
        if not isinstance(tiers, list) or not tiers:
            raise RuleError(f"escalation policy {name!r} must be a non-empty list of tiers", file, line)
        parsed = []
        for tier in tiers:
            tline = tier.get("__line__", line) if isinstance(tier, dict) else line
            if not isinstance(tier, dict) or not isinstance(tier.get("channels"), list):
                raise RuleError(f"escalation policy {name!r}: each tier needs 'channels: [..]'", file, tline)
            for ch in tier["channels"]:
                if ch not in channels:
                    raise RuleError(f"escalation policy {name!r}: unknown channel {ch!r}", file, tline)
            try:
                after = parse_duration(tier.get("after", 0))
            except ValueError as exc:
                raise RuleError(f"escalation policy {name!r}: {exc}", file, tline) from None
            parsed.append(EscalationTier(after, [str(c) for c in tier["channels"]]))
        out[str(name)] = sorted(parsed, key=lambda t: t.after)
    return out


_COMMON = {"id", "type", "severity", "message", "for", "keep_firing_for", "labels", "annotations", "escalation"}
_METRIC = {"metric", "filters", "group_by", "step"}
_ALLOWED = {
    "threshold": _COMMON | _METRIC | {"op", "value", "resolve_value", "window", "aggregation"},
    "anomaly": _COMMON | _METRIC | {"lookback", "method", "threshold", "direction", "min_points", "season"},
    "trend": _COMMON | _METRIC | {"windows", "direction", "alpha", "strict", "min_slope"},
    "composite": _COMMON | {"expr"},
    "custom": _COMMON | {"function", "params"},
}
_CLASSES = {"threshold": ThresholdRule, "anomaly": AnomalyRule, "trend": TrendRule,
            "composite": CompositeRule, "custom": CustomRule}


def _rule(raw: Any, file: str | None) -> Rule:
    if not isinstance(raw, dict):
        raise RuleError("each rule must be a mapping", file)
    line, lines = raw["__line__"], raw["__lines__"]
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id.strip():
        raise RuleError("a rule needs an 'id' (non-empty string)", file, line)
    kind = raw.get("type")
    if kind not in RULE_TYPES:
        raise RuleError(f"'type' must be one of {', '.join(RULE_TYPES)}", file, lines.get("type", line), rule_id)
    _unknown(raw, _ALLOWED[kind], file, rule_id)

    def fail(key: str, message: str) -> RuleError:
        return RuleError(f"{key}: {message}", file, lines.get(key, line), rule_id)

    def get(key: str, convert: Callable[[Any], Any], default: Any = None, required: bool = False) -> Any:
        if key not in raw or raw[key] is None:
            if required:
                raise fail(key, "is required")
            return default
        try:
            return convert(raw[key])
        except (ValueError, TypeError) as exc:
            raise fail(key, str(exc)) from None

    def choice(options: Sequence[str]) -> Callable[[Any], str]:
        def check(v: Any) -> str:
            if v not in options:
                raise ValueError(f"must be one of {', '.join(options)}, not {v!r}")
            return v
        return check

    def str_map(v: Any) -> dict[str, str]:
        if not isinstance(v, dict):
            raise ValueError("must be a mapping")
        return {str(k): str(x) for k, x in _strip(v).items()}

    def str_list(v: Any) -> list[str]:
        if isinstance(v, str):
            return [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ValueError("must be a list of label names")
        return list(v)

    def filter_map(v: Any) -> dict[str, str | list[str]]:
        if not isinstance(v, dict):
            raise ValueError("must be a mapping of label → value or list of values")
        return {str(k): [str(i) for i in x] if isinstance(x, list) else str(x) for k, x in _strip(v).items()}

    def number(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"must be a number, not {v!r}")
        return float(v)

    def positive_int(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"must be a positive integer, not {v!r}")
        return v

    common = dict(
        id=rule_id, type=kind, line=line,
        severity=get("severity", choice(SEVERITIES), "warning"),
        message=get("message", str, ""),
        for_=get("for", parse_duration, timedelta(0)),
        keep_firing_for=get("keep_firing_for", parse_duration, timedelta(0)),
        labels=get("labels", str_map, {}),
        annotations=get("annotations", str_map, {}),
        escalation=get("escalation", str, "default"),
    )
    if kind in ("threshold", "anomaly", "trend"):
        common.update(
            metric=get("metric", str, required=True),
            filters=get("filters", filter_map, {}),
            group_by=get("group_by", str_list, []),
            step=get("step", parse_duration, timedelta(minutes=1)),
        )
        if common["step"].total_seconds() <= 0:
            raise fail("step", "must be positive")
    if kind == "threshold":
        rule = ThresholdRule(
            **common,
            op=get("op", choice(tuple(_OPS)), ">"),
            value=get("value", number, required=True),
            resolve_value=get("resolve_value", number),
            window=get("window", parse_duration, timedelta(minutes=5)),
            aggregation=get("aggregation", choice(_AGGREGATIONS), "avg"),
        )
        if rule.resolve_value is not None:
            if rule.op in ("==", "!="):
                raise fail("resolve_value", f"needs an ordering operator, not {rule.op}")
            if _OPS[rule.op](rule.resolve_value, rule.value) and rule.resolve_value != rule.value:
                raise fail("resolve_value", f"must lie on the resolved side of value {rule.value} (op {rule.op})")
        return rule
    if kind == "anomaly":

        def season(v: Any) -> str | timedelta:
            return v if v in ("auto", "none") else parse_duration(v)

        return AnomalyRule(
            **common,
            lookback=get("lookback", parse_duration, timedelta(hours=6)),
            method=get("method", choice(("mad", "zscore")), "mad"),
            threshold=get("threshold", number, 3.5),
            direction=get("direction", choice(("both", "up", "down")), "both"),
            min_points=get("min_points", positive_int, 10),
            season=get("season", season, "none"),
        )
    if kind == "trend":
        rule = TrendRule(
            **common,
            windows=get("windows", positive_int, 6),
            direction=get("direction", choice(("increase", "decrease")), "increase"),
            alpha=get("alpha", number, 0.05),
            strict=get("strict", bool, True),
            min_slope=get("min_slope", number, 0.0),
        )
        if rule.windows < 3:
            raise fail("windows", "needs at least 3 windows for a slope test")
        return rule
    if kind == "composite":
        expr = get("expr", str, required=True)
        try:
            tree = parse_expr(expr)
        except ValueError as exc:
            raise fail("expr", str(exc)) from None
        return CompositeRule(**common, expr=expr, tree=tree)
    function = get("function", str, required=True)
    params = get("params", lambda v: _strip(v) if isinstance(v, dict) else _raise("must be a mapping"), {})
    return CustomRule(**common, function=function, params=params, func=_import_callable(function, fail))


def _raise(message: str) -> Any:
    raise ValueError(message)


def _import_callable(spec: str, fail: Callable[[str, str], RuleError]) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise fail("function", f"must look like 'package.module:function', not {spec!r}")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise fail("function", f"cannot import {spec!r}: {exc}") from None
    if not callable(obj):
        raise fail("function", f"{spec!r} is not callable")
    return obj


def _ordered(rules: dict[str, Rule], file: str | None) -> list[Rule]:
    """Rules in an order where every composite comes after the rules it refers to."""
    for rule in rules.values():
        for ref in rule.depends_on():
            if ref not in rules:
                raise RuleError(f"expr: unknown rule {ref!r}", file, rule.line, rule.id)
    done: dict[str, Rule] = {}
    visiting: set[str] = set()

    def visit(rule: Rule) -> None:
        if rule.id in done:
            return
        if rule.id in visiting:
            raise RuleError("composite rules refer to each other in a cycle", file, rule.line, rule.id)
        visiting.add(rule.id)
        for ref in sorted(rule.depends_on()):
            visit(rules[ref])
        visiting.discard(rule.id)
        done[rule.id] = rule

    for rule in rules.values():
        visit(rule)
    return list(done.values())
