"""``agentotel export``: a warehouse table out to CSV, Parquet or JSON lines (``agentotel import`` lives with
the receiver: ``otlp_receiver/cli.py``)."""

from __future__ import annotations

import argparse

from agentotel.core.cli_args import add_database_argument
from agentotel.core.errors import CommandError
from agentotel.core.settings import DatabaseSettings, RegistrySettings
from agentotel.core.utc import parse_time
from agentotel.warehouse.export import COMPRESSIONS, EXPORT_TABLES, FORMATS, export_table


def register(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="export a warehouse table to CSV, Parquet or JSON lines")
    export.add_argument("--table", required=True, choices=EXPORT_TABLES)
    export.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
    export.add_argument("--since", help="ISO date/time (UTC if no offset) or an age like 24h, 7d")
    export.add_argument("--until", help="ISO date/time (exclusive) or an age like 1h")
    export.add_argument("--agent", help="only rows of this agent")
    export.add_argument("--project", action="append", metavar="P",
                        help="only rows of this project (repeatable); read as the row-secured reader role")
    export.add_argument("--compression", choices=COMPRESSIONS)
    export.add_argument("--chunk-size", type=int, default=50_000, help="rows per read/write chunk")
    add_database_argument(export)
    export.add_argument("out", metavar="OUT")
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from agentotel.warehouse.engine import open_warehouse  # here: the other commands start without Alembic

    try:
        since, until = parse_time(args.since), parse_time(args.until)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    settings = DatabaseSettings.resolve(args)
    if args.project:
        from agentotel.warehouse.scoping import open_scoped_warehouse  # here: as open_warehouse above

        try:
            engine = open_scoped_warehouse(settings, args.project)
        except ValueError as exc:  # an invalid project name
            raise CommandError(str(exc)) from None
    else:
        engine = open_warehouse(settings)
    scope = f"projects {','.join(args.project)}" if args.project else "all projects"
    try:
        result = export_table(
            engine, args.table, args.fmt, args.out, since=since, until=until, agent=args.agent,
            compression=args.compression, chunk_size=args.chunk_size,
        )
    except (ValueError, OSError) as exc:
        _audit(settings, args, "failed", f"{scope}: {exc}")
        raise CommandError(str(exc)) from None
    finally:
        engine.dispose()
    _audit(settings, args, "ok", f"{result.rows} rows of {scope} to {result.path}")
    print(f"exported {result.rows} rows of {result.table} to {result.path}")
    return 0


def _audit(settings: DatabaseSettings, args: argparse.Namespace, outcome: str, detail: str) -> None:
    """An export in the security audit log, as ``AGENTOTEL_ACTOR`` or the login name of who ran it (a scoped
    reader cannot write: the entry goes through the owner's connection)."""
    from agentotel.warehouse import security_audit  # here: as open_warehouse above
    from agentotel.warehouse.engine import create_db_engine

    window = f" since {args.since}" if args.since else ""
    window += f" until {args.until}" if args.until else ""
    engine = create_db_engine(settings.url, settings)
    try:
        security_audit.record(engine, RegistrySettings.from_env().who, "export", f"{args.table} ({args.fmt}){window}",
                              outcome, detail)
    finally:
        engine.dispose()

