"""ETLPipeline: load telemetry captured offline through the receiver's own processors.

- ``extract(source)``: OTLP/JSON export requests from a file (``.gz`` allowed): one JSON document per
  file, or one per line (the instrumentation's JSON-lines files). Each becomes a ``Record`` (traces,
  metrics or logs, by its ``resourceSpans`` / ``resourceMetrics`` / ``resourceLogs`` key).
- ``validate(record)``: removes bad spans (invalid trace/span/parent ids, end before start, timestamps
  outside 2000-01-01 .. now+7d, negative token counts) and returns a ``Rejection`` with the reason for
  each one: nothing is dropped silently.
- ``transform(record)``: decodes spans exactly as the receiver's drain does (``decode_request``).
- ``load(data)``: the receiver's trace pipeline (normalize → cost → redact → sample → write) and its
  metrics/logs writers; afterwards the rollups of the imported time range are rebuilt.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine

logger = logging.getLogger(__name__)

MIN_TIME_NS = 946_684_800 * 10**9  # 2000-01-01
FUTURE_SLACK_NS = 7 * 24 * 3600 * 10**9
TOKEN_ATTRIBUTES = (
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.total_tokens",
    "gen_ai.usage.prompt_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.prompt",
    "llm.token_count.completion", "llm.token_count.total",
)
BATCH_SPANS = 2000


@dataclass
class Record:
    """One OTLP export request read from ``location`` (``file:line``)."""

    location: str
    signal: str  # traces | metrics | logs
    request: Any


@dataclass
class Rejection:
    """A record or span that was not loaded, and why."""

    location: str
    reason: str
    trace_id: str | None = None
    span_id: str | None = None


@dataclass
class ImportReport:
    """What ``run`` read, loaded and rejected."""

    files: int = 0
    records: int = 0
    spans: int = 0
    metric_points: int = 0
    log_records: int = 0
    rollup_rows: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    failed_files: list[str] = field(default_factory=list)
    dry_run: bool = False
    first_ns: int | None = None  # earliest / latest span start seen (for the rollup rebuild)
    last_ns: int | None = None

    def summary(self) -> str:
        verb = "validated" if self.dry_run else "imported"
        return (
            f"{verb} {self.spans} spans, {self.metric_points} metric points, {self.log_records} log records "
            f"from {self.records} records in {self.files} files; {len(self.rejected)} rejected"
            + (f"; unreadable: {', '.join(self.failed_files)}" if self.failed_files else "")
        )


class ETLPipeline:
    """extract → validate → transform → load, with the receiver's processors."""

    def __init__(self, engine: Engine, settings=None) -> None:
        from agentotel.core.settings import ReceiverSettings
        from agentotel.processors.pipeline import build_trace_pipeline

        self.engine = engine
        self.settings = settings or ReceiverSettings()  # resolved by the caller (``agentotel import``)
        self._pipeline = None
        self._build = lambda: build_trace_pipeline(engine, self.settings)

    @property
    def pipeline(self):
        if self._pipeline is None:
            self._pipeline = self._build()
        return self._pipeline

    # ------------------------------------------------------------------------------------------ extract

    def extract(self, source: str | Path) -> Iterator[Record | Rejection]:
        """Records of one file, read lazily line by line; unreadable lines come out as ``Rejection``s.

        A file whose first line is not a complete JSON document is read whole (one pretty-printed request);
        if that fails too, it is taken as JSON lines again (with the first line rejected)."""
        path = Path(source)
        with _open(path) as lines:
            first_number, first = 0, b""
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    first_number, first = number, line
                    break
            if not first:
                return
            try:
                json.loads(first)
            except ValueError:
                rest = lines.read()
                whole = (first + rest).strip()
                try:
                    document = json.loads(whole)
                except ValueError:
                    document = None
                if isinstance(document, dict):
                    yield self._record(str(path), whole)
                    return
                yield self._record(f"{path}:{first_number}", first)
                for number, line in enumerate(rest.splitlines(), start=first_number + 1):
                    if line.strip():
                        yield self._record(f"{path}:{number}", line)
                return
            yield self._record(f"{path}:{first_number}", first)
            for number, line in enumerate(lines, start=first_number + 1):
                if line.strip():
                    yield self._record(f"{path}:{number}", line)

    def _record(self, location: str, raw: bytes) -> Record | Rejection:
        from agentotel.otlp_receiver.codec import LOGS, METRICS, TRACES, decode_json

        try:
            document = json.loads(raw)
        except ValueError as exc:
            return Rejection(location, f"not valid JSON: {exc}")
        if not isinstance(document, dict):
            return Rejection(location, "not an OTLP/JSON export request (expected a JSON object)")
        for key, signal in (("resourceSpans", TRACES), ("resourceMetrics", METRICS), ("resourceLogs", LOGS)):
            if key in document or _snake(key) in document:
                try:
                    return Record(location, signal.name, decode_json(signal, raw))
                except Exception as exc:  # noqa: BLE001 - the codec's InvalidArgument carries the reason
                    return Rejection(location, str(exc))
        return Rejection(location, "no resourceSpans, resourceMetrics or resourceLogs in this record")

    # ------------------------------------------------------------------------------------------ validate

    def validate(self, record: Record) -> list[Rejection]:
        """Remove invalid spans from ``record`` (in place) and return why each one was rejected."""
        if record.signal != "traces":
            return []
        rejections: list[Rejection] = []
        max_time = time.time_ns() + FUTURE_SLACK_NS
        for resource_spans in record.request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                bad = []
                for index, span in enumerate(scope_spans.spans):
                    reason = span_rejection_reason(span, max_time)
                    if reason is not None:
                        bad.append(index)
                        rejections.append(
                            Rejection(record.location, f"span {span.name!r}: {reason}", span.trace_id.hex() or None, span.span_id.hex() or None)
                        )
                for index in reversed(bad):
                    del scope_spans.spans[index]
        return rejections

    # ------------------------------------------------------------------------------------------ transform / load

    def transform(self, record: Record):
        """Spans of a traces record as the receiver decodes them; other signals pass unchanged."""
        if record.signal != "traces":
            return record.request
        from agentotel.processors.decode import DecodeLimits, decode_request

        limits = DecodeLimits(self.settings.max_attributes, self.settings.max_attribute_length)
        return decode_request(record.request, limits)

    def load(self, data, target: str = "traces") -> int:
        """Write transformed data: a SpanBatch through the trace pipeline, metrics/logs requests through
        their writers. Returns the number of items handed to the writer."""
        if target == "traces":
            self.pipeline.consume(data)
            return len(data)
        if target == "metrics":
            from agentotel.processors.metrics import write_metrics

            return int(write_metrics(self.engine, data) or 0)
        if target == "logs":
            from agentotel.processors.logs import write_logs

            return int(write_logs(self.engine, data) or 0)
        raise ValueError(f"unknown target {target!r}")

    def run(self, sources: Iterable[str | Path], dry_run: bool = False) -> ImportReport:
        """Import every file in ``sources``; returns counts and every rejection with its reason."""
        from agentotel.processors.records import SpanBatch

        report = ImportReport(dry_run=dry_run)
        batch = SpanBatch()
        for source in sources:
            report.files += 1
            try:
                items = self.extract(source)
                for item in items:
                    self._handle(item, report, batch, dry_run)
                    if len(batch.spans) >= BATCH_SPANS:
                        self.load(batch)
                        batch = SpanBatch()
            except OSError as exc:
                report.failed_files.append(f"{source} ({exc.strerror or exc})")
        if not dry_run and batch.spans:
            self.load(batch)
        if not dry_run and report.first_ns is not None:
            report.rollup_rows = self._rebuild_rollups(report.first_ns, report.last_ns)
        return report

    def _handle(self, item: Record | Rejection, report: ImportReport, batch, dry_run: bool) -> None:
        """Validate, transform and queue (traces) or load (metrics, logs) one extracted item."""
        if isinstance(item, Rejection):
            report.rejected.append(item)
            return
        report.records += 1
        report.rejected.extend(self.validate(item))
        data = self.transform(item)
        if item.signal == "traces":
            for span in data.spans:
                report.first_ns = span.start_ns if report.first_ns is None else min(report.first_ns, span.start_ns)
                report.last_ns = span.start_ns if report.last_ns is None else max(report.last_ns, span.start_ns)
            report.spans += len(data)
            if not dry_run:
                batch.spans.extend(data.spans)
        elif item.signal == "metrics":
            report.metric_points += _count_points(data)
            if not dry_run:
                self.load(data, "metrics")
        else:
            report.log_records += sum(len(s.log_records) for r in data.resource_logs for s in r.scope_logs)
            if not dry_run:
                self.load(data, "logs")

    def _rebuild_rollups(self, first_ns: int, last_ns: int) -> int:
        from sqlalchemy import select

        from agentotel.warehouse.rollup_models import RollupState
        from agentotel.warehouse.rollups import rebuild_rollups

        with self.engine.connect() as conn:
            rolled = conn.execute(select(RollupState.__table__.c.name)).first() is not None
        if not rolled:
            return 0  # rollups are built on their first refresh, from everything
        start = datetime.fromtimestamp(first_ns / 1e9, timezone.utc)
        end = datetime.fromtimestamp(last_ns / 1e9 + 120, timezone.utc)  # executions start at their agent span
        return rebuild_rollups(self.engine, start, end)


