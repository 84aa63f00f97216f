"""``agentotel alerts run | list | ack | resolve | silence | check-rules | dead-letters``: the arguments;
``alerting.commands`` (and ``alerting.check_rules``) do the work."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from agentotel.core.cli_args import add_database_argument, add_project_argument
from agentotel.core.settings import ALERT_RULES_ENV


def register(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    add_database_argument(common)
    add_project_argument(common)
    alerts = sub.add_parser("alerts", help="alert rules, alerts, silences and notifications")
    actions = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")

    run = actions.add_parser("run", parents=[common], help="evaluate rules and deliver notifications")
    run.add_argument("--rules", help=f"rules file (default: ${ALERT_RULES_ENV})")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one round, then deliver what is due and exit")
    mode.add_argument("--interval", type=float, help="seconds between rule evaluations (overrides the file)")
    run.set_defaults(handler=_command("run"))

    listing = actions.add_parser("list", parents=[common], help="firing alerts and pending ones (waiting for 'for')")
    listing.add_argument("--state", choices=("all", "firing", "pending"), default="all",
                         help="firing alerts, pending series (condition true, 'for' not elapsed yet) or both")
    listing.add_argument("--rule", metavar="RULE_ID", help="only this rule's")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_command("list_alerts"))

    ack = actions.add_parser("ack", parents=[common], help="acknowledge an alert (cancels notifications not sent yet)")
    ack.add_argument("id", type=int)
    ack.add_argument("--by", required=True, help="who acknowledges")
    ack.set_defaults(handler=_command("ack"))

    resolve = actions.add_parser("resolve", parents=[common], help="resolve an alert")
    resolve.add_argument("id", type=int)
    resolve.add_argument("--by", default="cli", help="who resolves")
    resolve.set_defaults(handler=_command("resolve"))

    silence = actions.add_parser(
        "silence", parents=[common], help="silence notifications of matching alerts; list or expire silences",
        usage="agentotel alerts silence --match LABEL=VALUE [--match ...] --for DURATION --by NAME [--comment TEXT]\n"
              "       agentotel alerts silence list [--all] [--json]\n"
              "       agentotel alerts silence expire ID --by NAME")
    silence.add_argument("--match", action="append", metavar="LABEL=VALUE",
                         help="label (or rule_id, severity) that must equal VALUE; repeatable")
    silence.add_argument("--for", dest="duration", metavar="DURATION", help="how long, e.g. 2h")
    silence.add_argument("--by", help="who silences")
    silence.add_argument("--comment")
    silence.set_defaults(handler=_command("silence"))
    silences = silence.add_subparsers(dest="silence_command", metavar="{list,expire}")
    silence_list = silences.add_parser("list", parents=[common], help="silences in force (--all: also ended ones)")
    silence_list.add_argument("--all", action="store_true", help="also silences that ended")
    silence_list.add_argument("--json", action="store_true", help="print JSON")
    silence_list.set_defaults(handler=_command("list_silences"))
    expire = silences.add_parser("expire", parents=[common], help="end a silence now")
    expire.add_argument("silence_id", metavar="ID", help="the silence's id, or its first characters")
    expire.add_argument("--by", required=True, help="who ends it")
    expire.set_defaults(handler=_command("expire_silence"))

    check = actions.add_parser("check-rules", help="validate a rules file (and its channels' addresses)")
    check.add_argument("file")
    check.set_defaults(handler=_check_rules)

    dead = actions.add_parser("dead-letters", parents=[common], help="list notifications that could not be delivered")
    dead.add_argument("--resend", metavar="ID", help="queue this dead letter again (its id or first characters)")
    dead.add_argument("--by", default="cli")
    dead.add_argument("--channel", help="only this channel's")
    dead.add_argument("--alert", type=int, metavar="ALERT_ID", help="only this alert's")
    dead.add_argument("--rule", metavar="RULE_ID", help="only this rule's alerts'")
    dead.add_argument("--event", choices=("trigger", "acknowledge", "resolve"))
    dead.add_argument("--since", metavar="AGE|TIME", help="queued since, e.g. 24h or 2026-01-31T12:00")
    dead.add_argument("--limit", type=int, default=200)
    dead.add_argument("--json", action="store_true", help="print JSON")
    dead.set_defaults(handler=_command("list_dead_letters"))


def _check_rules(args: argparse.Namespace) -> int:
    # imported on use only: keeps `agentotel` start-up light; opens no database (its output is only the verdict)
    from agentotel.alerting.check_rules import check_rules

    return check_rules(args)


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        # imported on use only: keeps `agentotel` start-up (and its other commands) free of the server stack
        from agentotel.alerting import commands

        result: int = getattr(commands, name)(args)
        return result

    return handler
