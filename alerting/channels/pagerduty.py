"""PagerDuty Events API v2: trigger / acknowledge / resolve with ``dedup_key`` = the alert's fingerprint."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from agentotel.alerting.channels.base import EVENTS, ChannelOptions, Handler
from agentotel.alerting.spec import Text

PD_SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}


class PagerDutyOptions(ChannelOptions):
    channel: ClassVar[str] = "pagerduty"
    secrets: ClassVar[dict[str, bool]] = {"routing_key": True}

    routing_key: Text | None = None
    routing_key_env: Text | None = None
    routing_key_file: Text | None = None
    url: Text = "https://events.pagerduty.com/v2/enqueue"
    source: Text = "agentotel"


class PagerDutyHandler(Handler):
    """One event per alert, so that each alert series is one incident."""

    type = "pagerduty"
    events = frozenset(EVENTS)
    Options = PagerDutyOptions
    options: PagerDutyOptions

    @classmethod
    def targets_of(cls, options: Any, secret: Mapping[str, str | None]) -> list[str]:
        return [options.url]

    def send(self, event: str, alerts: Sequence[Mapping[str, Any]], idempotency_key: str) -> None:
        for alert in alerts:
            body: dict[str, Any] = {"routing_key": self.secret["routing_key"], "event_action": event,
                                    "dedup_key": alert["fingerprint"]}
            if event == "trigger":
                body["payload"] = {
                    "summary": f"{alert.get('rule_id')}: {alert.get('message', '')}"[:1024],
                    "source": str((alert.get("labels") or {}).get("agent") or self.options.source),
                    "severity": PD_SEVERITY.get(str(alert.get("severity")), "warning"),
                    "timestamp": alert.get("starts_at"),
                    "class": alert.get("rule_id"),
                    "custom_details": {"labels": alert.get("labels") or {}, "value": alert.get("value"),
                                       "annotations": alert.get("annotations") or {}},
                }
                body["client"] = "agentotel"
            self.post_json(self.options.url, body)
