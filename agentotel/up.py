"""``agentotel up [--demo] [-v]``: the whole platform in one process tree on the default warehouse.

The receiver (OTLP gRPC + HTTP, /metrics) runs in this process with its maintenance tasks (rollups,
retention, alert rules, scheduled exports); the dashboard runs as a Streamlit subprocess; ``--demo``
back-fills 7 days of history and keeps a low, steady flow of live agent traffic (``agentotel.demo``),
with alert rules of its own whose notifications go to the console.

Quiet by default: each address once it answers, the demo's history, one line on what to open first,
then alert notifications; ``-v`` brings back every log line (Alembic, Streamlit, requests). Ctrl-C
(SIGINT or SIGTERM) stops everything within 2.2 s (``agentotel.platform``); what the receiver had not yet
written by then stays in its durable spool and is written on the next start.
"""

from __future__ import annotations

import argparse
import logging

from agentotel.otlp_receiver.cli import add_receiver_arguments

NOISY_LOGGERS = ("httpx", "httpcore", "openai")  # one line per request


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("up", help="run receiver + /metrics + dashboard (and a demo workload with --demo)")
    add_receiver_arguments(parser)
    parser.add_argument("--demo", action="store_true",
                        help="back-fill 7 days of sample agent traffic, keep live traffic flowing, demo alert rules")
    parser.add_argument("--dashboard-port", type=int, default=8501)
    parser.add_argument("--no-dashboard", action="store_true")
    parser.add_argument("--rules", help="alert rules YAML (default: AGENTOTEL_ALERT_RULES, else the demo's rules "
                                        "with --demo, else otel-config/alert-rules.example.yaml if present)")
    parser.add_argument("--retention", default="30d", help="delete data older than this, checked hourly (0 = keep)")
    parser.add_argument("--export-every", metavar="INTERVAL", help="scheduled export interval, e.g. 1h")
    parser.add_argument("--export-dir", default="exports", help="where scheduled exports go")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="every log line (Alembic, Streamlit, each request), not just addresses and alerts")
    parser.set_defaults(handler=run_up)


def run_up(args: argparse.Namespace) -> int:
    _quiet_logging(args.verbose)  # before the imports: Alembic logs as it loads
    # imported on use only: keeps `agentotel` start-up (and its other commands) free of the server stack
    from agentotel import platform

    return platform.run(args)


def _quiet_logging(verbose: bool) -> None:
    """Without ``-v``: warnings and alert notifications only (no Alembic INFO, no per-request lines)."""
    if verbose:
        return
    logging.getLogger().setLevel(logging.WARNING)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
