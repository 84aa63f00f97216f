"""``agentotel alerts check-rules FILE``: validate a rules file without opening the warehouse (so it needs no
database and prints nothing but its verdict). A bad file is one line, ``file:line: rule 'id': problem``, exit 2."""

from __future__ import annotations

import argparse

from agentotel.alerting.config import AlertingConfig, RuleError, load_rules
from agentotel.core.errors import CommandError
from agentotel.warehouse.analytics import METRICS


def load(path: str) -> AlertingConfig:
    """The rules file at ``path``; ``CommandError`` naming file, line and rule when it is not valid."""
    try:
        return load_rules(path)
    except RuleError as exc:
        raise CommandError(str(exc)) from None


def check_rules(args: argparse.Namespace) -> int:
    config = load(args.file)
    types: dict[str, int] = {}
    for rule in config.rules:
        types[rule.type] = types.get(rule.type, 0) + 1
    print(f"{args.file}: OK — {len(config.rules)} rules ("
          + ", ".join(f"{n} {t}" for t, n in sorted(types.items())) + f"), {len(config.channels)} channels, "
          f"{len(config.policies)} escalation policies")
    for rule in config.rules:
        metric = getattr(rule, "metric", None)
        if metric and metric not in METRICS and not metric.startswith(("metric:", "evaluation:")):
            print(f"warning: rule {rule.id!r} (line {rule.line}): metric {metric!r} is not an analytics metric "
                  f"({', '.join(sorted(METRICS))}, metric:<name>, evaluation:<name>)")
    return 0
