"""What ``agentotel alerts run | list | ack | resolve | silence [list | expire] | dead-letters`` do (the arguments are
declared in ``alerting.cli``; ``check-rules`` is ``alerting.check_rules``). Bad input ends in
``CommandError``: one line, exit 2.

Each acts in one project (``--project`` > ``AGENTOTEL_PROJECT`` > ``default``): it sees only that project's
alerts, silences and notifications, the rules read only its telemetry (through an engine scoped to it), and
what it writes belongs to it."""

from __future__ import annotations

import argparse
import json
import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from agentotel.alerting.check_rules import load
from agentotel.alerting.config import AlertingConfig
from agentotel.alerting.manager import AlertManager, AlertNotFound
from agentotel.alerting.queries import dead_letters, pending_series, silences
from agentotel.alerting.queue import NotificationQueue
from agentotel.alerting.service import AlertingService
from agentotel.alerting.sources import WarehouseMetricSource
from agentotel.core.durations import parse_duration
from agentotel.core.errors import CommandError
from agentotel.core.projects import DEFAULT_PROJECT
from agentotel.core.settings import AlertingSettings, DatabaseSettings
from agentotel.core.utc import as_utc, parse_time, utcnow
from agentotel.warehouse.engine import open_warehouse
from agentotel.warehouse.projects import only_default_project, require_project
from agentotel.warehouse.row_security import READER_ROLE
from agentotel.warehouse.scoping import open_scoped_warehouse


def _engine(args: argparse.Namespace) -> Engine:
    return open_warehouse(DatabaseSettings.resolve(args))


def _project(args: argparse.Namespace, engine: Engine) -> str:
    """The project the command acts in, checked: an unknown one is a ``CommandError``."""
    return require_project(engine, AlertingSettings.resolve(args).project)


def _manager(args: argparse.Namespace) -> AlertManager:
    engine = _engine(args)
    return AlertManager(engine, project=_project(args, engine))


def _telemetry(args: argparse.Namespace, engine: Engine, project: str) -> WarehouseMetricSource:
    """What the rules read: the warehouse through an engine that sees only ``project``'s rows (its rollup rows
    included); a warehouse with no other project than ``default`` is read as before (every row is the default
    project's, and no reader role is needed)."""
    if project == DEFAULT_PROJECT and only_default_project(engine):
        return WarehouseMetricSource(engine)
    scoped = open_scoped_warehouse(DatabaseSettings.resolve(args), [project])
    try:
        scoped.connect().close()  # takes the reader role on PostgreSQL: refused here, not in every round
    except DBAPIError as exc:
        raise CommandError(f"cannot read project {project!r} as the row-secured reader ({READER_ROLE}): "
                           f"{str(exc.orig).strip().splitlines()[0]}; GRANT {READER_ROLE} TO the database login") from None
    return WarehouseMetricSource(scoped)


def run(args: argparse.Namespace) -> int:
    settings = AlertingSettings.resolve(args)
    path = settings.rules_file
    config = load(path) if path else AlertingConfig()
    if args.interval is not None:
        if args.interval <= 0:
            raise CommandError("--interval must be positive")
        config.settings.evaluation_interval = timedelta(seconds=args.interval)
    engine = _engine(args)
    project = _project(args, engine)
    try:
        service = AlertingService(engine, config, _telemetry(args, engine, project), allow_hosts=settings.allow_hosts,
                                  project=project)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.once:
        return _once(service)
    stop = threading.Event()
    try:
        service.run(stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def _once(service: AlertingService) -> int:
    """One round and the deliveries due; the rules are left alone while another engine holds the lease."""
    holder = service.lease.current()
    report = None
    if holder is not None and holder[1] > utcnow() and holder[0] != service.lease.holder:
        print(f"rules not evaluated: engine {holder[0]} evaluates this rule set (lease until {holder[1]:%H:%M:%S})")
        service.tick(evaluate=False)
    else:
        service.lease.acquire()
        try:
            report = service.tick()
        finally:
            service.lease.release()
    service.queue.drain(timeout=30)
    if report is not None:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()))
        print(f"evaluated {len(service.config.rules)} rules: {counts or 'nothing pending or firing'}")
        for rule_id, error in report.errors.items():
            print(f"rule {rule_id}: {error}")
    print(f"notifications delivered: {service.queue.stats['delivered']}, pending: {service.queue.pending_count()}")
    return 1 if report is not None and report.errors else 0