def span_rejection_reason(span, max_time_ns: int) -> str | None:
    """Why ``span`` (an OTLP protobuf span) cannot be loaded, or None."""
    if len(span.trace_id) != 16 or span.trace_id == bytes(16):
        return f"invalid trace_id {span.trace_id.hex()!r} (must be 16 non-zero bytes)"
    if len(span.span_id) != 8 or span.span_id == bytes(8):
        return f"invalid span_id {span.span_id.hex()!r} (must be 8 non-zero bytes)"
    if span.parent_span_id and (len(span.parent_span_id) != 8 or span.parent_span_id == bytes(8)):
        return f"invalid parent_span_id {span.parent_span_id.hex()!r}"
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if end < start:
        return f"ends before it starts (end {end} < start {start} ns)"
    if start < MIN_TIME_NS or end > max_time_ns:
        return "timestamp outside 2000-01-01 .. now+7d"
    for attribute in span.attributes:
        if attribute.key in TOKEN_ATTRIBUTES:
            value = attribute.value
            number = value.int_value if value.HasField("int_value") else value.double_value if value.HasField("double_value") else None
            if number is not None and number < 0:
                return f"negative token count {attribute.key}={number:g}"
    return None


def _count_points(request) -> int:
    total = 0
    for resource_metrics in request.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind:
                    total += len(getattr(metric, kind).data_points)
    return total


def _open(path: Path) -> BinaryIO:
    """The file as binary lines, transparently gunzipped."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    return gzip.open(path, "rb") if head == b"\x1f\x8b" else open(path, "rb")  # noqa: SIM115


def _snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key)
