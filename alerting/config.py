"""The alert rules file: its pydantic models, the loader, and the checks across entries.

File layout::

    settings: {evaluation_interval: 60s, group_wait: 30s, group_interval: 5m, repeat_interval: 4h}
    channels: {slack: {type: slack, url_env: SLACK_WEBHOOK_URL}, ...}
    escalation_policies: {default: [{after: 0s, channels: [slack]}, {after: 15m, channels: [pagerduty]}]}
    rules:
      - {id: high-error-rate, type: threshold, metric: error_rate, op: ">", value: 0.05, for: 5m}

Rule types live in ``alerting.rules``, channel types in ``alerting.channels``. Every problem is reported
as one ``RuleError`` naming the file, the line and the rule: ``file:line: rule 'id': message``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

from agentotel.alerting.channels.registry import CHANNEL_TYPES
from agentotel.alerting.rules.anomaly import AnomalyRule
from agentotel.alerting.rules.base import Rule
from agentotel.alerting.rules.composite import CompositeRule
from agentotel.alerting.rules.custom import CustomRule
from agentotel.alerting.rules.threshold import ThresholdRule
from agentotel.alerting.rules.trend import TrendRule
from agentotel.alerting.spec import Duration, Loc, PositiveInt, Problem, Spec, Text, describe, field_path
from agentotel.core.projects import DEFAULT_PROJECT
from agentotel.core.yaml_lines import LocatedDocument, LocatedSyntaxError, parse_located

RuleSpec = Annotated[ThresholdRule | AnomalyRule | TrendRule | CompositeRule | CustomRule, Field(discriminator="type")]
RULE_TYPES = ("threshold", "anomaly", "trend", "composite", "custom")
M = TypeVar("M", bound=BaseModel)


class RuleError(ValueError):
    """A rule file problem, located: ``file:line: rule 'id': message``."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None, rule: str | None = None):
        self.file, self.line, self.rule, self.detail = file, line, rule, message
        where = f"{file or '<rules>'}:{line}" if line else (file or "<rules>")
        super().__init__(f"{where}: " + (f"rule {rule!r}: " if rule else "") + message)


# --- the file's models ------------------------------------------------------------------------------------


