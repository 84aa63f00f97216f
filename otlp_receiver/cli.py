"""``agentotel receive``: run the OTLP receiver; ``agentotel import``: load offline telemetry files through it."""

from __future__ import annotations

import argparse
import signal
import threading
import time

from agentotel.core.cli_args import add_database_argument
from agentotel.core.errors import CommandError
from agentotel.core.settings import DatabaseSettings, ReceiverSettings


def add_receiver_arguments(parser: argparse.ArgumentParser) -> None:
    """The receiver's flags; each defaults to None so that ``ReceiverSettings.resolve(args)`` can tell a
    flag given on the command line (it wins) from one left to the environment or the default."""
    add_database_argument(parser)
    parser.add_argument("--host", help="address to listen on (default: AGENTOTEL_HOST or 127.0.0.1)")
    parser.add_argument("--grpc-port", type=int, help="OTLP/gRPC port (default: AGENTOTEL_GRPC_PORT or 4317)")
    parser.add_argument("--http-port", type=int, help="OTLP/HTTP port (default: AGENTOTEL_HTTP_PORT or 4318)")
    parser.add_argument("--metrics-port", type=int, help="/metrics port (default: AGENTOTEL_METRICS_PORT or 9464)")
    parser.add_argument("--api-key", action="append", default=None,
                        help="require this API key (repeatable; default: AGENTOTEL_API_KEYS)")
    parser.add_argument("--tls-cert", help="TLS certificate file (default: AGENTOTEL_TLS_CERT)")
    parser.add_argument("--tls-key", help="TLS private key file (default: AGENTOTEL_TLS_KEY)")
    parser.add_argument("--spool-dir", help="durable spool directory (default: AGENTOTEL_SPOOL_DIR or .agentotel-spool)")
    parser.add_argument("--spool-max-bytes", type=int, help="spool capacity (default: AGENTOTEL_SPOOL_MAX_BYTES or 1 GiB)")
    parser.add_argument("--max-request-bytes", type=int,
                        help="largest request, decompressed (default: AGENTOTEL_MAX_REQUEST_BYTES or 64 MiB)")
    parser.add_argument("--sample-rate", type=float, help="share of traces kept (default: AGENTOTEL_SAMPLE_RATE or 1.0)")
    parser.add_argument("--no-redact", action="store_true", help="store captured content without PII redaction")
    parser.add_argument("--pricing-file", help="prices merged over the built-in table (default: AGENTOTEL_PRICING_FILE)")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("receive", help="run the OTLP receiver (gRPC + HTTP) into the warehouse")
    add_receiver_arguments(parser)
    parser.set_defaults(handler=run_receive)

    load = sub.add_parser("import", help="load OTLP/JSON trace dumps or JSON-lines telemetry files")
    load.add_argument("files", nargs="+", metavar="FILE")
    add_database_argument(load)
    load.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
    load.set_defaults(handler=run_import)


def run_receive(args: argparse.Namespace) -> int:
    from agentotel.otlp_receiver.server import ReceiverServer  # here: the other commands start without gRPC

    server = ReceiverServer(DatabaseSettings.resolve(args), ReceiverSettings.resolve(args)).start()
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


def run_import(args: argparse.Namespace) -> int:
    """Import ``args.files`` (``--dry-run``: decode and validate only, the warehouse is not opened)."""
    # here: the other commands start without the processors, gRPC and the warehouse models
    from agentotel.otlp_receiver.offline_import import OfflineImport
    from agentotel.warehouse.engine import open_warehouse
    from agentotel.warehouse.errors import StorageError

    engine = None if args.dry_run else open_warehouse(DatabaseSettings.resolve(args))
    try:
        report = OfflineImport(ReceiverSettings.resolve(args), engine).run(args.files)
    except (ValueError, OSError, StorageError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        if engine is not None:
            engine.dispose()
    print(report.summary())
    for rejection in report.rejected[:50]:
        print(f"  rejected {rejection.location}: {rejection.reason}")
    if len(report.rejected) > 50:
        print(f"  … and {len(report.rejected) - 50} more rejected records")
    return 0 if not report.failed_files else 1
