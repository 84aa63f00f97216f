"""``agentotel up [--demo]``: the whole platform in one process tree on the default warehouse.

The receiver (OTLP gRPC + HTTP, /metrics) runs in this process with its maintenance tasks (rollups,
retention, alert rules, scheduled exports); the dashboard runs as a Streamlit subprocess; ``--demo`` runs
an instrumented sample agent workload into the receiver.
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

from agentotel.core.errors import CommandError
from agentotel.core.settings import AlertingSettings, DatabaseSettings, ReceiverSettings
from agentotel.otlp_receiver.cli import add_receiver_arguments

logger = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("up", help="run receiver + /metrics + dashboard (and a demo workload with --demo)")
    add_receiver_arguments(parser)
    parser.add_argument("--demo", action="store_true", help="fill the warehouse with an instrumented sample workload")
    parser.add_argument("--dashboard-port", type=int, default=8501)
    parser.add_argument("--no-dashboard", action="store_true")
    parser.add_argument("--rules", help="alert rules YAML (default: otel-config/alert-rules.example.yaml if present)")
    parser.add_argument("--retention", default="30d", help="delete data older than this, checked hourly (0 = keep)")
    parser.add_argument("--export-every", metavar="INTERVAL", help="scheduled export interval, e.g. 1h")
    parser.add_argument("--export-dir", default="exports", help="where scheduled exports go")
    parser.set_defaults(handler=run_up)


EXPORTED_TABLES = ("agent_executions", "llm_calls", "tool_calls", "spans")


def _maintenance_tasks(args: argparse.Namespace, database: DatabaseSettings) -> list[tuple[float, object]]:
    """Retention (hourly) and scheduled exports; the receiver itself refreshes the rollups."""
    from agentotel.core.durations import parse_duration
    from agentotel.warehouse.manager import DatabaseManager

    manager = DatabaseManager(settings=database)
    tasks: list[tuple[float, object]] = []
    age = parse_duration(args.retention)
    if age > timedelta(0):
        tasks.append((3600.0, lambda: manager.cleanup_old_data(age)))
    if args.export_every:
        from agentotel.warehouse.export import export_period

        period = parse_duration(args.export_every)

        def export_all() -> None:
            for table in EXPORTED_TABLES:
                export_period(manager.engine, table, "parquet", Path(args.export_dir), period)

        tasks.append((min(period.total_seconds(), 60.0), export_all))
    return tasks


def run_up(args: argparse.Namespace) -> int:
    from agentotel.otlp_receiver.server import ReceiverServer

    for noisy in ("httpx", "httpx2", "openai"):  # the demo's client requests are not news
        logging.getLogger(noisy).setLevel(logging.WARNING)
    database = DatabaseSettings.resolve(args)
    db_url = database.url
    settings = ReceiverSettings.resolve(args)
    server = ReceiverServer(database, settings, periodic_tasks=_maintenance_tasks(args, database)).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    children: list[subprocess.Popen] = []
    threads: list[threading.Thread] = []

    rules = args.rules or _default_rules()
    if rules:
        from agentotel.alerting.service import start_background

        try:
            threads.append(start_background(server.engine, rules, stop,
                                            allow_hosts=AlertingSettings.from_env().allow_hosts))
        except ValueError as exc:  # RuleError included: the message names file, line and rule
            server.stop()
            raise CommandError(f"alert rules not loaded: {exc}") from None
    if not args.no_dashboard:
        from agentotel.dashboard.cli import dashboard_env

        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "agentotel", "dashboard", "--host", settings.host,
                 "--port", str(args.dashboard_port),
                 "--receiver-metrics", f"http://{settings.host}:{settings.metrics_port}/metrics"],
                env=dashboard_env(db_url),  # the URL (and its password) stays out of the process list
            )  # fmt: skip
        )
        print(f"dashboard: http://{settings.host}:{args.dashboard_port}", flush=True)
    print(
        f"receiver: OTLP/gRPC {settings.host}:{server.grpc_port}  OTLP/HTTP http://{settings.host}:{server.http_port}"
        f"  metrics http://{settings.host}:{settings.metrics_port}/metrics  warehouse {database.display_url}",
        flush=True,
    )
    if args.demo:
        from agentotel.demo import run_demo

        endpoint = f"http://{settings.host}:{server.http_port}"
        demo = threading.Thread(target=_run_demo, args=(run_demo, endpoint, db_url), name="demo", daemon=True)
        demo.start()
        threads.append(demo)
    try:
        while not stop.wait(1.0):
            for child in children:
                if child.poll() is not None:
                    logger.error("dashboard exited with status %s", child.returncode)
                    children.remove(child)
    finally:
        for child in children:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        server.stop()
    return 0


def _run_demo(run_demo, endpoint: str, db_url: str) -> None:
    try:
        run_demo(endpoint, db_url)
        print("demo data loaded", flush=True)
    except Exception:
        logger.exception("demo workload failed")


def _default_rules() -> str | None:
    path = Path("otel-config/alert-rules.example.yaml")
    return str(path) if path.exists() else None
