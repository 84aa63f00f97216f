"""``agentotel alerts run | list | ack | resolve | silence | check-rules | dead-letters``."""

from __future__ import annotations

import argparse
import json

from agentotel.core.cli_args import add_database_argument
from agentotel.core.settings import ALERT_RULES_ENV


def register(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_database_argument(common)
    alerts = sub.add_parser("alerts", help="alert rules, alerts, silences and notifications")
    actions = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")

    run = actions.add_parser("run", parents=[common], help="evaluate rules and deliver notifications")
    run.add_argument("--rules", help=f"rules file (default: ${ALERT_RULES_ENV})")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one round, then deliver what is due and exit")
    mode.add_argument("--interval", type=float, help="seconds between rule evaluations (overrides the file)")
    run.set_defaults(handler=_run)

    listing = actions.add_parser("list", parents=[common], help="firing alerts")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_list)

    ack = actions.add_parser("ack", parents=[common], help="acknowledge an alert")
    ack.add_argument("id", type=int)
    ack.add_argument("--by", required=True, help="who acknowledges")
    ack.set_defaults(handler=_ack)

    resolve = actions.add_parser("resolve", parents=[common], help="resolve an alert")
    resolve.add_argument("id", type=int)
    resolve.add_argument("--by", default="cli", help="who resolves")
    resolve.set_defaults(handler=_resolve)

    silence = actions.add_parser("silence", parents=[common], help="silence notifications of matching alerts")
    silence.add_argument("--match", action="append", required=True, metavar="LABEL=VALUE")
    silence.add_argument("--for", dest="duration", required=True, help="how long, e.g. 2h")
    silence.add_argument("--by", required=True)
    silence.add_argument("--comment")
    silence.set_defaults(handler=_silence)

    check = actions.add_parser("check-rules", help="validate a rules file")
    check.add_argument("file")
    check.set_defaults(handler=_check)

    dead = actions.add_parser("dead-letters", parents=[common], help="list notifications that could not be delivered")
    dead.add_argument("--resend", metavar="ID", help="queue this dead letter again")
    dead.add_argument("--by", default="cli")
    dead.set_defaults(handler=_dead_letters)


def _engine(args: argparse.Namespace):
    from agentotel.core.settings import DatabaseSettings
    from agentotel.warehouse.engine import open_warehouse

    return open_warehouse(DatabaseSettings.resolve(args))


def _load(path: str):
    from agentotel.alerting.rules import RuleError, load_rules
    from agentotel.core.errors import CommandError

    try:
        return load_rules(path)
    except RuleError as exc:
        raise CommandError(str(exc)) from None


def _run(args: argparse.Namespace) -> int:
    import threading
    from datetime import timedelta

    from agentotel.alerting.rules import AlertingConfig
    from agentotel.alerting.service import AlertingService
    from agentotel.core.errors import CommandError
    from agentotel.core.settings import AlertingSettings

    settings = AlertingSettings.resolve(args)
    path = settings.rules_file
    config = _load(path) if path else AlertingConfig()
    if args.interval is not None:
        if args.interval <= 0:
            raise CommandError("--interval must be positive")
        config.settings["evaluation_interval"] = timedelta(seconds=args.interval)
    engine = _engine(args)
    try:
        service = AlertingService(engine, config, allow_hosts=settings.allow_hosts)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.once:
        report = service.tick()
        service.queue.drain(timeout=30)
        if report is not None:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
            print(f"evaluated {len(config.rules)} rules: {counts or 'nothing pending or firing'}")
            for rule_id, error in report.errors.items():
                print(f"rule {rule_id}: {error}")
        print(f"notifications delivered: {service.queue.stats['delivered']}, pending: {service.queue.pending_count()}")
        return 1 if report is not None and report.errors else 0
    stop = threading.Event()
    try:
        service.run(stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def _list(args: argparse.Namespace) -> int:
    from agentotel.alerting.manager import AlertManager

    alerts = AlertManager(_engine(args)).get_active_alerts()
    if args.json:
        print(json.dumps(alerts, indent=2, default=str))
        return 0
    if not alerts:
        print("no firing alerts")
    for a in alerts:
        flags = ("ack:" + str(a["acknowledged_by"]) if a["acknowledged"] else "") + (" silenced" if a["silenced"] else "")
        labels = ",".join(f"{k}={v}" for k, v in a["labels"].items())
        print(f"{a['id']:>6}  {a['severity']:<8} {a['rule_id']:<28} {a['starts_at']}  {labels}  {a['message']}  {flags}".rstrip())
    return 0


def _ack(args: argparse.Namespace) -> int:
    from agentotel.alerting.manager import AlertManager, AlertNotFound
    from agentotel.core.errors import CommandError

    try:
        alert = AlertManager(_engine(args)).acknowledge_alert(args.id, args.by)
    except (AlertNotFound, ValueError) as exc:
        raise CommandError(str(exc).strip("'\"")) from None
    print(f"alert {alert['id']} acknowledged by {alert['acknowledged_by']}")
    return 0


def _resolve(args: argparse.Namespace) -> int:
    from agentotel.alerting.manager import AlertManager, AlertNotFound
    from agentotel.core.errors import CommandError

    try:
        alert = AlertManager(_engine(args)).resolve_alert(args.id, args.by)
    except AlertNotFound as exc:
        raise CommandError(str(exc).strip("'\"")) from None
    print(f"alert {alert['id']} resolved")
    return 0


def _silence(args: argparse.Namespace) -> int:
    from agentotel.alerting.manager import AlertManager
    from agentotel.core.durations import parse_duration
    from agentotel.core.errors import CommandError

    try:
        matchers = dict(m.split("=", 1) for m in args.match)
        silence_id = AlertManager(_engine(args)).add_silence(matchers, args.by, duration=parse_duration(args.duration),
                                                            comment=args.comment)
    except ValueError as exc:
        raise CommandError(f"{exc} (use --match LABEL=VALUE --for 2h)") from None
    print(f"silence {silence_id} created")
    return 0


def _check(args: argparse.Namespace) -> int:
    config = _load(args.file)
    types: dict[str, int] = {}
    for rule in config.rules:
        types[rule.type] = types.get(rule.type, 0) + 1
    print(f"{args.file}: OK — {len(config.rules)} rules ("
          + ", ".join(f"{n} {t}" for t, n in sorted(types.items())) + f"), {len(config.channels)} channels, "
          f"{len(config.policies)} escalation policies")
    try:
        from agentotel.warehouse.analytics import METRICS
    except ImportError:
        return 0
    for rule in config.rules:
        metric = getattr(rule, "metric", None)
        if metric and metric not in METRICS and not metric.startswith(("metric:", "evaluation:")):
            print(f"warning: rule {rule.id!r} (line {rule.line}): metric {metric!r} is not an analytics metric "
                  f"({', '.join(sorted(METRICS))}, metric:<name>, evaluation:<name>)")
    return 0


def _dead_letters(args: argparse.Namespace) -> int:
    from agentotel.alerting.queries import dead_letters
    from agentotel.alerting.queue import NotificationQueue
    from agentotel.core.errors import CommandError

    engine = _engine(args)
    if args.resend:
        if not NotificationQueue(engine).resend(args.resend, by=args.by):
            raise CommandError(f"no dead letter with id {args.resend}")
        print(f"notification {args.resend} queued again")
        return 0
    rows = dead_letters(engine)
    if not rows:
        print("no dead letters")
    for r in rows:
        print(f"{r['id']}  {r['channel']:<14} {r['event']:<11} alert {r['alert_id']}  attempts {r['attempts']}  {r['last_error']}")
    return 0
