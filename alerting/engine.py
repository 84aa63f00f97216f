"""Scheduled rule evaluation with Prometheus-style states per alert series (rule + label set).

inactive → pending when the condition holds; pending → firing once it has held for ``for``; firing →
resolved once the resolve condition (hysteresis: ``resolve_value``) has held for ``keep_firing_for``.
A series that disappears counts as resolved. A rule that raises keeps its series as they were (an error
never resolves an alert) and is reported. States live in ``alert_rule_state``, so a restarted engine
continues where it stopped.

An engine reads and writes only the states and alerts of its rule set (``config.ruleset``: the rules file or
its ``settings.namespace``): engines of other rule sets on the same database never resolve each other's
alerts. Two engines of the same rule set take turns through a lease (``alerting.lease``); ``evaluate``
takes a ``fence`` that the round's writes commit under, so an engine that lost its lease saves nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, or_, select, update

from agentotel.alerting.config import AlertingConfig
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.rules.base import EvalContext, Rule, Sample
from agentotel.alerting.store import (
    ALERTS,
    NOTIFICATIONS,
    RULE_STATE,
    fingerprint,
    of_project,
    stamp,
    write_tx,
)
from agentotel.core.secrets import redact_text
from agentotel.core.utc import as_utc, utcnow
from agentotel.warehouse.upsert import insert_on_conflict

logger = logging.getLogger(__name__)

Fence = Callable[[Connection, datetime], bool]


class LeaseLost(RuntimeError):
    """Another engine evaluates this rule set now: the round's state changes were not saved."""


@dataclass
class EvaluationReport:
    at: datetime
    counts: Counter = field(default_factory=Counter)  # pending / fired / resolved / firing
    errors: dict[str, str] = field(default_factory=dict)  # rule id → error


