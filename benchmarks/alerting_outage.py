"""RELIABILITY A1 at full length: a webhook answers 500 for ``--outage`` seconds (default 60), then 200.

    .venv/bin/python benchmarks/alerting_outage.py [--outage 60] [--backoff-base 2] [--db URL]

Prints the attempts, how long after recovery the notification arrived, deliveries (must be exactly 1)
and the channel's failure counter, with the production back-off (base 2 s, doubling, jittered).
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
    parser.add_argument("--outage", type=float, default=60.0)
    parser.add_argument("--backoff-base", type=float, default=2.0)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()

    from agentotel.alerting.channels.webhook import WebhookHandler
    from agentotel.alerting.manager import AlertManager
    from agentotel.alerting.queries import channel_stats
    from agentotel.alerting.queue import NotificationQueue, QueueSettings
    from agentotel.alerting.ssrf import AddressPolicy
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade

    recover_at = time.monotonic() + args.outage
    log: list[tuple[float, int]] = []

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server hook name
            self.rfile.read(int(self.headers["Content-Length"]))
            status = 500 if time.monotonic() < recover_at else 200
            log.append((time.monotonic(), status))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    engine = create_db_engine(args.db or f"sqlite:///{tempfile.mkdtemp()}/outage.db")
    upgrade(engine)
    handler = WebhookHandler("hook", {"url": f"http://127.0.0.1:{server.server_address[1]}/"},
                             AddressPolicy(["127.0.0.1"]))
    queue = NotificationQueue(engine, {"hook": handler},
                              QueueSettings(backoff_base=timedelta(seconds=args.backoff_base), max_attempts=50))
    manager = AlertManager(engine)
    queue.enqueue(manager.get_alert(manager.create_alert("outage", "critical", "webhook outage test")), "hook")
    deadline = recover_at + 10 * args.backoff_base + 60
    while time.monotonic() < deadline and not any(s == 200 for _, s in log):
        queue.process_due()
        time.sleep(0.2)
    server.shutdown()
    delivered = [t for t, s in log if s == 200]
    [stats] = channel_stats(engine)
    print(f"outage {args.outage:.0f} s, back-off base {args.backoff_base} s")
    print(f"attempts: {len(log)} ({sum(s == 500 for _, s in log)} failed)")
    print(f"deliveries: {len(delivered)}" + (f", {delivered[0] - recover_at:.1f} s after recovery" if delivered else ""))
    print(f"channel failures_total: {stats['failures_total']}, deliveries_total: {stats['deliveries_total']}")


if __name__ == "__main__":
    main()
