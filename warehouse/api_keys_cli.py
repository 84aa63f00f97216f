"""``agentotel keys create|list|rotate|revoke``: API keys of projects (``warehouse/api_keys.py``).

These actions join the ``keys`` command whichever module registers it first (the master key of encrypted
content has its actions under the same command). A key is printed once, when it is made; only its digest is
stored. Who acts: ``--actor`` > ``AGENTOTEL_ACTOR`` > the login name (recorded in ``key_audit_log``).
"""

from __future__ import annotations

import argparse

from agentotel.core.cli_args import add_database_argument, keys_actions
from agentotel.core.errors import CommandError
from agentotel.core.projects import SCOPES
from agentotel.core.settings import DatabaseSettings, RegistrySettings


def _common(parser: argparse.ArgumentParser) -> None:
    add_database_argument(parser)
    parser.add_argument("--actor", help="who acts (default: AGENTOTEL_ACTOR, else the login name)")


def register(sub: argparse._SubParsersAction) -> None:
    actions = keys_actions(sub)
    create = actions.add_parser("create", help="a new API key of a project (printed once, stored hashed)")
    _common(create)
    create.add_argument("--project", required=True, help="the project (made if it does not exist)")
    create.add_argument("--scope", required=True, choices=SCOPES, help="ingest: send telemetry; read; admin: both")
    create.add_argument("--name", help="a label for the key (e.g. the service that uses it)")
    create.set_defaults(handler=_create)
    listing = actions.add_parser("list", help="the keys (ids, never the keys) of every project or of one")
    _common(listing)
    listing.add_argument("--project", help="only this project's keys")
    listing.add_argument("--all", action="store_true", help="revoked keys too")
    listing.set_defaults(handler=_list)
    for name, handler, text in (("rotate", _rotate, "replace a key by a new one of the same project and scope"),
                                ("revoke", _revoke, "revoke a key (the receiver refuses it within seconds)")):
        parser = actions.add_parser(name, help=text)
        _common(parser)
        parser.add_argument("key_id", metavar="KEY_ID", help="the key's id (see `agentotel keys list`)")
        parser.set_defaults(handler=handler)


def _engine(args: argparse.Namespace):
    from agentotel.warehouse.engine import open_warehouse  # here: the other commands start without Alembic

    return open_warehouse(DatabaseSettings.resolve(args))


def _actor(args: argparse.Namespace) -> str:
    return RegistrySettings.resolve(args).who


def _create(args: argparse.Namespace) -> int:
    from agentotel.warehouse.api_keys import create_key  # here: `agentotel` starts without the key models

    try:
        key_id, key = create_key(_engine(args), args.project, args.scope, _actor(args), args.name)
    except ValueError as exc:  # ApiKeyError, or an invalid project name
        raise CommandError(str(exc)) from None
    print(f"created key {key_id} of project {args.project} (scope {args.scope}); it is shown only now:")
    print(key)
    return 0


def _list(args: argparse.Namespace) -> int:
    from agentotel.warehouse.api_keys import list_keys  # here: `agentotel` starts without the key models

    keys = list_keys(_engine(args), args.project, include_revoked=args.all)
    if not keys:
        print("no API keys" + (f" in project {args.project}" if args.project else ""))
        return 0
    print(f"{'ID':<10}{'PROJECT':<20}{'SCOPE':<8}{'CREATED':<22}{'BY':<16}{'REVOKED':<22}NAME")
    for k in keys:
        revoked = k.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if k.revoked_at else "-"
        print(f"{k.id:<10}{k.project:<20}{k.scope:<8}{k.created_at:%Y-%m-%d %H:%M:%S}   {k.created_by:<16}"
              f"{revoked:<22}{k.name or ''}")  # fmt: skip
    return 0


def _rotate(args: argparse.Namespace) -> int:
    from agentotel.warehouse.api_keys import rotate_key  # here: `agentotel` starts without the key models

    try:
        new_id, key = rotate_key(_engine(args), args.key_id, _actor(args))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(f"key {args.key_id} revoked and replaced by {new_id}; the new key is shown only now:")
    print(key)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    from agentotel.warehouse.api_keys import revoke_key  # here: `agentotel` starts without the key models

    try:
        info = revoke_key(_engine(args), args.key_id, _actor(args))
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    print(f"key {info.id} of project {info.project} revoked")
    return 0
