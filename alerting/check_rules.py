"""``agentotel alerts check-rules FILE``: validate a rules file without opening the warehouse (so it needs no
database and prints nothing but its verdict). A bad file is one line, ``file:line: rule 'id': problem``, exit 2.

Channels are checked as the engine would connect: a channel whose address is loopback, private, link-local
(cloud metadata) or otherwise internal and not allow-listed (``settings.allow_hosts``,
``AGENTOTEL_ALERT_ALLOW_HOSTS``) would never deliver, so it is reported at its line and the check fails
(exit 2). A channel whose address is a secret not set here (a webhook URL in ``url_env``), or whose host
does not resolve here, is noted as not checked.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlsplit

from agentotel.alerting.channels.base import resolve_secret
from agentotel.alerting.channels.registry import CHANNEL_TYPES
from agentotel.alerting.config import AlertingConfig, ChannelConfig, RuleError, load_rules
from agentotel.alerting.ssrf import AddressPolicy, ResolutionError, SSRFError
from agentotel.core.errors import CommandError
from agentotel.core.secrets import redact_text
from agentotel.core.settings import ALERT_ALLOW_HOSTS_ENV, AlertingSettings
from agentotel.warehouse.analytics import METRICS


def load(path: str) -> AlertingConfig:
    """The rules file at ``path``; ``CommandError`` naming file, line and rule when it is not valid."""
    try:
        return load_rules(path)
    except RuleError as exc:
        raise CommandError(str(exc)) from None


def check_rules(args: argparse.Namespace) -> int:
    config = load(args.file)
    policy = AddressPolicy([*config.settings.allow_hosts, *AlertingSettings.resolve(args).allow_hosts])
    refused, unchecked = [], []
    for channel in config.channels.values():
        problem, note = channel_address(channel, policy)
        where = f"{args.file}:{channel.line}" if channel.line else args.file
        if problem:
            refused.append(f"{where}: channel {channel.name!r}: {problem}")
        if note:
            unchecked.append(f"note: channel {channel.name!r} (line {channel.line}): {note}")
    for line in refused:
        print(line, file=sys.stderr)
    if not refused:
        types: dict[str, int] = {}
        for rule in config.rules:
            types[rule.type] = types.get(rule.type, 0) + 1
        print(f"{args.file}: OK — {len(config.rules)} rules ("
              + ", ".join(f"{n} {t}" for t, n in sorted(types.items())) + f"), {len(config.channels)} channels, "
              f"{len(config.policies)} escalation policies")
    for line in unchecked:
        print(line)
    for rule in config.rules:
        metric = getattr(rule, "metric", None)
        if metric and metric not in METRICS and not metric.startswith(("metric:", "evaluation:")):
            print(f"warning: rule {rule.id!r} (line {rule.line}): metric {metric!r} is not an analytics metric "
                  f"({', '.join(sorted(METRICS))}, metric:<name>, evaluation:<name>)")
    return 2 if refused else 0


def channel_address(channel: ChannelConfig, policy: AddressPolicy) -> tuple[str | None, str | None]:
    """(why the engine would refuse to connect, or None; why the address was not checked, or None)."""
    cls = CHANNEL_TYPES[channel.type]
    options = cls.validate_options(channel.options)
    try:
        secret = {name: resolve_secret(options, name, required=False) for name in cls.Options.secrets}
    except ValueError as exc:  # a secret file that cannot be read here
        return None, f"address not checked: {redact_text(exc)}"
    targets = cls.targets_of(options, secret)
    if not targets:
        unset = [name for name, required in cls.Options.secrets.items() if required and not secret.get(name)]
        return None, (f"address not checked: its secret {unset[0]!r} is not set here" if unset else None)
    for target in targets:
        parts = urlsplit(target)
        try:
            port = parts.port
            if parts.scheme not in ("http", "https", "smtp"):
                return f"refusing URL scheme {parts.scheme!r}", None
            policy.check_host(parts.hostname or "", port)
        except ResolutionError as exc:
            return None, f"address not checked: {redact_text(exc)}"
        except SSRFError as exc:
            return (f"{redact_text(exc)}: the engine would never deliver to it; add the host to settings.allow_hosts "
                    f"or {ALERT_ALLOW_HOSTS_ENV} if it is meant"), None
        except ValueError:
            return "invalid port in the channel's address", None
    return None, None
