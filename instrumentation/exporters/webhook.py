"""Webhook span exporter: POSTs each batch as OTLP/JSON, retrying transient failures with backoff."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Mapping, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agentotel.core.retry_after import retry_after_seconds
from agentotel.instrumentation.exporters.otlp_json import spans_to_otlp_json

logger = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


class WebhookSpanExporter(SpanExporter):
    """POST ``{"resourceSpans": [...]}`` to ``url``; batching comes from the ``BatchSpanProcessor``.

    Retries 408/429/5xx and connection errors up to ``max_retries`` times (exponential backoff with
    jitter from ``backoff`` seconds, honouring ``Retry-After``), all within ``timeout`` seconds.
    """

    def __init__(self, url: str, headers: Mapping[str, str] | None = None, timeout: float = 10.0,
                 max_retries: int = 5, backoff: float = 0.5) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s): {url!r}")
        import requests

        self._url = url
        self._headers = {"Content-Type": "application/json", **dict(headers or {})}
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff = backoff
        self._session = requests.Session()
        self._stop = threading.Event()
        self.failed_batches = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._stop.is_set():
            return SpanExportResult.FAILURE
        body = json.dumps(spans_to_otlp_json(spans), separators=(",", ":")).encode()
        deadline = time.monotonic() + self._timeout
        for attempt in range(self._max_retries + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            delay = self._backoff * (2**attempt) * random.uniform(0.8, 1.2)
            try:
                reply = self._session.post(self._url, data=body, headers=self._headers, timeout=remaining)
            except Exception as exc:  # noqa: BLE001 - connection errors are transient
                logger.debug("webhook export attempt %d failed: %s", attempt + 1, exc)
            else:
                if reply.status_code < 300:
                    return SpanExportResult.SUCCESS
                if reply.status_code not in RETRYABLE:
                    logger.warning("webhook refused the batch: HTTP %d", reply.status_code)
                    break
                delay = retry_after_seconds(reply.headers.get("Retry-After")) or delay
            if attempt == self._max_retries or self._stop.wait(min(delay, max(0.0, deadline - time.monotonic()))):
                break
        self.failed_batches += 1
        logger.warning("webhook export of %d spans failed", len(spans))
        return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._stop.set()
        self._session.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
