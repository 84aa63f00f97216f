"""What ``agentotel up`` runs: the receiver with its maintenance tasks, the dashboard subprocess, the alert
engine, online evaluation and, with ``--demo``, the demo workload; announced once each answers, stopped
within ``STOP_BUDGET_S`` on Ctrl-C. ``agentotel.up`` declares the command and imports this on use.

What only runs later (the alert engine, online evaluation, the demo, retention and exports) is imported where
it starts: pandas and SciPy come with it, and a mistyped option or a busy port is reported in about a
second, not after 4 s of imports.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import httpx

from agentotel.alerting.config import load_rules
from agentotel.core.durations import parse_duration
from agentotel.core.errors import CommandError
from agentotel.core.settings import (
    AlertingSettings,
    DashboardSettings,
    DatabaseSettings,
    EvaluationSettings,
    ReceiverSettings,
)
from agentotel.dashboard.cli import refuse_exposure, start_dashboard
from agentotel.otlp_receiver.server import ReceiverServer

logger = logging.getLogger("agentotel.up")

EXAMPLE_RULES = Path("otel-config/alert-rules.example.yaml")
READY_TIMEOUT_S = 60.0  # how long each address may take to answer before we say so
STOP_BUDGET_S = 2.2  # Ctrl-C → every child stopped, every port closed (the README says 3 s: the rest is the exit)
DEMO_STOP_S = 0.8  # of which the demo's last spans and metrics may take this much

EXPORTED_TABLES = ("agent_executions", "llm_calls", "tool_calls", "spans")


def _maintenance_tasks(args: argparse.Namespace, database: DatabaseSettings) -> list[tuple[float, object]]:
    """Retention (hourly) and scheduled exports; the receiver itself refreshes the rollups."""

    @functools.cache
    def manager() -> Any:
        from agentotel.warehouse.manager import DatabaseManager

        return DatabaseManager(settings=database)

    tasks: list[tuple[float, object]] = []
    age = parse_duration(args.retention)
    if age > timedelta(0):
        tasks.append((3600.0, lambda: manager().cleanup_old_data(age)))
    if args.export_every:
        period = parse_duration(args.export_every)

        def export_all() -> None:
            from agentotel.warehouse.export import export_period

            for table in EXPORTED_TABLES:
                export_period(manager().engine, table, "parquet", Path(args.export_dir), period)

        tasks.append((min(period.total_seconds(), 60.0), export_all))
    return tasks


def run(args: argparse.Namespace) -> int:
    """``agentotel up`` once its arguments are parsed (logging already set as ``-v`` says)."""
    database = DatabaseSettings.resolve(args)
    settings = ReceiverSettings.resolve(args)
    alerting = AlertingSettings.resolve(args)
    rules = alerting.rules_file or _default_rules(args.demo)
    if rules:
        _check_rules(rules)
    dashboard = None if args.no_dashboard else _dashboard_settings(database, settings, args.dashboard_port)
    try:
        tasks = _maintenance_tasks(args, database)
    except ValueError as exc:  # --retention / --export-every
        raise CommandError(str(exc)) from None
    try:
        server = ReceiverServer(database, settings, periodic_tasks=tasks).start()
    except (OSError, RuntimeError) as exc:  # a port in use, an unwritable spool
        raise CommandError(f"the receiver did not start: {exc} (is another agentotel running? see --help "
                           "for the port options)") from None
    _say(f"agentotel up: warehouse {_where(database)} · spool {Path(settings.spool_dir).resolve()} · "
         "Ctrl-C stops everything")
    run = _Run(server, settings, dashboard, args.verbose)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: run.stop.set())
    try:
        if dashboard is not None:
            run.start_dashboard()
        if args.demo:  # what writes to the warehouse starts once the history is in (see _Run.after_history)
            run.start_demo(database)
        if rules:
            run.after_history(lambda: _start_alerting(server.engine, rules, run.stop, alerting.allow_hosts))
        if args.demo or EvaluationSettings.resolve().online_config:  # online evaluation of production executions
            run.after_history(lambda: _start_online_evaluation(server.engine, run.stop, demo=args.demo))
        run.watch()
    finally:
        run.shutdown()
    _exit_now(0)


def _start_alerting(engine: Any, rules: str, stop: threading.Event, allow_hosts: tuple[str, ...]) -> None:
    from agentotel.alerting.service import start_background

    try:
        start_background(engine, rules, stop, allow_hosts=allow_hosts)
    except (OSError, ValueError) as exc:  # RuleError included: the message names file, line and rule
        raise CommandError(f"alert rules not loaded: {exc}") from None


def _start_online_evaluation(engine: Any, stop: threading.Event, demo: bool) -> None:
    """Online evaluation in the background (``agentotel.evaluation.online``): the configured agents, or with
    --demo every execution of the demo's agents (its traffic is low), scored within seconds of arrival."""
    from agentotel.evaluation.online import OnlineConfigError, start_online_evaluation

    try:
        start_online_evaluation(engine, EvaluationSettings.resolve(), stop=stop, sample_rate=1.0 if demo else None)
    except OnlineConfigError as exc:
        raise CommandError(f"online evaluation not started: {exc}") from None