class RuleEngine:
    """Evaluates every rule of ``config`` against ``source`` and drives alerts through ``manager``."""

    def __init__(self, engine: Engine, config: AlertingConfig, source: Any, manager: AlertManager | None = None):
        self.engine = engine
        self.config = config
        self.ruleset = config.ruleset
        self.source = source
        self.manager = manager or AlertManager(engine, config)
        self.project = self.manager.project  # the project whose rule states these are (None: default's)

    def evaluate(self, now: datetime | None = None, fence: Fence | None = None) -> EvaluationReport:
        """One evaluation round at ``now`` (default: the current time). With ``fence``, the states are saved
        only if ``fence(conn, now)`` is true inside the saving transaction (else ``LeaseLost``)."""
        now = as_utc(now) or utcnow()
        report = EvaluationReport(now)
        ctx = EvalContext(self.source, now)
        states = self._load_states()
        changed: dict[tuple[str, str], dict[str, Any]] = {key: states[key] for key in self._forget_manually_resolved(states)}
        for rule in self.config.rules:
            try:
                samples = rule.evaluate(ctx)
            except Exception as exc:  # a broken rule or source must not stop the others
                ctx.results[rule.id] = []
                report.errors[rule.id] = redact_text(f"{type(exc).__name__}: {exc}")[:500]
                logger.warning("rule %s: evaluation failed: %s", rule.id, report.errors[rule.id])
                continue
            ctx.results[rule.id] = samples
            seen = set()
            for sample in samples:
                labels = {**rule.labels, **sample.labels}
                fp = fingerprint(rule.id, labels)
                seen.add(fp)
                state = states.get((rule.id, fp)) or {"rule_id": rule.id, "fingerprint": fp, "labels": labels,
                                                       "state": "inactive", "active_since": None, "clear_since": None,
                                                       "alert_id": None, "last_value": None}
                changed[(rule.id, fp)] = self._step(rule, state, sample, labels, now, report)
            for (rule_id, fp), state in states.items():
                if rule_id == rule.id and fp not in seen and state["state"] != "inactive":
                    gone = Sample(state["labels"] or {}, None, False, True)
                    changed[(rule_id, fp)] = self._step(rule, state, gone, state["labels"] or {}, now, report)
        rule_ids = {r.id for r in self.config.rules}
        for state in states.values():  # rules removed from this rule set: their alerts resolve
            if state["rule_id"] not in rule_ids and state["state"] == "firing" and state["alert_id"] is not None:
                self.manager.resolve_alert(state["alert_id"], by="rule-engine")
                report.counts["resolved"] += 1
        self._save(changed.values(), now, fence, stored=set(states))
        return report

    def _step(self, rule: Rule, state: dict[str, Any], sample: Sample, labels: dict[str, str], now: datetime,
              report: EvaluationReport) -> dict[str, Any]:
        state = dict(state)
        previous = state["last_value"]
        if sample.value is not None:
            state["last_value"] = sample.value
        current = state["state"]
        if current in ("inactive", "pending"):
            if not sample.active:
                state.update(state="inactive", active_since=None)
                return state
            if current == "inactive":
                state.update(state="pending", active_since=now)
            if now - (as_utc(state["active_since"]) or now) >= rule.for_:
                annotations = {**rule.annotations, **{k: str(v) for k, v in sample.details.items()}}
                state["alert_id"] = self.manager.create_alert(
                    rule.id, rule.severity, rule.render_message(labels, sample.value), labels, sample.value,
                    annotations, by="rule-engine", ruleset=self.ruleset)
                state.update(state="firing", clear_since=None)
                report.counts["fired"] += 1
            else:
                report.counts["pending"] += 1
            return state
        # firing
        if not sample.clear:
            state["clear_since"] = None
            report.counts["firing"] += 1
            if sample.value is not None and state["alert_id"] is not None and sample.value != previous:
                self.manager.update_alert(state["alert_id"], value=sample.value, audit=False)
            return state
        if state["clear_since"] is None:
            state["clear_since"] = now
        if now - (as_utc(state["clear_since"]) or now) >= rule.keep_firing_for:
            if state["alert_id"] is not None:
                self.manager.resolve_alert(state["alert_id"], by="rule-engine")
            state.update(state="inactive", active_since=None, clear_since=None, alert_id=None)
            report.counts["resolved"] += 1
        else:
            report.counts["firing"] += 1
        return state

    def _load_states(self) -> dict[tuple[str, str], dict[str, Any]]:
        with self.engine.connect() as conn:
            return {(r.rule_id, r.fingerprint): dict(r._mapping)
                    for r in conn.execute(select(RULE_STATE).where(RULE_STATE.c.ruleset == self.ruleset,
                                                                   of_project(RULE_STATE, self.project)))}

    def _forget_manually_resolved(self, states: dict[tuple[str, str], dict[str, Any]]) -> list[tuple[str, str]]:
        """A firing series whose alert was resolved by hand starts over (fires again if still true)."""
        ids = [s["alert_id"] for s in states.values() if s["state"] == "firing" and s["alert_id"] is not None]
        if not ids:
            return []
        with self.engine.connect() as conn:
            resolved = set(conn.execute(select(ALERTS.c.id).where(ALERTS.c.id.in_(ids), ALERTS.c.status == "resolved")).scalars())
        reset = []
        for key, state in states.items():
            if state["alert_id"] in resolved:
                state.update(state="inactive", active_since=None, clear_since=None, alert_id=None)
                reset.append(key)
        return reset

    def _save(self, states: Iterable[dict[str, Any]], now: datetime, fence: Fence | None = None,
              stored: set[tuple[str, str]] | None = None) -> None:
        """Write the states that are pending or firing; delete the inactive ones that were stored (all of
        them when ``stored`` is not given)."""
        keep: list[dict[str, Any]] = []
        drop: list[dict[str, Any]] = []
        for s in states:
            if s["state"] != "inactive":
                keep.append(s)
            elif stored is None or (s["rule_id"], s["fingerprint"]) in stored:
                drop.append(s)
        rule_ids = {r.id for r in self.config.rules}
        mine = and_(RULE_STATE.c.ruleset == self.ruleset, of_project(RULE_STATE, self.project))
        with write_tx(self.engine) as conn:
            if fence is not None and not fence(conn, now):
                raise LeaseLost(f"rule set {self.ruleset!r} is evaluated by another engine now")
            if keep:
                rows = [{**{k: s.get(k) for k in ("rule_id", "fingerprint", "labels", "state", "active_since",
                                                   "clear_since", "last_value", "alert_id")},
                         "ruleset": self.ruleset, "last_eval_at": now, **stamp(self.project)} for s in keep]
                insert_on_conflict(conn, RULE_STATE, rows, ["ruleset", "rule_id", "fingerprint"],
                                   update_columns=["labels", "state", "active_since", "clear_since", "last_value",
                                                   "alert_id", "last_eval_at"])
            if drop:
                conn.execute(delete(RULE_STATE).where(mine, or_(*[
                    and_(RULE_STATE.c.rule_id == s["rule_id"], RULE_STATE.c.fingerprint == s["fingerprint"])
                    for s in drop])))
            # series of rules no longer in this rule set
            conn.execute(delete(RULE_STATE).where(mine, RULE_STATE.c.rule_id.not_in(rule_ids)) if rule_ids
                         else delete(RULE_STATE).where(mine))

    def adopt_legacy(self) -> int:
        """Take over what was written before rule sets existed (rule set ``""``): the states of this rule
        set's rules, the alerts they point to and the notifications of those alerts still on the way, so an
        upgraded engine continues its firing alerts instead of leaving them behind. Returns states adopted."""
        if not self.ruleset:
            return 0
        rule_ids = [r.id for r in self.config.rules]
        if not rule_ids:
            return 0
        legacy = and_(RULE_STATE.c.ruleset == "", RULE_STATE.c.rule_id.in_(rule_ids))
        with write_tx(self.engine) as conn:
            alert_ids = [a for a in conn.execute(select(RULE_STATE.c.alert_id).where(legacy)).scalars() if a is not None]
            adopted = conn.execute(update(RULE_STATE).where(legacy).values(ruleset=self.ruleset)).rowcount or 0
            if alert_ids:
                conn.execute(update(ALERTS).where(ALERTS.c.id.in_(alert_ids), ALERTS.c.ruleset == "").values(
                    ruleset=self.ruleset))
                conn.execute(update(NOTIFICATIONS).where(
                    NOTIFICATIONS.c.alert_id.in_(alert_ids), NOTIFICATIONS.c.ruleset == "",
                    NOTIFICATIONS.c.channel.in_(list(self.config.channels))).values(ruleset=self.ruleset))
        if adopted:
            logger.info("rule set %s: adopted %d alert series written before rule sets", self.ruleset, adopted)
        return int(adopted)
