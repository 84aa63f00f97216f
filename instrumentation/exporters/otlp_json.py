"""OTLP/JSON encoding of SDK spans and metrics (hex ids, integer enums, int64 as strings)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def spans_to_otlp_json(spans: Sequence[Any]) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` as an OTLP/JSON object."""
    data = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    _hex_ids(data)
    return data


def metrics_to_otlp_json(metrics_data: Any) -> dict[str, Any]:
    """An ``ExportMetricsServiceRequest`` as an OTLP/JSON object."""
    data = MessageToDict(encode_metrics(metrics_data), use_integers_for_enums=True)
    _hex_ids(data)
    return data