class Settings(Spec):
    """``settings:``: the rule set's name, evaluation and notification timing (Alertmanager's ``group_wait``,
    ``group_interval``, ``repeat_interval``), the redelivery lease, and internal hosts channels may reach."""

    namespace: Text | None = None  # the rule set's name; default: the rules file's absolute path
    evaluation_interval: Duration = timedelta(seconds=60)
    dedup_window: Duration = timedelta(minutes=5)
    group_wait: Duration = timedelta(0)
    group_interval: Duration = timedelta(0)
    repeat_interval: Duration = timedelta(hours=4)  # 0s: no reminders
    redelivery_lease: Duration = timedelta(seconds=15)
    max_attempts: PositiveInt = 8
    backoff_base: Duration = timedelta(seconds=2)
    backoff_max: Duration = timedelta(minutes=5)
    allow_hosts: list[Text] = []

    @field_validator("evaluation_interval", "redelivery_lease")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @field_validator("namespace")
    @classmethod
    def _named(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        if value is not None and value.strip().startswith(PROJECT_RULESET_MARK):  # a project's rule set is its own
            raise ValueError(f"must not start with {PROJECT_RULESET_MARK!r} (the mark of a project's rule sets)")
        return value


class RateLimitSpec(Spec):
    """``rate_limit: {count: 20, per: 1m}`` of a channel: at most ``count`` messages per ``per``."""

    count: PositiveInt
    per: Duration


class TierSpec(Spec):
    """One escalation tier: the channels notified once an unacknowledged alert has fired for ``after``."""

    after: Duration = timedelta(0)
    channels: list[Text]


class RulesFile(Spec):
    """The whole file; each channel is checked against its type's options model by ``parse_rules``."""

    settings: Settings = Settings()
    channels: dict[str, dict[str, Any]] = {}
    escalation_policies: dict[str, Annotated[list[TierSpec], Field(min_length=1)]] = {}
    rules: list[RuleSpec] = []


# --- what the rest of alerting uses ---------------------------------------------------------------------------


@dataclass
class ChannelConfig:
    """A channel of the file: ``options`` as given (without ``type`` and ``rate_limit``)."""

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
    settings: Settings = field(default_factory=Settings)
    file: str | None = None

    @property
    def ruleset(self) -> str:
        """The rule set this configuration is: ``settings.namespace``, else the rules file's absolute path,
        else ``""`` (no file: the rule set of alerts made through the API). It owns the alerts, rule states
        and notifications it produces; engines of other rule sets never touch them."""
        if self.settings.namespace:
            return self.settings.namespace.strip()[:255]
        return str(Path(self.file).resolve())[-255:] if self.file else ""

    def for_project(self, project: str | None) -> AlertingConfig:
        """This configuration as the rule set of ``project``: unchanged for the default project (and None),
        else named ``@<project>:<rule set>`` (``project_ruleset``), so that projects running the same rules
        keep their rule states, alerts, notifications and leases apart."""
        if project is None or project == DEFAULT_PROJECT:
            return self
        named = self.settings.model_copy(update={"namespace": project_ruleset(self.ruleset, project)})
        return dataclasses.replace(self, settings=named)

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def policy_for(self, rule_id: str) -> list[EscalationTier]:
        rule = self.rule(rule_id)
        return self.policies.get(rule.escalation if rule else "default", [])


def project_ruleset(ruleset: str, project: str) -> str:
    """The name of rule set ``ruleset`` run for ``project`` (not the default project)."""
    return f"{PROJECT_RULESET_MARK}{project}:{ruleset}"[:255]


PROJECT_RULESET_MARK = "@"  # the rule sets of projects other than the default start with it


# --- loading --------------------------------------------------------------------------------------------------


def load_rules(path: str | Path) -> AlertingConfig:
    """Read and validate a rules file; raises ``RuleError`` naming the file, line and rule."""
    file = str(path)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"cannot read: {exc.strerror}", file=file) from None
    except UnicodeDecodeError:
        raise RuleError("cannot read: not UTF-8 text", file=file) from None
    return parse_rules(text, file)


def parse_rules(text: str, file: str | None = None) -> AlertingConfig:
    """Validate rules YAML given as text (see ``load_rules``)."""
    try:
        document = parse_located(text)
    except LocatedSyntaxError as exc:
        raise RuleError(str(exc), file, exc.line) from None
    data = {} if document.data is None else document.data
    if not isinstance(data, dict):
        raise RuleError("the top level must be a mapping with a 'rules' list", file, 1)
    try:
        spec = RulesFile.model_validate(data)
    except ValidationError as exc:
        raise _located(exc.errors()[0], document, file) from None
    channels = {name: _channel(name, raw, document, file) for name, raw in spec.channels.items()}
    policies = {name: _policy(name, tiers, channels, document, file) for name, tiers in spec.escalation_policies.items()}
    return AlertingConfig(_rules(spec.rules, policies, document, file), channels, policies, spec.settings, file)


def _channel(name: str, raw: dict[str, Any], document: LocatedDocument, file: str | None) -> ChannelConfig:
    """``type`` picks the options model (``channels.registry``); ``rate_limit`` is for the queue."""
    where: Loc = ("channels", name)
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in CHANNEL_TYPES:
        given = "" if kind is None else f", not {kind!r}"
        raise _error(Problem(where, f"'type' must be one of {', '.join(CHANNEL_TYPES)}{given}", (*where, "type")),
                     document, file)
    options = {k: v for k, v in raw.items() if k not in ("type", "rate_limit") and v is not None}
    _validate(CHANNEL_TYPES[kind].Options, options, where, document, file)
    limit = None if raw.get("rate_limit") is None else _validate(
        RateLimitSpec, raw["rate_limit"], (*where, "rate_limit"), document, file)
    return ChannelConfig(name, kind, options, document.line_of(where), (limit.count, limit.per) if limit else None)