def _exit_now(code: int) -> NoReturn:
    """Exit without the interpreter's teardown of every loaded library (seconds of CPU on a busy machine,
    which would break the Ctrl-C budget): everything ``up`` started was stopped and closed above."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _default_rules(demo: bool) -> str | None:
    if demo:
        from agentotel.demo import DEMO_RULES

        return str(DEMO_RULES)
    return str(EXAMPLE_RULES) if EXAMPLE_RULES.exists() else None


def _check_rules(path: str) -> None:
    """The rules file is read before anything starts: a mistake is one line, not a half-started platform."""
    try:
        load_rules(path)
    except (OSError, ValueError) as exc:  # RuleError included: the message names file, line and rule
        raise CommandError(f"alert rules not loaded: {exc}") from None


def _dashboard_settings(database: DatabaseSettings, receiver: ReceiverSettings, port: int) -> DashboardSettings:
    """The dashboard beside this receiver: same address and warehouse, refused when its port is taken."""

    settings = dataclasses.replace(DashboardSettings.from_env(database.url), database=database, host=receiver.host,
                                   port=port, receiver_metrics_url=f"{_base(receiver.host, receiver.metrics_port)}/metrics")
    refuse_exposure(settings)
    if not _port_free(settings.host, settings.port):
        raise CommandError(f"the dashboard's port {settings.port} on {settings.host} is in use "
                           "(another agentotel up? choose one with --dashboard-port, or --no-dashboard)")
    return settings


@dataclass
class _Run:
    """What ``up`` started, what it has announced, and how it stops."""
    server: Any
    settings: ReceiverSettings
    dashboard_settings: DashboardSettings | None
    verbose: bool
    stop: threading.Event = field(default_factory=threading.Event)
    dashboard: subprocess.Popen | None = None
    demo: Any = None
    demo_thread: threading.Thread | None = None
    demo_news: queue.Queue = field(default_factory=queue.Queue)
    announced: set[str] = field(default_factory=set)
    waiting: list[Callable[[], None]] = field(default_factory=list)  # started once the demo's history is in

    def after_history(self, start: Callable[[], None]) -> None:
        """Start a writer of the warehouse (alert rules, online evaluation) now, or with the demo once its
        history is written and rolled up: the receiver rolls the 7 days up in one long transaction, which
        would make their writes wait past SQLite's busy timeout."""
        if self.demo is None:
            start()
        else:
            self.waiting.append(start)

    def _start_waiting(self) -> None:
        while self.waiting:
            self.waiting.pop(0)()

    def start_dashboard(self) -> None:
        s = self.dashboard_settings
        assert s is not None
        self.dashboard = start_dashboard(s.database.url, s.host, s.port, s.receiver_metrics_url, quiet=not self.verbose)

    def start_demo(self, database: DatabaseSettings) -> None:
        from agentotel.demo import Demo

        self.demo = Demo(_base(self.settings.host, self.server.http_port), database)
        self.demo_thread = threading.Thread(target=self._demo, name="demo", daemon=True)
        self.demo_thread.start()

    def _demo(self) -> None:
        demo = self.demo
        try:
            demo.start()
            demo.backfill(stop=self.stop)
            demo.settle(self.stop)
            self.demo_news.put("history")
            if not self.stop.is_set():
                demo.extras()
                demo.live(self.stop)
        except Exception:  # noqa: BLE001 - the platform keeps running without its demo
            logger.exception("demo workload failed")
            self.demo_news.put("failed")
        finally:
            demo.close(timeout=DEMO_STOP_S)

    # -- announcing -------------------------------------------------------------------------------------
    def watch(self) -> None:
        """Announce each address once it answers (bounded wait), then what to open first; then wait for
        Ctrl-C, reporting a dashboard that exits."""
        started = time.monotonic()
        while not self.stop.is_set():
            self._announce(time.monotonic() - started)
            if self.dashboard is not None and self.dashboard.poll() is not None:
                logger.error("the dashboard exited with status %s (run with -v to see why)", self.dashboard.returncode)
                self.dashboard = None
            self.stop.wait(0.25 if len(self.announced) < 5 else 1.0)

    def _announce(self, elapsed: float) -> None:
        s, server = self.settings, self.server
        metrics = f"{_base(s.host, s.metrics_port)}/metrics"
        otlp_http = _base(s.host, server.http_port)
        if "receiver" not in self.announced and _answers(metrics) and _answers(otlp_http) and _accepts(
                s.host, server.grpc_port):
            self._once("receiver", f"receiver:  OTLP/gRPC {_host(s.host)}:{server.grpc_port} · OTLP/HTTP {otlp_http} · "
                                   f"Prometheus {metrics}")
        d = self.dashboard_settings
        url = _base(d.host, d.port) if d is not None else None
        if url and "dashboard" not in self.announced and self.dashboard is not None:
            if _answers(f"{url}/_stcore/health", expect="ok"):
                self._once("dashboard", f"dashboard: {url}")
            elif elapsed > READY_TIMEOUT_S:
                self._once("dashboard", f"dashboard: not answering on {url} after {READY_TIMEOUT_S:.0f} s "
                                        "(run with -v to see its log)")
        while not self.demo_news.empty():
            news = self.demo_news.get_nowait()
            self._start_waiting()
            if news == "history":
                summary = self.demo.summary
                self._once("history", f"demo:      7 days of history sent ({summary.history_runs:,} agent runs, "
                                      f"{summary.history_spans:,} spans); live traffic flows until Ctrl-C")
            else:
                self.announced.add("history")
        demo_ready = self.demo is None or "history" in self.announced
        if url and "open" not in self.announced and "dashboard" in self.announced and demo_ready:
            hint = " (Time range: Last 7 days), then Alerts and Agents & registry" if self.demo is not None else ""
            self._once("open", f"open this first: {url}/ — the Overview{hint}")

    def _once(self, key: str, line: str) -> None:
        if key not in self.announced:
            self.announced.add(key)
            _say(line)

    # -- stopping ---------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Everything stopped within ``STOP_BUDGET_S``: the dashboard is told first, the demo gets a second to
        flush into the still-running receiver, the receiver (its drain) what is left; the spool keeps what was
        not written for the next start."""
        started = time.monotonic()
        deadline = started + STOP_BUDGET_S
        logger.info("stopping: the dashboard, the demo, then the receiver")
        self.stop.set()
        if self.dashboard is not None and self.dashboard.poll() is None:
            self.dashboard.terminate()
        if self.demo is not None:
            self.demo.interrupt()
            if self.demo_thread is not None:
                self.demo_thread.join(max(0.0, started + DEMO_STOP_S + 0.2 - time.monotonic()))
            logger.info("demo stopped after %.1f s", time.monotonic() - started)
        stopper = threading.Thread(target=self._stop_receiver, args=(max(0.1, deadline - time.monotonic() - 0.6),),
                                   name="receiver-stop", daemon=True)
        stopper.start()
        stopper.join(max(0.0, deadline - time.monotonic() - 0.3))
        logger.info("receiver stopped after %.1f s", time.monotonic() - started)
        if self.dashboard is not None:
            try:
                self.dashboard.wait(max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.dashboard.kill()
                self.dashboard.wait(1.0)
        note = "" if not stopper.is_alive() else "; the spool holds what was not yet written (written on next start)"
        _say(f"stopped in {time.monotonic() - started:.1f} s{note}")

    def _stop_receiver(self, drain_timeout: float) -> None:
        try:
            self.server.stop(drain_timeout=drain_timeout)
        except Exception:  # noqa: BLE001 - stopping anyway
            logger.debug("receiver stop", exc_info=True)


# -- small helpers ------------------------------------------------------------------------------------------


def _say(line: str) -> None:
    print(line, flush=True)


def _host(host: str) -> str:
    """An address to connect to for ``host`` (a wildcard listens on loopback too)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _base(host: str, port: int) -> str:
    return f"http://{_host(host)}:{port}"


def _answers(url: str, expect: str | None = None) -> bool:
    """Whether ``url`` gives an HTTP answer (any status), or exactly the body ``expect``."""
    try:
        response = httpx.get(url, timeout=1.0, trust_env=False)
    except httpx.HTTPError:
        return False
    return expect is None or response.text.strip() == expect


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((_host(host).strip("[]"), port), timeout=1.0):
            return True
    except OSError:
        return False


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _where(database: DatabaseSettings) -> str:
    """The warehouse for people: a SQLite file's full path, else the URL without its password."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(database.url)
    except Exception:  # noqa: BLE001 - shown as given
        return database.display_url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return str(Path(url.database).resolve())
    return database.display_url
