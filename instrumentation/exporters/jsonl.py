"""File exporters: one OTLP/JSON export request per record, as JSON lines or MessagePack, rotated by size.

The format (``file_format.py``) is chosen by ``format=`` (``jsonl`` / ``msgpack``), else by the file name
(``.msgpack`` / ``.mpk`` among its suffixes → MessagePack): ``instrument(jsonl_path="spans.msgpack")``
writes MessagePack spans and ``spans.msgpack.metrics`` MessagePack metrics.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from agentotel.instrumentation.exporters.file_format import RotatingFile, encode, format_for
from agentotel.instrumentation.exporters.otlp_json import metrics_to_otlp_json, spans_to_otlp_json

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
DEFAULT_BACKUPS = 5


class JsonLinesSpanExporter(SpanExporter):
    """Writes each batch of spans as one OTLP/JSON ``ExportTraceServiceRequest`` record (a line, or a
    MessagePack map)."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES,
                 backup_count: int = DEFAULT_BACKUPS, format: str | None = None) -> None:
        self.format = format_for(path, format)
        if self.format != "jsonl":
            encode({}, self.format)  # the encoder is there (msgpack installed), or fail now
        self._out = RotatingFile(path, max_bytes, backup_count)
        self._closed = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        try:
            self._out.write(encode(spans_to_otlp_json(spans), self.format))
            return SpanExportResult.SUCCESS
        except (OSError, ValueError, TypeError) as exc:
            logger.warning("file span export failed: %s", exc)
            return SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._closed = True
        self._out.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class JsonLinesMetricExporter(MetricExporter):
    """Writes each metrics collection as one OTLP/JSON ``ExportMetricsServiceRequest`` record."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES,
                 backup_count: int = DEFAULT_BACKUPS, format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.format = format_for(path, format)
        if self.format != "jsonl":
            encode({}, self.format)
        self._out = RotatingFile(path, max_bytes, backup_count)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        try:
            self._out.write(encode(metrics_to_otlp_json(metrics_data), self.format))
            return MetricExportResult.SUCCESS
        except (OSError, ValueError, TypeError) as exc:
            logger.warning("file metric export failed: %s", exc)
            return MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._out.close()


# format-neutral names
FileSpanExporter = JsonLinesSpanExporter
FileMetricExporter = JsonLinesMetricExporter
