"""``agentotel db upgrade | backup PATH | restore PATH | cleanup --older-than AGE``."""

from __future__ import annotations

import argparse

from agentotel.core.cli_args import add_database_argument
from agentotel.core.durations import parse_duration
from agentotel.core.errors import CommandError
from agentotel.core.settings import DatabaseSettings


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="warehouse schema, backup, restore and retention")
    add_database_argument(db)
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    actions.add_parser("upgrade", help="apply the Alembic migrations").set_defaults(handler=_upgrade)
    backup = actions.add_parser("backup", help="write every table to a portable backup file")
    backup.add_argument("path")
    backup.set_defaults(handler=_backup)
    restore = actions.add_parser("restore", help="load a backup into an empty database (schema included)")
    restore.add_argument("path")
    restore.set_defaults(handler=_restore)
    cleanup = actions.add_parser("cleanup", help="delete data older than AGE (30d, 12h; a bare number = days)")
    cleanup.add_argument("--older-than", required=True, metavar="AGE")
    cleanup.set_defaults(handler=_cleanup)


def _manager(args: argparse.Namespace, quiet: bool = True):
    """The warehouse of ``--db``, opened and migrated (``restore`` fills an empty one: schema first)."""
    # here: the other commands start without Alembic and the warehouse models
    from agentotel.warehouse.engine import open_warehouse
    from agentotel.warehouse.manager import DatabaseManager

    settings = DatabaseSettings.resolve(args)
    return DatabaseManager(settings=settings, engine=open_warehouse(settings, quiet=quiet))


def _upgrade(args: argparse.Namespace) -> int:
    revisions = _manager(args, quiet=False).migrate_schema()  # Alembic names each revision it applies
    print("schema at", ", ".join(sorted(revisions)))
    return 0


def _backup(args: argparse.Namespace) -> int:
    counts = _manager(args).backup(args.path)
    print(f"backed up {sum(counts.values())} rows from {len(counts)} tables to {args.path}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    try:
        counts = _manager(args).restore(args.path)
    except (ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(f"restored {sum(counts.values())} rows into {len(counts)} tables")
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    try:
        age = parse_duration(args.older_than)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    removed = _manager(args).cleanup_old_data(age)
    print("removed " + ", ".join(f"{n} {t}" for t, n in sorted(removed.items()) if n) if any(removed.values()) else "nothing to remove")
    return 0
