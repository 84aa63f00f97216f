"""Discord webhook: one embed per alert (at most 10, Discord's limit), mentions disabled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from agentotel.alerting.channels.base import ChannelOptions, Handler, title, value_text
from agentotel.alerting.spec import Text

SEVERITY_COLORS = {"critical": 0xD0021B, "error": 0xF5A623, "warning": 0xF8E71C, "info": 0x4A90E2}
RESOLVED_COLOR, OTHER_COLOR = 0x7ED321, 0x9B9B9B


class DiscordOptions(ChannelOptions):
    channel: ClassVar[str] = "discord"
    secrets: ClassVar[dict[str, bool]] = {"url": True}

    url: Text | None = None
    url_env: Text | None = None
    url_file: Text | None = None


class DiscordHandler(Handler):
    """Posts to the webhook URL (a secret)."""

    type = "discord"
    Options = DiscordOptions

    @classmethod
    def targets_of(cls, options: Any, secret: Mapping[str, str | None]) -> list[str]:
        return [str(secret["url"])] if secret.get("url") else []

    def send(self, event: str, alerts: Sequence[Mapping[str, Any]], idempotency_key: str) -> None:
        embeds = []
        for alert in alerts[:10]:
            fields = [{"name": str(k)[:256], "value": str(v)[:1024] or "-", "inline": True}
                      for k, v in list((alert.get("labels") or {}).items())[:24]]
            if alert.get("value") is not None:
                fields.append({"name": "value", "value": value_text(alert), "inline": True})
            embed = {
                "title": f"{alert.get('rule_id')} ({alert.get('severity')})"[:256],
                "description": str(alert.get("message", ""))[:4096],
                "color": RESOLVED_COLOR if event == "resolve" else SEVERITY_COLORS.get(str(alert.get("severity")), OTHER_COLOR),
                "fields": fields,
            }
            if alert.get("starts_at"):
                embed["timestamp"] = alert["starts_at"]
            embeds.append(embed)
        body = {"content": title(event, alerts)[:2000], "embeds": embeds, "allowed_mentions": {"parse": []}}
        self.post_json(str(self.secret["url"]), body)
