"""``agentotel keys new-master`` and ``agentotel keys rotate-master --new-key-file PATH``.

The master key of encryption at rest (``warehouse/content_keys.py``). These actions join the ``keys`` command
whichever module registers it first (tenancy's API-key actions live beside it under the same command).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agentotel.core.cli_args import add_database_argument, keys_actions
from agentotel.core.errors import CommandError
from agentotel.core.settings import DatabaseSettings


def register(sub: argparse._SubParsersAction) -> None:
    actions = keys_actions(sub)
    actions.add_parser("new-master", help="print a fresh master key (32 random bytes, base64)").set_defaults(
        handler=_new_master)
    rotate = actions.add_parser(
        "rotate-master", help="re-wrap every data key of encrypted content with a new master key (rows untouched)")
    add_database_argument(rotate)
    rotate.add_argument("--new-key-file", required=True, metavar="PATH",
                        help="file holding the new master key (the current one: AGENTOTEL_MASTER_KEY / _FILE)")
    rotate.set_defaults(handler=_rotate_master)


def _new_master(args: argparse.Namespace) -> int:  # noqa: ARG001
    # here: `agentotel` and its other commands start without cryptography
    from agentotel.warehouse.content_keys import new_master_key

    print(new_master_key())
    return 0


def _rotate_master(args: argparse.Namespace) -> int:
    # here: `agentotel` and its other commands start without cryptography and Alembic
    from agentotel.warehouse.content_keys import fingerprint, parse_master_key, rotate_master
    from agentotel.warehouse.engine import open_warehouse

    settings = DatabaseSettings.resolve(args)
    if not settings.master_key:
        raise CommandError("rotate-master needs the current master key in AGENTOTEL_MASTER_KEY or "
                           "AGENTOTEL_MASTER_KEY_FILE")
    try:
        new_key = Path(args.new_key_file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CommandError(f"cannot read {args.new_key_file}: {exc.strerror}") from None
    engine = open_warehouse(settings)
    try:
        count = rotate_master(engine, settings.master_key, new_key)
    finally:
        engine.dispose()
    print(f"re-wrapped {count} data key(s) with the master key {fingerprint(parse_master_key(new_key))}; "
          "set AGENTOTEL_MASTER_KEY to it from now on")
    return 0
