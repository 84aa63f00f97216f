"""Exporters beyond OTLP: JSON-lines files (OTLP/JSON, rotating), a Prometheus pull endpoint, a webhook.

Batching is the SDK's (``BatchSpanProcessor`` / ``PeriodicExportingMetricReader``); each module is
imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # lazy on purpose: names for type checkers; __getattr__ imports them on use
    from agentotel.instrumentation.exporters.jsonl import JsonLinesMetricExporter, JsonLinesSpanExporter
    from agentotel.instrumentation.exporters.prometheus import PrometheusEndpoint
    from agentotel.instrumentation.exporters.webhook import WebhookSpanExporter

__all__ = ["JsonLinesMetricExporter", "JsonLinesSpanExporter", "PrometheusEndpoint", "WebhookSpanExporter"]

_WHERE = {
    "JsonLinesSpanExporter": "jsonl",
    "JsonLinesMetricExporter": "jsonl",
    "PrometheusEndpoint": "prometheus",
    "WebhookSpanExporter": "webhook",
}


def __getattr__(name: str) -> Any:
    # on use: each exporter (and its third-party dependencies) loads only when asked for
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"agentotel.instrumentation.exporters.{_WHERE[name]}"), name)
    raise AttributeError(name)
