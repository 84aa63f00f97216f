"""The ``log`` channel: one line per notification on the ``agentotel.alerts`` logger (the console of
``agentotel up`` / ``alerts run``). It needs no account or network, so it works out of the box (the demo
uses it)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator

from agentotel.alerting.channels.base import EVENTS, ChannelOptions, Handler, title, value_text
from agentotel.core.secrets import install_log_filter

ALERT_LOGGER = "agentotel.alerts"
LOG_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR,
              "critical": logging.CRITICAL}
install_log_filter((ALERT_LOGGER,))


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


class LogOptions(ChannelOptions):
    channel: ClassVar[str] = "log"

    level: Annotated[Literal["debug", "info", "warning", "error", "critical"], BeforeValidator(_lower)] = "warning"


class LogHandler(Handler):
    """``[FIRING] warning: rule message (value v) [labels]`` at the configured level."""

    type = "log"
    events = frozenset(EVENTS)
    Options = LogOptions
    options: LogOptions

    def send(self, event: str, alerts: Sequence[Mapping[str, Any]], idempotency_key: str) -> None:
        log = logging.getLogger(ALERT_LOGGER)
        level = LOG_LEVELS[self.options.level]
        for alert in alerts:
            labels = ", ".join(f"{k}={v}" for k, v in (alert.get("labels") or {}).items())
            value = f" (value {value_text(alert)})" if alert.get("value") is not None else ""
            log.log(level, "%s %s%s%s", title(event, [alert]), alert.get("message", ""), value,
                    f" [{labels}]" if labels else "")