def list_alerts(args: argparse.Namespace) -> int:
    engine = _engine(args)
    project = _project(args, engine)
    firing = [] if args.state == "pending" else [
        a for a in AlertManager(engine, project=project).get_active_alerts() if not args.rule or a["rule_id"] == args.rule]
    pending = [] if args.state == "firing" else pending_series(engine, rule_id=args.rule, project=project)
    if args.json:
        print(json.dumps({"firing": firing, "pending": pending}, indent=2, default=str))
        return 0
    if not firing and not pending:
        print({"all": "no firing or pending alerts", "firing": "no firing alerts",
               "pending": "no pending alerts"}[args.state])
    for a in firing:
        flags = ("ack:" + str(a["acknowledged_by"]) if a["acknowledged"] else "") + (" silenced" if a["silenced"] else "")
        labels = ",".join(f"{k}={v}" for k, v in a["labels"].items())
        print(f"{a['id']:>6}  firing   {a['severity']:<8} {a['rule_id']:<28} {a['starts_at']}  {labels}  "
              f"{a['message']}  {flags}".rstrip())
    for p in pending:
        labels = ",".join(f"{k}={v}" for k, v in (p["labels"] or {}).items())
        value = "" if p["last_value"] is None else f"value {p['last_value']:.6g}"
        since = as_utc(p["active_since"]).isoformat() if p["active_since"] else ""
        print(f"{'-':>6}  pending  {'':<8} {p['rule_id']:<28} {since}  {labels}  {value}".rstrip())
    return 0


def ack(args: argparse.Namespace) -> int:
    try:
        alert = _manager(args).acknowledge_alert(args.id, args.by)
    except (AlertNotFound, ValueError) as exc:
        raise CommandError(str(exc).strip("'\"")) from None
    print(f"alert {alert['id']} acknowledged by {alert['acknowledged_by']}")
    return 0


def resolve(args: argparse.Namespace) -> int:
    try:
        alert = _manager(args).resolve_alert(args.id, args.by)
    except AlertNotFound as exc:
        raise CommandError(str(exc).strip("'\"")) from None
    print(f"alert {alert['id']} resolved")
    return 0


SILENCE_USAGE = "use --match LABEL=VALUE --for 2h --by NAME, or: silence list | silence expire ID --by NAME"


def silence(args: argparse.Namespace) -> int:
    missing = [flag for flag, value in (("--match", args.match), ("--for", args.duration), ("--by", args.by))
               if not value]
    if missing:
        raise CommandError(f"a silence needs {', '.join(missing)} ({SILENCE_USAGE})")
    try:
        matchers = {}
        for m in args.match:
            label, sep, value = m.partition("=")
            if not sep or not label.strip():
                raise ValueError(f"--match {m!r} is not LABEL=VALUE")
            matchers[label.strip()] = value
        silence_id = _manager(args).add_silence(matchers, args.by, duration=parse_duration(args.duration),
                                                comment=args.comment)
    except ValueError as exc:
        raise CommandError(f"{exc} ({SILENCE_USAGE})") from None
    print(f"silence {silence_id} created")
    return 0


def list_silences(args: argparse.Namespace) -> int:
    engine = _engine(args)
    rows = silences(engine, active_only=not args.all, project=_project(args, engine))
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("no silences" + ("" if args.all else " in force (--all lists ended ones)"))
    now = utcnow()
    for r in rows:
        ends = as_utc(r["ends_at"])
        matchers = ",".join(f"{k}={v}" for k, v in (r["matchers"] or {}).items())
        state = f"until {ends.isoformat()}" if ends > now else f"ended {ends.isoformat()}"
        comment = f"  {r['comment']}" if r["comment"] else ""
        print(f"{r['id']}  {matchers:<30} {state}  by {r['created_by']}{comment}")
    return 0


def expire_silence(args: argparse.Namespace) -> int:
    engine = _engine(args)
    project = _project(args, engine)
    silence_id = _unique(silences(engine, active_only=False, id_prefix=_prefix(args.silence_id), project=project),
                         args.silence_id, "silence")
    AlertManager(engine, project=project).expire_silence(silence_id, by=args.by)
    print(f"silence {silence_id} expired")
    return 0


def list_dead_letters(args: argparse.Namespace) -> int:
    engine = _engine(args)
    project = _project(args, engine)
    if args.resend:
        notification_id = _unique(dead_letters(engine, id_prefix=_prefix(args.resend), limit=2, project=project),
                                  args.resend, "dead letter")
        if not NotificationQueue(engine, project=project).resend(notification_id, by=args.by):
            raise CommandError(f"no dead letter with id {notification_id}")
        print(f"notification {notification_id} queued again")
        return 0
    try:
        rows = dead_letters(engine, limit=args.limit, channel=args.channel, alert_id=args.alert, rule_id=args.rule,
                            event=args.event, since=parse_time(args.since), project=project)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("no dead letters")
    for r in rows:
        print(f"{r['id'][:12]}  {r['channel']:<14} {r['event']:<11} alert {r['alert_id']}  {r['group_key']:<24} "
              f"attempts {r['attempts']}  {r['last_error']}")
    return 0


def _prefix(text: str) -> str:
    text = text.strip()
    if not text or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise CommandError(f"{text!r} is not an id (hex digits)")
    return text


def _unique(rows: list[dict[str, Any]], prefix: str, what: str) -> str:
    """The id of the one row a prefix picks out; ``CommandError`` for none or several."""
    if not rows:
        raise CommandError(f"no {what} with an id starting {prefix!r}")
    if len(rows) > 1:
        raise CommandError(f"{prefix!r} is the start of several {what} ids; give more characters")
    return str(rows[0]["id"])
