"""Prometheus Alertmanager ``POST /api/v2/alerts`` (``endsAt`` set on resolve)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, ClassVar

from agentotel.alerting.channels.base import ChannelOptions, Handler, value_text
from agentotel.alerting.spec import Text


class AlertmanagerOptions(ChannelOptions):
    channel: ClassVar[str] = "alertmanager"

    url: Text = "http://127.0.0.1:9093"
    generator_url: Text = ""


class AlertmanagerHandler(Handler):
    """Alerts as Alertmanager alerts: ``alertname`` = rule id, labels made Prometheus-safe."""

    type = "alertmanager"
    Options = AlertmanagerOptions
    options: AlertmanagerOptions

    @classmethod
    def targets_of(cls, options: Any, secret: Mapping[str, str | None]) -> list[str]:
        return [options.url]

    def send(self, event: str, alerts: Sequence[Mapping[str, Any]], idempotency_key: str) -> None:
        items = []
        for alert in alerts:
            labels = {"alertname": str(alert.get("rule_id")), "severity": str(alert.get("severity"))}
            labels |= {_label_name(k): str(v) for k, v in (alert.get("labels") or {}).items() if str(v) != ""}
            item: dict[str, Any] = {
                "labels": labels,
                "annotations": {"summary": str(alert.get("message", "")), "value": value_text(alert),
                                **{_label_name(k): str(v) for k, v in (alert.get("annotations") or {}).items()}},
                "startsAt": alert.get("starts_at"),
            }
            if event == "resolve":
                item["endsAt"] = alert.get("ends_at") or datetime.now(timezone.utc).isoformat()
            if self.options.generator_url:
                item["generatorURL"] = self.options.generator_url
            items.append(item)
        self.post_json(f"{self.options.url.rstrip('/')}/api/v2/alerts", items)


def _label_name(name: Any) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9_]", "_", str(name))
    return cleaned if re.match(r"[a-zA-Z_]", cleaned) else f"_{cleaned}"
