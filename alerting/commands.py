"""What ``agentotel alerts run | list | ack | resolve | silence | dead-letters`` do (the arguments are
declared in ``alerting.cli``; ``check-rules`` is ``alerting.check_rules``). Bad input ends in
``CommandError``: one line, exit 2."""

from __future__ import annotations

import argparse
import json
import threading
from datetime import timedelta

from sqlalchemy import Engine

from agentotel.alerting.check_rules import load
from agentotel.alerting.config import AlertingConfig
from agentotel.alerting.manager import AlertManager, AlertNotFound
from agentotel.alerting.queries import dead_letters
from agentotel.alerting.queue import NotificationQueue
from agentotel.alerting.service import AlertingService
from agentotel.core.durations import parse_duration
from agentotel.core.errors import CommandError
from agentotel.core.settings import AlertingSettings, DatabaseSettings
from agentotel.warehouse.engine import open_warehouse


def _engine(args: argparse.Namespace) -> Engine:
    return open_warehouse(DatabaseSettings.resolve(args))


def run(args: argparse.Namespace) -> int:
    settings = AlertingSettings.resolve(args)
    path = settings.rules_file
    config = load(path) if path else AlertingConfig()
    if args.interval is not None:
        if args.interval <= 0:
            raise CommandError("--interval must be positive")
        config.settings.evaluation_interval = timedelta(seconds=args.interval)
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


def list_alerts(args: argparse.Namespace) -> int:
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


def ack(args: argparse.Namespace) -> int:
    try:
        alert = AlertManager(_engine(args)).acknowledge_alert(args.id, args.by)
    except (AlertNotFound, ValueError) as exc:
        raise CommandError(str(exc).strip("'\"")) from None
    print(f"alert {alert['id']} acknowledged by {alert['acknowledged_by']}")
    return 0


def resolve(args: argparse.Namespace) -> int:
    try:
        alert = AlertManager(_engine(args)).resolve_alert(args.id, args.by)
    except AlertNotFound as exc:
        raise CommandError(str(exc).strip("'\"")) from None
    print(f"alert {alert['id']} resolved")
    return 0


def silence(args: argparse.Namespace) -> int:
    try:
        matchers = dict(m.split("=", 1) for m in args.match)
        silence_id = AlertManager(_engine(args)).add_silence(matchers, args.by, duration=parse_duration(args.duration),
                                                            comment=args.comment)
    except ValueError as exc:
        raise CommandError(f"{exc} (use --match LABEL=VALUE --for 2h)") from None
    print(f"silence {silence_id} created")
    return 0


def list_dead_letters(args: argparse.Namespace) -> int:
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
