"""``agentotel export`` and ``agentotel import``: warehouse tables out, offline telemetry in."""

from __future__ import annotations

import argparse

from agentotel.core.cli_args import add_database_argument
from agentotel.core.utc import parse_time
from agentotel.warehouse.export import COMPRESSIONS, EXPORT_TABLES, FORMATS


def register(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="export a warehouse table to CSV, Parquet or JSON lines")
    export.add_argument("--table", required=True, choices=EXPORT_TABLES)
    export.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
    export.add_argument("--since", help="ISO date/time (UTC if no offset) or an age like 24h, 7d")
    export.add_argument("--until", help="ISO date/time (exclusive) or an age like 1h")
    export.add_argument("--agent", help="only rows of this agent")
    export.add_argument("--compression", choices=COMPRESSIONS)
    export.add_argument("--chunk-size", type=int, default=50_000, help="rows per read/write chunk")
    add_database_argument(export)
    export.add_argument("out", metavar="OUT")
    export.set_defaults(handler=_export)

    load = sub.add_parser("import", help="load OTLP/JSON trace dumps or JSON-lines telemetry files")
    load.add_argument("files", nargs="+", metavar="FILE")
    add_database_argument(load)
    load.add_argument("--dry-run", action="store_true", help="validate only; write nothing")
    load.set_defaults(handler=_import)



def _engine(args: argparse.Namespace, connect: bool = True):
    """The warehouse of ``--db``, opened and migrated; ``connect=False`` (``import --dry-run``, which writes
    nothing): an engine that never connects."""
    from agentotel.core.settings import DatabaseSettings
    from agentotel.warehouse.engine import create_db_engine, open_warehouse

    settings = DatabaseSettings.resolve(args)
    return open_warehouse(settings) if connect else create_db_engine(settings.url, settings)


def _export(args: argparse.Namespace) -> int:
    from agentotel.core.errors import CommandError
    from agentotel.warehouse.export import export_table

    try:
        since, until = parse_time(args.since), parse_time(args.until)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    engine = _engine(args)
    try:
        result = export_table(
            engine, args.table, args.fmt, args.out, since=since, until=until, agent=args.agent,
            compression=args.compression, chunk_size=args.chunk_size,
        )
    except (ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        engine.dispose()
    print(f"exported {result.rows} rows of {result.table} to {result.path}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from agentotel.core.errors import CommandError
    from agentotel.core.settings import ReceiverSettings
    from agentotel.warehouse.etl import ETLPipeline

    engine = _engine(args, connect=not args.dry_run)
    try:
        pipeline = ETLPipeline(engine, ReceiverSettings.from_env())  # cost, redaction, sampling as the receiver
        report = pipeline.run(args.files, dry_run=args.dry_run)
    except (ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        engine.dispose()
    print(report.summary())
    for rejection in report.rejected[:50]:
        print(f"  rejected {rejection.location}: {rejection.reason}")
    if len(report.rejected) > 50:
        print(f"  … and {len(report.rejected) - 50} more rejected records")
    return 0 if not report.failed_files else 1
