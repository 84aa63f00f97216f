"""Alerting latency: time from a metric point's arrival in the warehouse to the notification at a healthy
webhook, with many rules and one channel that hangs.

    .venv/bin/python benchmarks/alerting_latency.py [--db URL] [--rules 500] [--samples 100] [--interval 1]

The running service (``AlertingService.run``: evaluation loop, one worker per channel) evaluates ``--rules``
threshold rules over ``metric:bench.load`` (one rule per service, ``filters: {service: svc-N}``) every
``--interval`` seconds. Each alert goes to two channels: a webhook that never answers (timeout 30 s) and a
healthy one. Points that make one rule fire are written one at a time (0.3-0.7 s apart, each to a rule not
fired yet); the latency of a sample is the healthy webhook's arrival time minus the point's commit time.
Prints p50 / p99 / max latency, the evaluation rounds' spacing, and what the hanging channel got. Runs on
a fresh database: a temporary SQLite file by default; with ``--db postgresql://…/NAME`` a new database
created on that server for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def serve(on_request) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server hook name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            on_request(json.loads(body))
            try:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:  # the client gave up (the hanging channel's timeout)
                pass

        def log_message(self, *a: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def fresh_database(url: str | None, workdir: Path) -> tuple[str, Any]:
    """(URL of an empty database, how to drop it): SQLite in ``workdir``, or a new PostgreSQL database."""
    if not url:
        return f"sqlite:///{workdir}/bench.db", lambda: None
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return url, lambda: None
    import psycopg

    name = f"agentotel_bench_{uuid.uuid4().hex[:10]}"
    admin = (f"host={parsed.host or '127.0.0.1'} port={parsed.port or 5432} user={parsed.username or 'postgres'} "
             f"dbname={parsed.database or 'postgres'}" + (f" password={parsed.password}" if parsed.password else ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return parsed.set(database=name).render_as_string(hide_password=False), drop


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]  # nearest rank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--rules", type=int, default=500)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between evaluation rounds")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    if args.samples > args.rules:
        parser.error("--samples must not exceed --rules (one firing per rule)")

    from sqlalchemy import insert

    from agentotel.alerting.config import load_rules
    from agentotel.alerting.service import AlertingService
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade
    from agentotel.warehouse.models import Metric

    arrived: dict[str, float] = {}  # service → time.time() the healthy webhook got its alert
    lock = threading.Lock()
    release = threading.Event()
    stuck_got = [0]

    def healthy_request(body: dict) -> None:
        now = time.time()
        with lock:
            for alert in body["alerts"]:
                arrived.setdefault(alert["labels"]["service"], now)

    def stuck_request(body: dict) -> None:
        stuck_got[0] += 1
        release.wait(120)

    healthy, stuck = serve(healthy_request), serve(stuck_request)
    workdir = Path(tempfile.mkdtemp())
    rules = workdir / "latency.yaml"
    lines = [
        f"settings: {{evaluation_interval: {args.interval}s, allow_hosts: [127.0.0.1]}}",
        "channels:",
        f"  stuck: {{type: webhook, url: 'http://127.0.0.1:{stuck.server_address[1]}/', timeout: 30}}",
        f"  healthy: {{type: webhook, url: 'http://127.0.0.1:{healthy.server_address[1]}/'}}",
        "escalation_policies:",
        "  default: [{after: 0s, channels: [stuck, healthy]}]",
        "rules:",
    ]
    lines += [f"  - {{id: load-{i}, type: threshold, metric: 'metric:bench.load', filters: {{service: svc-{i}}}, "
              f"group_by: [service], window: 1m, step: 1m, aggregation: last, op: '>', value: 0.9}}"
              for i in range(args.rules)]
    rules.write_text("\n".join(lines) + "\n")

    url, drop = fresh_database(args.db, workdir)
    engine = create_db_engine(url)
    upgrade(engine)
    service = AlertingService(engine, load_rules(rules))
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,), daemon=True)
    thread.start()

    def write_point(service_name: str) -> float:
        with engine.begin() as conn:
            conn.execute(insert(Metric.__table__).values(
                metric_name="bench.load", value=1.0, timestamp=datetime.now(timezone.utc), series_key=service_name,
                service_name=service_name, tags={}))
        return time.time()  # committed: the data has arrived

    rng = random.Random(args.seed)
    try:
        warm_up_until = time.monotonic() + 120
        while len(service.rounds) < 3:  # warm up: the first rounds import and plan
            if not thread.is_alive() or time.monotonic() > warm_up_until:
                raise SystemExit(f"the alerting service ran {len(service.rounds)} evaluation round(s) in 120 s "
                                 "(it needs 3 to warm up); see the errors above")
            time.sleep(0.1)
        sent: dict[str, float] = {}
        for i in rng.sample(range(args.rules), args.samples):
            sent[f"svc-{i}"] = write_point(f"svc-{i}")
            time.sleep(rng.uniform(0.3, 0.7))
        deadline = time.time() + 60
        while time.time() < deadline and len(arrived) < len(sent):
            time.sleep(0.1)
    finally:
        stuck_during_run = stuck_got[0]
        stop.set()
        release.set()
        thread.join(timeout=15)
        healthy.shutdown()
        stuck.shutdown()
        engine.dispose()
        drop()

    latencies = [arrived[s] - t for s, t in sent.items() if s in arrived]
    rounds = list(service.rounds)
    gaps = [b - a for a, b in zip(rounds, rounds[1:])]
    print(f"database: {engine.dialect.name}; {args.rules} rules; evaluation interval {args.interval:g} s; "
          f"one channel hanging (timeout 30 s)")
    print(f"data arrival -> healthy webhook, {len(latencies)}/{len(sent)} alerts: p50 {percentile(latencies, 0.5):.2f} s, "
          f"p99 {percentile(latencies, 0.99):.2f} s, max {max(latencies):.2f} s")
    print(f"evaluation rounds: {len(rounds)}, spacing p50 {statistics.median(gaps):.3f} s, "
          f"max {max(gaps):.3f} s")
    print(f"hanging channel: held {stuck_during_run} request(s) unanswered for the whole run")


if __name__ == "__main__":
    main()
