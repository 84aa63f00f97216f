"""Scheduled rule evaluation with Prometheus-style states per alert series (rule + label set).

inactive → pending when the condition holds; pending → firing once it has held for ``for``; firing →
resolved once the resolve condition (hysteresis: ``resolve_value``) has held for ``keep_firing_for``.
A series that disappears counts as resolved. A rule that raises keeps its series as they were (an error
never resolves an alert) and is reported. States live in ``alert_rule_state``, so a restarted engine
continues where it stopped.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, or_, select, true

from agentotel.alerting.config import AlertingConfig
from agentotel.alerting.manager import AlertManager
from agentotel.alerting.rules.base import EvalContext, Rule, Sample
from agentotel.alerting.store import ALERTS, RULE_STATE, fingerprint, write_tx
from agentotel.core.secrets import redact_text
from agentotel.core.utc import as_utc, utcnow
from agentotel.warehouse.upsert import insert_on_conflict

logger = logging.getLogger(__name__)


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
        self.source = source
        self.manager = manager or AlertManager(engine, config)

    def evaluate(self, now: datetime | None = None) -> EvaluationReport:
        """One evaluation round at ``now`` (default: the current time)."""
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
        for state in states.values():  # rules removed from the file: their alerts resolve
            if state["rule_id"] not in rule_ids and state["state"] == "firing" and state["alert_id"] is not None:
                self.manager.resolve_alert(state["alert_id"], by="rule-engine")
                report.counts["resolved"] += 1
        self._save(changed.values(), now)
        return report

    def _step(self, rule: Rule, state: dict[str, Any], sample: Sample, labels: dict[str, str], now: datetime,
              report: EvaluationReport) -> dict[str, Any]:
        state = dict(state)
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
                    annotations, by="rule-engine")
                state.update(state="firing", clear_since=None)
                report.counts["fired"] += 1
            else:
                report.counts["pending"] += 1
            return state
        # firing
        if not sample.clear:
            state["clear_since"] = None
            report.counts["firing"] += 1
            if sample.value is not None and state["alert_id"] is not None:
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
            return {(r.rule_id, r.fingerprint): dict(r._mapping) for r in conn.execute(select(RULE_STATE))}

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

    def _save(self, states: Any, now: datetime) -> None:
        keep: list[dict[str, Any]] = []
        drop: list[dict[str, Any]] = []
        for s in states:
            (drop if s["state"] == "inactive" else keep).append(s)
        rule_ids = {r.id for r in self.config.rules}
        with write_tx(self.engine) as conn:
            if keep:
                rows = [{**{k: s.get(k) for k in ("rule_id", "fingerprint", "labels", "state", "active_since",
                                                   "clear_since", "last_value", "alert_id")}, "last_eval_at": now}
                        for s in keep]
                insert_on_conflict(conn, RULE_STATE, rows, ["rule_id", "fingerprint"],
                                   update_columns=["labels", "state", "active_since", "clear_since", "last_value",
                                                   "alert_id", "last_eval_at"])
            if drop:
                conn.execute(delete(RULE_STATE).where(or_(*[
                    and_(RULE_STATE.c.rule_id == s["rule_id"], RULE_STATE.c.fingerprint == s["fingerprint"])
                    for s in drop])))
            # series of rules no longer in the file
            conn.execute(delete(RULE_STATE).where(RULE_STATE.c.rule_id.not_in(rule_ids) if rule_ids else true()))
