"""The ``agentotel`` command line.

Core commands live here; each component adds its own sub-commands through a ``register(subparsers)``
function in its ``cli`` module, listed in ``COMPONENT_COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from agentotel.core.errors import CommandError

COMPONENT_COMMANDS: tuple[str, ...] = (
    "agentotel.otlp_receiver.cli",
    "agentotel.warehouse.cli",
    "agentotel.warehouse.data_cli",
    "agentotel.warehouse.api_keys_cli",
    "agentotel.warehouse.content_keys_cli",
    "agentotel.registry.cli",
    "agentotel.alerting.cli",
    "agentotel.evaluation.cli",
    "agentotel.dashboard.cli",
    "agentotel.up",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentotel", description="OpenTelemetry-native monitoring for AI agents")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in COMPONENT_COMMANDS:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except CommandError as exc:
        print(f"agentotel: error: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
