"""Generic webhook: a JSON body, an ``Idempotency-Key`` header and, when a secret is set, an HMAC-SHA256
signature: ``X-Agentotel-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with the Unix
time in ``X-Agentotel-Timestamp`` (``verify_signature`` checks one)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from agentotel.alerting.channels.base import ChannelOptions, Handler
from agentotel.alerting.spec import Text

SIGNATURE_HEADER = "X-Agentotel-Signature"
TIMESTAMP_HEADER = "X-Agentotel-Timestamp"


class WebhookOptions(ChannelOptions):
    channel: ClassVar[str] = "webhook"
    secrets: ClassVar[dict[str, bool]] = {"url": True, "secret": False}

    url: Text | None = None
    url_env: Text | None = None
    url_file: Text | None = None
    secret: Text | None = None
    secret_env: Text | None = None
    secret_file: Text | None = None


class WebhookHandler(Handler):
    """Posts ``{version, source, event, idempotency_key, alerts}`` to the URL (a secret)."""

    type = "webhook"
    Options = WebhookOptions

    @classmethod
    def targets_of(cls, options: Any, secret: Mapping[str, str | None]) -> list[str]:
        return [str(secret["url"])] if secret.get("url") else []

    def send(self, event: str, alerts: Sequence[Mapping[str, Any]], idempotency_key: str) -> None:
        body = json.dumps({"version": "1", "source": "agentotel", "event": event, "idempotency_key": idempotency_key,
                           "alerts": list(alerts)}, separators=(",", ":"), default=str).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        secret = self.secret.get("secret")
        if secret:
            stamp = str(int(time.time()))
            digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers |= {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: f"sha256={digest}"}
        self.post_bytes(str(self.secret["url"]), body, headers)


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Check a webhook signature header (for receivers of our webhooks, and tests)."""
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)
