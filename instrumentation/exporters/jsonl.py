"""JSON-lines file exporters: one OTLP/JSON export request per line, rotated by size."""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agentotel.instrumentation.exporters.otlp_json import metrics_to_otlp_json, spans_to_otlp_json

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 5


class _RotatingLines:
    """Appends lines to ``path``; at ``max_bytes`` rotates to ``path.1`` … ``path.N`` (stdlib handler)."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, backup_count: int) -> None:
        if max_bytes <= 0 or backup_count < 0:
            raise ValueError("max_bytes must be > 0 and backup_count >= 0")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=True)
        self._handler.setFormatter(logging.Formatter("%(message)s"))

    def write(self, line: str) -> None:
        """Append one line (rotation and locking are the stdlib handler's)."""
        self._handler.emit(logging.makeLogRecord({"msg": line, "levelno": logging.INFO}))

    def close(self) -> None:
        self._handler.close()


class JsonLinesSpanExporter(SpanExporter):
    """Writes each batch of spans as one OTLP/JSON ``ExportTraceServiceRequest`` line."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES,
                 backup_count: int = DEFAULT_BACKUPS) -> None:
        self._out = _RotatingLines(path, max_bytes, backup_count)
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        try:
            self._out.write(json.dumps(spans_to_otlp_json(spans), separators=(",", ":")))
            return SpanExportResult.SUCCESS
        except (OSError, ValueError) as exc:
            logger.warning("JSON-lines span export failed: %s", exc)
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._closed = True
        self._out.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class JsonLinesMetricExporter(MetricExporter):
    """Writes each metrics collection as one OTLP/JSON ``ExportMetricsServiceRequest`` line."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES,
                 backup_count: int = DEFAULT_BACKUPS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._out = _RotatingLines(path, max_bytes, backup_count)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        try:
            self._out.write(json.dumps(metrics_to_otlp_json(metrics_data), separators=(",", ":")))
            return MetricExportResult.SUCCESS
        except (OSError, ValueError) as exc:
            logger.warning("JSON-lines metric export failed: %s", exc)
            return MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._out.close()
