"""The write half of the one ingest path: accepted OTLP requests → processors → warehouse.

``RequestWriter`` is what the drain does with the requests it reads back from the spool, and what
``agentotel import`` does with the requests it reads from files: spans are decoded
(``processors.decode``) and handed to the trace pipeline in batches; metric points and log records go to
their writers. ``build_request_writer`` wires it as the receiver runs it. ``ingest_traces`` is the whole
path of one traces body without transport or spool (decode → validate → write), for the fuzz tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from google.protobuf.message import Message
from sqlalchemy import Engine

from agentotel.core.errors import CommandError
from agentotel.core.settings import ReceiverSettings
from agentotel.otlp_receiver.codec import LOGS, METRICS, TRACES, Signal, decode_json, decode_proto
from agentotel.otlp_receiver.validate import Validation, validate_traces
from agentotel.processors.base import Pipeline
from agentotel.processors.decode import DecodeLimits, decode_request
from agentotel.processors.logs import attach_pending_content, write_logs
from agentotel.processors.metrics import link_pending_metrics, write_metrics
from agentotel.processors.pipeline import build_trace_pipeline
from agentotel.processors.records import SpanBatch, SpanRecord
from agentotel.processors.writer import BatchObserver, RollupMaintainer
from agentotel.warehouse.row_security import writer_role_problem

RequestWrite = Callable[[Engine, Message], int]
WriteObserver = Callable[[str, int, float], None]  # (signal name, items written, seconds)
MAX_SPANS = 8192


class RequestWriter:
    """Writes OTLP export requests into the warehouse. A failed write raises (a database failure as
    ``warehouse.errors.StorageError``, retryable or not); nothing is skipped."""

    def __init__(
        self,
        engine: Engine,
        pipeline: Pipeline,
        limits: DecodeLimits,
        write_metrics: RequestWrite | None = None,
        write_logs: RequestWrite | None = None,
        max_spans: int = MAX_SPANS,
        on_written: WriteObserver | None = None,
    ) -> None:
        self.engine = engine
        self.pipeline = pipeline
        self.limits = limits
        self.writers = {METRICS.name: write_metrics, LOGS.name: write_logs}
        self.max_spans = max_spans
        self.on_written = on_written

    def write(self, requests: Iterable[tuple[Signal, Message]]) -> None:
        """Write every request, in order; spans of consecutive requests share batches of ``max_spans``."""
        batch = SpanBatch()
        for signal, request in requests:
            if signal is TRACES:
                batch.spans.extend(self.spans(request))
                if len(batch.spans) >= self.max_spans:
                    self.write_spans(batch)
                    batch = SpanBatch()
                continue
            writer = self.writers.get(signal.name)
            if writer is not None:
                started = time.perf_counter()
                self._written(signal.name, writer(self.engine, request), started)
        if batch.spans:
            self.write_spans(batch)

    def spans(self, request: Message) -> list[SpanRecord]:
        """The spans of a traces request as the pipeline takes them."""
        return decode_request(request, self.limits).spans

    def write_spans(self, batch: SpanBatch) -> None:
        count, started = len(batch), time.perf_counter()  # counted before sampling thins the batch
        self.pipeline.consume(batch)
        self._written(TRACES.name, count, started)

    def _written(self, signal: str, count: int | None, started: float) -> None:
        if self.on_written is not None:
            self.on_written(signal, int(count or 0), time.perf_counter() - started)


def build_request_writer(
    engine: Engine,
    settings: ReceiverSettings,
    observers: Sequence[BatchObserver] = (),
    rollups: RollupMaintainer | None = None,
    on_written: WriteObserver | None = None,
) -> RequestWriter:
    """The receiver's write path: the trace pipeline of ``settings`` (with the hooks that join log content
    and metric points to spans in any arrival order) and the metrics and logs writers."""
    with engine.connect() as conn:  # PostgreSQL: the writers act as agentotel_writer (row_security.write_as)
        problem = writer_role_problem(conn)
    if problem is not None:
        raise CommandError(f"cannot write to the warehouse: {problem}")
    pipeline = build_trace_pipeline(
        engine, settings, observers=observers, after_insert=[attach_pending_content, link_pending_metrics], rollups=rollups
    )
    limits = DecodeLimits(settings.max_attributes, settings.max_attribute_length)
    return RequestWriter(engine, pipeline, limits, write_metrics, write_logs, on_written=on_written)


def ingest_traces(writer: RequestWriter, body: bytes, as_json: bool = False) -> Validation:
    """Decode, validate and write one traces request; raises ``InvalidArgument`` for an undecodable body."""
    request = decode_json(TRACES, body) if as_json else decode_proto(TRACES, body)
    validation = validate_traces(request, writer.limits.max_attributes)
    writer.write([(TRACES, request)])
    return validation
