"""``agentotel registry register | list | show | promote | rollback | history``. This module declares the
arguments; ``registry.commands`` does the work.

Exit status: 0 = done; 2 = bad input or a refused operation (unknown agent or version, a transition the
pipeline does not allow, a database that cannot be opened, a usage error); 3 = the promotion gate refused
(``EXIT_GATE_REFUSED``: the checks are printed, the refusal is in the audit log; ``--override REASON``
promotes anyway).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from agentotel.core.cli_args import add_database_argument, add_project_argument
from agentotel.core.settings import ACTOR_ENV as ACTOR_ENV_VAR


def register(sub: argparse._SubParsersAction) -> None:
    reg = sub.add_parser("registry", help="agent versions, promotion dev → staging → prod, rollback, history")
    add_database_argument(reg)
    add_project_argument(reg)
    actions = reg.add_subparsers(dest="registry_command", required=True, metavar="ACTION")

    p = actions.add_parser("register", help="register a version (adopts one discovered in telemetry)")
    p.add_argument("name")
    p.add_argument("version", help="semantic version, e.g. 1.2.0")
    p.add_argument("--file", help="metadata as YAML or JSON (fields of AgentMetadata); flags override it")
    p.add_argument("--model-type")
    p.add_argument("--provider")
    p.add_argument("--description")
    p.add_argument("--capability", action="append", default=None, help="repeatable")
    p.add_argument("--tag", action="append", default=None, help="repeatable")
    p.add_argument("--dependency", action="append", default=None, metavar="NAME=CONSTRAINT", help="repeatable")
    p.add_argument("--config", action="append", default=None, metavar="KEY=VALUE", help="repeatable; VALUE as JSON if it parses")
    p.add_argument("--changelog", help="changelog entry for this version")
    _actor(p)
    _db(p)
    p.set_defaults(handler=_command("cmd_register"))

    p = actions.add_parser("list", help="agents and their versions (registered and discovered)")
    p.add_argument("--name")
    p.add_argument("--registered-only", action="store_true")
    p.add_argument("--json", action="store_true")
    _db(p)
    p.set_defaults(handler=_command("cmd_list"))

    p = actions.add_parser("show", help="an agent (environments, versions, stats) or one version in detail")
    p.add_argument("name")
    p.add_argument("version", nargs="?")
    p.add_argument("--json", action="store_true")
    _db(p)
    p.set_defaults(handler=_command("cmd_show"))

    p = actions.add_parser("promote", help="make a version active in an environment (gated)")
    p.add_argument("name")
    p.add_argument("version")
    p.add_argument("--to", required=True, dest="environment", choices=("dev", "staging", "prod"))
    p.add_argument("--reason", help="why (recorded in the audit log)")
    p.add_argument("--override", dest="override_reason", metavar="REASON", help="promote although the gate refuses; audited")
    p.add_argument("--expect-active", metavar="VERSION", help="fail unless VERSION ('none' for nothing) is active now")
    p.add_argument("--evaluate", metavar="SUITE", help="first run this suite against --agent, linked to NAME@VERSION; "
                   "the gate then decides on runs of this suite")
    p.add_argument("--agent", metavar="MOD:FN", help="with --evaluate: the agent callable (sync or async)")
    p.add_argument("--evaluator", action="append", dest="evaluators", metavar="NAME",
                   help="with --evaluate: evaluator (repeatable; default: the suite's)")
    p.add_argument("--concurrency", type=_positive_int, default=4, help="with --evaluate: cases in flight (default 4)")
    p.add_argument("--timeout", type=float, default=None, help="with --evaluate: seconds per case")
    _actor(p)
    _db(p)
    p.set_defaults(handler=_command("cmd_promote"))

    p = actions.add_parser("rollback", help="return an environment to its previous (or a named) version")
    p.add_argument("name")
    p.add_argument("--env", required=True, dest="environment", choices=("dev", "staging", "prod"))
    p.add_argument("--to", dest="to_version", metavar="VERSION", help="a version that was active there before")
    p.add_argument("--reason", required=True, help="why (recorded in the audit log)")
    _actor(p)
    _db(p)
    p.set_defaults(handler=_command("cmd_rollback"))

    p = actions.add_parser("history", help="audit log of an agent: who changed what, when and why")
    p.add_argument("name")
    p.add_argument("--env", dest="environment", choices=("dev", "staging", "prod"))
    p.add_argument("--limit", type=_positive_int, default=50, help="at most this many entries (default 50)")
    p.add_argument("--json", action="store_true")
    _db(p)
    p.set_defaults(handler=_command("cmd_history"))


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _actor(p: argparse.ArgumentParser) -> None:
    p.add_argument("--actor", help=f"who makes the change (default: ${ACTOR_ENV_VAR} or the login name)")


def _db(p: argparse.ArgumentParser) -> None:
    """``--db`` and ``--project`` also after the action (``agentotel registry list --db URL``)."""
    add_database_argument(p, repeat=True)
    add_project_argument(p, repeat=True)


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        # imported on use only: keeps `agentotel` start-up (and its other commands) free of the server stack
        from agentotel.registry import commands

        result: int = getattr(commands, name)(args)
        return result

    return handler
