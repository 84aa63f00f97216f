"""``agentotel import``: telemetry captured offline, through the receiver's own path into the warehouse.

A file holds OTLP/JSON export requests as the instrumentation's file exporters write them: one per line
(JSON lines), a MessagePack stream of the same maps, or one JSON document (pretty-printed or not);
``.gz`` files are read transparently. The reading is the exporters' own (``exporters.file_format``). Each request is
decoded by the receiver's codec, its spans are validated by the receiver's rules (``validate.py``) and it
is written by the drain's ``RequestWriter`` (processors → warehouse). Nothing is dropped silently: every
line or span that is not loaded comes back as a ``Rejection`` with its place and reason. Afterwards the
rollups of the minutes the import changed are rebuilt (if the warehouse has rollups yet).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import Message
from sqlalchemy import Engine

from agentotel.core.settings import ReceiverSettings
from agentotel.instrumentation.exporters.file_format import FileRecord, read_records
from agentotel.otlp_receiver.codec import LOGS, METRICS, TRACES, Signal, decode_json_document
from agentotel.otlp_receiver.errors import InvalidArgument
from agentotel.otlp_receiver.ingest import build_request_writer
from agentotel.otlp_receiver.validate import count_items, validate_traces
from agentotel.warehouse.rollups import FAMILIES, rebuild_minutes, watermark

SIGNAL_KEYS = (("resourceSpans", TRACES), ("resourceMetrics", METRICS), ("resourceLogs", LOGS),
               ("resource_spans", TRACES), ("resource_metrics", METRICS), ("resource_logs", LOGS))  # fmt: skip


@dataclass
class Rejection:
    """A line or span that was not loaded, and why."""

    location: str  # file:line, or the file for a whole-file document
    reason: str
    trace_id: str | None = None
    span_id: str | None = None


@dataclass
class ImportReport:
    """What an import read, loaded and rejected."""

    files: int = 0
    records: int = 0
    spans: int = 0
    metric_points: int = 0
    log_records: int = 0
    rollup_rows: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    failed_files: list[str] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "validated" if self.dry_run else "imported"
        return (
            f"{verb} {self.spans} spans, {self.metric_points} metric points, {self.log_records} log records "
            f"from {self.records} records in {self.files} files; {len(self.rejected)} rejected"
            + (f"; unreadable: {', '.join(self.failed_files)}" if self.failed_files else "")
        )


class ChangedMinutes:
    """The import's rollup maintainer: collects the minutes the span writer reports as changed."""

    def __init__(self) -> None:
        self.minutes: set[int] = set()

    def minutes_changed(self, minutes: set[int]) -> None:
        self.minutes |= minutes


class OfflineImport:
    """Import files into the warehouse of ``engine``, processed as ``settings`` says (cost table, PII
    redaction, sampling, attribute limits); without ``engine``, a dry run that decodes and validates only."""

    def __init__(self, settings: ReceiverSettings, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.changed = ChangedMinutes()
        self.writer = None if engine is None else build_request_writer(engine, settings, rollups=self.changed)

    def run(self, sources: Iterable[str | Path]) -> ImportReport:
        """Import every file of ``sources``; returns the counts and every rejection with its reason."""
        report = ImportReport(dry_run=self.writer is None)
        for source in sources:
            report.files += 1
            requests = self._requests(source, report)
            if self.writer is None:
                for _ in requests:
                    pass
            else:
                self.writer.write(requests)
        if self.engine is not None and self.changed.minutes and _has_rollups(self.engine):
            report.rollup_rows = rebuild_minutes(self.engine, self.changed.minutes)
        return report

    def _requests(self, source: str | Path, report: ImportReport) -> Iterator[tuple[Signal, Message]]:
        """The valid requests of one file, counted in ``report``; the rest becomes rejections. A file that
        cannot be read (to its end) is reported as unreadable; what was read before is still loaded."""
        try:
            for record in read_records(source):
                decoded = decode_record(record)
                if isinstance(decoded, Rejection):
                    report.rejected.append(decoded)
                    continue
                signal, request = decoded
                report.records += 1
                if signal is TRACES:
                    validation = validate_traces(request, self.settings.max_attributes)
                    report.rejected.extend(
                        Rejection(record.location, f"{bad.reason}: {bad.name!r}", bad.trace_id or None,
                                  bad.span_id or None)
                        for bad in validation.spans
                    )
                    report.spans += count_items(signal.name, request)
                elif signal is METRICS:
                    report.metric_points += count_items(signal.name, request)
                else:
                    report.log_records += count_items(signal.name, request)
                yield signal, request
        except (OSError, EOFError) as exc:  # missing, unreadable, a truncated .gz
            report.failed_files.append(f"{source} ({getattr(exc, 'strerror', None) or exc})")


def decode_record(record: FileRecord) -> tuple[Signal, Message] | Rejection:
    """One OTLP/JSON export request (a JSON line or document, or a MessagePack map), by the receiver's
    codec; its signal from its top-level key."""
    document = record.document
    if document is None:
        return Rejection(record.location, record.error or "unreadable record")
    signal = next((signal for key, signal in SIGNAL_KEYS if key in document), None)
    if signal is None:
        return Rejection(record.location, "no resourceSpans, resourceMetrics or resourceLogs in this record")
    try:
        return signal, decode_json_document(signal, document)
    except InvalidArgument as exc:
        return Rejection(record.location, str(exc))


def _has_rollups(engine: Engine) -> bool:
    """Whether the rollups were built yet (their first refresh builds them from every row there is)."""
    with engine.connect() as conn:
        return any(watermark(conn, family) is not None for family in FAMILIES.values())
