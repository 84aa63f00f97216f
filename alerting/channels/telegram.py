"""Telegram bot API ``sendMessage`` in HTML parse mode."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from agentotel.alerting.channels.base import ChannelOptions, DeliveryError, Handler, title
from agentotel.alerting.spec import Text


class TelegramOptions(ChannelOptions):
    channel: ClassVar[str] = "telegram"
    secrets: ClassVar[dict[str, bool]] = {"bot_token": True}

    bot_token: Text | None = None
    bot_token_env: Text | None = None
    bot_token_file: Text | None = None
    chat_id: int | str
    api_url: Text = "https://api.telegram.org"


class TelegramHandler(Handler):
    """Sends to ``chat_id`` with the bot token (a secret); ``ok: false`` in the answer is a permanent failure."""

    type = "telegram"
    Options = TelegramOptions
    options: TelegramOptions

    @classmethod
    def targets_of(cls, options: Any, secret: Mapping[str, str | None]) -> list[str]:
        return [options.api_url]

    def send(self, event: str, alerts: Sequence[Mapping[str, Any]], idempotency_key: str) -> None:
        lines = [f"<b>{html.escape(title(event, alerts))}</b>"]
        for alert in alerts[:20]:
            labels = ", ".join(f"{k}={v}" for k, v in (alert.get("labels") or {}).items())
            lines.append(f"• <code>{html.escape(str(alert.get('rule_id')))}</code> {html.escape(str(alert.get('message', '')))}"
                         + (f" <i>{html.escape(labels)}</i>" if labels else ""))
        url = f"{self.options.api_url.rstrip('/')}/bot{self.secret['bot_token']}/sendMessage"
        body = {"chat_id": self.options.chat_id, "text": "\n".join(lines)[:4096], "parse_mode": "HTML",
                "disable_web_page_preview": True}
        response = self.post_json(url, body)
        try:
            ok = response.json().get("ok", True)
        except ValueError:
            ok = True
        if not ok:
            raise DeliveryError(f"telegram channel {self.name!r}: API answered ok=false", retryable=False)
