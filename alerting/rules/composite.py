"""Composite rules: AND / OR / NOT of other rules' current conditions, matched per label set."""

from __future__ import annotations

from typing import Literal

from pydantic import PrivateAttr, model_validator

from agentotel.alerting.expr import Tree, names, parse_expr
from agentotel.alerting.expr import evaluate as evaluate_tree
from agentotel.alerting.rules.base import EvalContext, Rule, Sample, label_key
from agentotel.alerting.spec import FieldError, Text


class CompositeRule(Rule):
    """``expr: "(errors and slow) and not maintenance"``; a referenced rule counts as true for a label
    set when one of its active samples has a subset of those labels."""

    type: Literal["composite"]
    expr: Text
    _tree: Tree | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _parse(self) -> CompositeRule:
        try:
            self._tree = parse_expr(self.expr)
        except ValueError as exc:
            raise FieldError("expr", str(exc)) from None
        return self

    def depends_on(self) -> set[str]:
        return names(self._tree)

    def default_message(self) -> str:
        """``rule-id: a and not b``: the condition that holds (a composite has no value of its own)."""
        return "{rule_id}: " + self.expr.replace("{", "{{").replace("}", "}}")

    def evaluate(self, ctx: EvalContext) -> list[Sample]:
        refs = {name: ctx.results.get(name, []) for name in self.depends_on()}
        universe: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        for samples in refs.values():
            for s in samples:
                universe.setdefault(label_key(s.labels), dict(s.labels))
        if not universe:
            universe[()] = {}
        out = []
        for key, labels in universe.items():
            mine = set(key)

            def truth(name: str, _mine: set[tuple[str, str]] = mine) -> bool:
                return any(s.active for s in refs[name] if set(label_key(s.labels)) <= _mine)

            active = evaluate_tree(self._tree or ("ref", ""), truth)
            out.append(Sample(labels, None, active, not active))
        return out
