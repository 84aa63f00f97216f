"""The channel types by name, and building the handlers of a rules file's channels.

Adding a channel = one module in this package (options model + ``Handler`` subclass) and one entry in
``CHANNEL_TYPES``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from agentotel.alerting.channels.alertmanager import AlertmanagerHandler
from agentotel.alerting.channels.base import Handler
from agentotel.alerting.channels.discord import DiscordHandler
from agentotel.alerting.channels.email import EmailHandler
from agentotel.alerting.channels.log import LogHandler
from agentotel.alerting.channels.pagerduty import PagerDutyHandler
from agentotel.alerting.channels.slack import SlackHandler
from agentotel.alerting.channels.telegram import TelegramHandler
from agentotel.alerting.channels.webhook import WebhookHandler
from agentotel.alerting.ssrf import AddressPolicy
from agentotel.core.secrets import redact_text

logger = logging.getLogger(__name__)

CHANNEL_TYPES: dict[str, type[Handler]] = {
    cls.type: cls
    for cls in (SlackHandler, EmailHandler, PagerDutyHandler, WebhookHandler, TelegramHandler, DiscordHandler,
                AlertmanagerHandler, LogHandler)
}


def build_handlers(channels: Mapping[str, Any], policy: AddressPolicy | None = None,
                   strict: bool = True) -> dict[str, Handler]:
    """Handlers for the ``channels`` of a rules file (``ChannelConfig`` values); secrets resolved now.

    A channel that cannot be built (e.g. its secret's environment variable is not set) raises ``ValueError``,
    or with ``strict=False`` is left out with a warning: its notifications then become dead letters
    ("no handler configured"), visible and re-sendable once the channel is configured.
    """
    out = {}
    for name, channel in channels.items():
        try:
            out[name] = CHANNEL_TYPES[channel.type](name, channel.options, policy)
        except ValueError as exc:
            if strict:
                raise ValueError(f"channel {name!r}: {exc}") from None
            logger.warning("channel %s disabled: %s", name, redact_text(exc))
    return out
