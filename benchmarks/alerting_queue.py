"""Notification queue throughput: enqueue, deduplicate and deliver to a loopback webhook.

    .venv/bin/python benchmarks/alerting_queue.py [--db URL] [--alerts 2000]

Prints enqueue rate (distinct alerts), dedup rate (identical events), and end-to-end delivery rate
(rows per second, grouped by rule) on a fresh database (SQLite temp file by default).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--rules", type=int, default=50, help="distinct rules (groups) the alerts spread over")
    args = parser.parse_args()

    from agentotel.alerting.channels.webhook import WebhookHandler
    from agentotel.alerting.queue import NotificationQueue, QueueSettings
    from agentotel.alerting.ssrf import AddressPolicy
    from agentotel.alerting.store import fingerprint
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade

    received = {"requests": 0, "alerts": 0}

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server hook name
            import json

            body = self.rfile.read(int(self.headers["Content-Length"]))
            received["requests"] += 1
            received["alerts"] += len(json.loads(body)["alerts"])
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = args.db or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine = create_db_engine(url)
    upgrade(engine)
    handler = WebhookHandler("hook", {"url": f"http://127.0.0.1:{server.server_address[1]}/"},
                             AddressPolicy(["127.0.0.1"]))
    queue = NotificationQueue(engine, {"hook": handler}, QueueSettings(batch_size=500, dedup_window=timedelta(minutes=5)))

    alerts = []
    for i in range(args.alerts):
        rule = f"rule-{i % args.rules}"
        labels = {"agent": f"agent-{i}"}
        alerts.append({"id": i, "rule_id": rule, "severity": "warning", "message": "m", "labels": labels,
                       "fingerprint": fingerprint(rule, labels), "value": 1.0, "starts_at": None})
    t0 = time.perf_counter()
    for alert in alerts:
        queue.enqueue(alert, "hook")
    t_enqueue = time.perf_counter() - t0

    t0 = time.perf_counter()
    for _ in range(100_000):
        queue.enqueue(alerts[0], "hook")
    t_dedup = time.perf_counter() - t0

    t0 = time.perf_counter()
    while queue.pending_count():
        queue.process_due()
    t_deliver = time.perf_counter() - t0
    server.shutdown()

    print(f"database: {engine.dialect.name}")
    print(f"enqueue (distinct alerts): {args.alerts / t_enqueue:,.0f} /s")
    print(f"deduplicated identical events: {100_000 / t_dedup:,.0f} /s")
    print(f"delivered: {received['alerts']} alerts in {received['requests']} grouped requests, "
          f"{received['alerts'] / t_deliver:,.0f} alerts/s, {received['requests'] / t_deliver:,.0f} requests/s")


if __name__ == "__main__":
    main()