def _validate(model: type[M], data: Any, where: Loc, document: LocatedDocument, file: str | None) -> M:
    """``model`` validated from ``data`` found at ``where`` in the file."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise _located({**error, "loc": (*where, *error["loc"])}, document, file) from None


def _policy(name: str, tiers: list[TierSpec], channels: Mapping[str, ChannelConfig], document: LocatedDocument,
            file: str | None) -> list[EscalationTier]:
    """The tiers of policy ``name`` by ``after``; every channel they name must exist."""
    for i, tier in enumerate(tiers):
        for j, channel in enumerate(tier.channels):
            if channel not in channels:
                at: Loc = ("escalation_policies", name, i, "channels", j)
                raise _error(Problem(at[:3], f"unknown channel {channel!r}", at), document, file)
    return sorted((EscalationTier(t.after, list(t.channels)) for t in tiers), key=lambda t: t.after)


def _rules(specs: Sequence[Rule], policies: Mapping[str, list[EscalationTier]], document: LocatedDocument,
           file: str | None) -> list[Rule]:
    """The rules, located, with unique ids, known escalation policies and references, in evaluation order."""
    rules: dict[str, Rule] = {}
    ids = {r.id for r in specs}
    for i, rule in enumerate(specs):
        rule.line = document.line_of(("rules", i))
        if rule.id in rules:
            raise RuleError("duplicate rule id", file, rule.line, rule.id)
        if rule.escalation != "default" and rule.escalation not in policies:
            raise RuleError(f"unknown escalation policy {rule.escalation!r}", file,
                            document.line_of(("rules", i, "escalation")), rule.id)
        missing = sorted(rule.depends_on() - ids)
        if missing:
            raise RuleError(f"expr: unknown rule {missing[0]!r}", file, document.line_of(("rules", i, "expr")), rule.id)
        rules[rule.id] = rule
    return _ordered(rules, file)


def _ordered(rules: dict[str, Rule], file: str | None) -> list[Rule]:
    """Rules in an order where every composite comes after the rules it refers to."""
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


# --- errors ---------------------------------------------------------------------------------------------------


def _located(error: Mapping[str, Any], document: LocatedDocument, file: str | None) -> RuleError:
    """One pydantic error of the file as a ``RuleError`` at the line of the value it is about."""
    loc = tuple(error.get("loc", ()))
    if len(loc) >= 3 and loc[0] == "rules" and isinstance(loc[1], int):  # drop the rule union's tag
        raw = _get(document.data, loc[:2])
        if isinstance(raw, dict) and loc[2] == raw.get("type"):
            loc = (*loc[:2], *loc[3:])
    problem = describe({**error, "loc": loc}, {"type": RULE_TYPES})
    return _error(problem, document, file)


def _error(problem: Problem, document: LocatedDocument, file: str | None) -> RuleError:
    """``problem`` worded for its section: ``settings.key:``, ``channel 'x':``, ``escalation policy 'p':``
    or the rule's id (``rule #n`` while the rule has none)."""
    line = document.line_of(problem.at)
    path, message = problem.path, problem.message
    section, rest = (path[0], path[1:]) if path else (None, ())
    if section == "rules" and rest and isinstance(rest[0], int):
        raw = _get(document.data, path[:2])
        rule_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) and raw["id"].strip() else None
        where = "" if rule_id else f"rule #{rest[0] + 1}: "
        return RuleError(where + _field(rest[1:], message), file, line, rule_id)
    if section == "channels" and rest:
        return RuleError(f"channel {rest[0]!r}: " + _field(rest[1:], message), file, line)
    if section == "escalation_policies" and rest:
        tier = f"tier {rest[1] + 1}: " if len(rest) > 1 and isinstance(rest[1], int) else ""
        return RuleError(f"escalation policy {rest[0]!r}: {tier}" + _field(rest[2 if tier else 1:], message), file, line)
    return RuleError(_field(path, message), file, line)


def _field(path: Loc, message: str) -> str:
    return f"{field_path(path)}: {message}" if path else message


def _get(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data
