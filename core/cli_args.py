"""Command-line arguments that several commands share, declared once.

``--db URL`` is resolved by ``DatabaseSettings.resolve(args)`` (``--db`` > ``MONITORING_DB_URL`` >
``sqlite:///monitoring.db``); the command opens the warehouse with
``agentotel.warehouse.engine.open_warehouse``, which migrates it.
"""

from __future__ import annotations

import argparse

DATABASE_HELP = "warehouse URL (default: MONITORING_DB_URL or sqlite:///monitoring.db)"


def add_database_argument(parser: argparse.ArgumentParser, *, repeat: bool = False) -> None:
    """Add ``--db URL`` to ``parser``.

    ``repeat``: ``parser`` is an action's sub-parser whose command parser already has ``--db``; the flag
    is accepted after the action too (``agentotel registry list --db URL``) without hiding a value given
    before it.
    """
    parser.add_argument("--db", metavar="URL", default=argparse.SUPPRESS if repeat else None, help=DATABASE_HELP)
