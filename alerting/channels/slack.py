"""Slack incoming webhook with Block Kit: a header, one section per alert with label fields, a context line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from agentotel.alerting.channels.base import ChannelOptions, Handler, title, value_text
from agentotel.alerting.spec import Text


class SlackOptions(ChannelOptions):
    channel: ClassVar[str] = "slack"
    secrets: ClassVar[dict[str, bool]] = {"url": True}

    url: Text | None = None
    url_env: Text | None = None
    url_file: Text | None = None


class SlackHandler(Handler):
    """Posts to the webhook URL (a secret)."""

    type = "slack"
    Options = SlackOptions

    @classmethod
    def targets_of(cls, options: Any, secret: Mapping[str, str | None]) -> list[str]:
        return [str(secret["url"])] if secret.get("url") else []

    def send(self, event: str, alerts: Sequence[Mapping[str, Any]], idempotency_key: str) -> None:
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title(event, alerts)[:150]}}]
        for alert in alerts[:20]:
            text = f"*{_mrkdwn(alert.get('severity'))}* `{_mrkdwn(alert.get('rule_id'))}`\n{_mrkdwn(alert.get('message', ''))}"
            fields = [{"type": "mrkdwn", "text": f"*{_mrkdwn(k)}*\n{_mrkdwn(v)}"[:2000]}
                      for k, v in list((alert.get("labels") or {}).items())[:9]]
            if alert.get("value") is not None:
                fields.append({"type": "mrkdwn", "text": f"*value*\n{value_text(alert)}"})
            section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}
            if fields:
                section["fields"] = fields[:10]
            blocks.append(section)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"agentotel · {len(alerts)} alert(s) · {event}"}]})
        self.post_json(str(self.secret["url"]), {"text": title(event, alerts), "blocks": blocks[:50]})


def _mrkdwn(text: Any) -> str:
    """Escape Slack's mrkdwn control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
