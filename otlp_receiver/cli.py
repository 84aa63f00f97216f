"""``agentotel receive``: run the OTLP receiver."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import threading
import time

from agentotel.core.settings import DatabaseSettings, ReceiverSettings


def add_receiver_arguments(parser: argparse.ArgumentParser) -> None:
    d = ReceiverSettings.from_env()
    parser.add_argument("--db", help="warehouse URL (default: MONITORING_DB_URL or sqlite:///monitoring.db)")
    parser.add_argument("--host", default=d.host, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--grpc-port", type=int, default=d.grpc_port)
    parser.add_argument("--http-port", type=int, default=d.http_port)
    parser.add_argument("--metrics-port", type=int, default=d.metrics_port)
    parser.add_argument("--api-key", action="append", default=None, help="require this API key (repeatable)")
    parser.add_argument("--tls-cert", default=d.tls_cert)
    parser.add_argument("--tls-key", default=d.tls_key)
    parser.add_argument("--spool-dir", default=d.spool_dir, help="durable spool directory")
    parser.add_argument("--spool-max-bytes", type=int, default=d.spool_max_bytes)
    parser.add_argument("--max-request-bytes", type=int, default=d.max_request_bytes)
    parser.add_argument("--sample-rate", type=float, default=d.sample_rate)
    parser.add_argument("--no-redact", action="store_true", help="store captured content without PII redaction")
    parser.add_argument("--pricing-file", default=d.pricing_file)


def receiver_settings(args: argparse.Namespace) -> ReceiverSettings:
    base = ReceiverSettings.from_env()
    return dataclasses.replace(
        base,
        host=args.host,
        grpc_port=args.grpc_port,
        http_port=args.http_port,
        metrics_port=args.metrics_port,
        api_keys=tuple(args.api_key) if args.api_key else base.api_keys,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        spool_dir=args.spool_dir,
        spool_max_bytes=args.spool_max_bytes,
        max_request_bytes=args.max_request_bytes,
        sample_rate=args.sample_rate,
        redact_pii=base.redact_pii and not args.no_redact,
        pricing_file=args.pricing_file,
    )


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("receive", help="run the OTLP receiver (gRPC + HTTP) into the warehouse")
    add_receiver_arguments(parser)
    parser.set_defaults(handler=run_receive)


def run_receive(args: argparse.Namespace) -> int:
    from agentotel.otlp_receiver.server import ReceiverServer

    server = ReceiverServer(DatabaseSettings.from_env(args.db).url, receiver_settings(args)).start()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    last = 0.0
    while not stop.wait(1.0):
        if time.monotonic() - last >= 30:
            last = time.monotonic()
            st = server.status()
            print(
                f"spool depth {st['spool_bytes']} B, drain lag {st['drain_lag_seconds']} s"
                + (f", warehouse errors: {st['last_error']}" if st["drain_failures"] else ""),
                flush=True,
            )
    server.stop()
    return 0
