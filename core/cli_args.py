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


KEYS_HELP = "API keys of projects and the master key of encrypted content"


def keys_actions(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The action group of ``agentotel keys`` (its API-key and master-key actions are declared by two
    modules): made by whichever declares first, found by the other."""
    keys = sub.choices.get("keys")
    if keys is None:
        keys = sub.add_parser("keys", help=KEYS_HELP)
        return keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    for action in keys._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")


PROJECT_HELP = "the project to read and write (default: AGENTOTEL_PROJECT or 'default')"


def add_project_argument(parser: argparse.ArgumentParser, *, repeat: bool = False) -> None:
    """Add ``--project P`` (resolved with the command's settings: ``--project`` > ``AGENTOTEL_PROJECT`` >
    ``default``); ``repeat`` as for ``add_database_argument``."""
    parser.add_argument("--project", metavar="P", default=argparse.SUPPRESS if repeat else None, help=PROJECT_HELP)
