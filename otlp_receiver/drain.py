"""The drain: copies spooled requests into the warehouse, then advances the spool checkpoint.

Traces go through the processor pipeline; metrics and logs through their writers. A failed write
(database down or locked) is retried with back-off from the same records: nothing is skipped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from google.protobuf.message import Message
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from agentotel.otlp_receiver.codec import LOGS, METRICS, SIGNALS_BY_CODE, TRACES
from agentotel.otlp_receiver.spool import Record, Spool
from agentotel.processors.base import Pipeline
from agentotel.processors.decode import DecodeLimits, decode_request
from agentotel.processors.records import SpanBatch

logger = logging.getLogger(__name__)

MetricsWriter = Callable[[Engine, Message], int]
LogsWriter = Callable[[Engine, Message], int]


def is_transient(error: BaseException) -> bool:
    """A failure that will pass (database down, locked, connection lost): retry the same records later.

    Anything else is a property of the data (a value the database refuses, a bug on an odd input) and
    would block the drain forever if retried: those items are isolated and quarantined instead.
    """
    if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
                          sa_exc.TimeoutError, OSError, TimeoutError)):  # fmt: skip
        return True
    return isinstance(error, sa_exc.DBAPIError) and bool(error.connection_invalidated)


class Drain:
    def __init__(
        self,
        spool: Spool,
        engine: Engine,
        pipeline: Pipeline,
        limits: DecodeLimits,
        write_metrics: MetricsWriter | None = None,
        write_logs: LogsWriter | None = None,
        max_spans: int = 8192,
        on_written: Callable[[str, int, float], None] | None = None,
        periodic: list[tuple[float, Callable[[], object]]] | None = None,
    ) -> None:
        self.spool = spool
        self.engine = engine
        self.pipeline = pipeline
        self.limits = limits
        self.write_metrics = write_metrics
        self.write_logs = write_logs
        self.max_spans = max_spans
        self.on_written = on_written
        self.periodic = [(interval, task, 0.0) for interval, task in (periodic or [])]
        self.stop_event = threading.Event()
        self.failures = 0
        self.quarantined = 0
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="spool-drain", daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        backoff = 0.2
        while not self.stop_event.is_set():
            try:
                drained = self.drain_once()
                self.failures = 0
                backoff = 0.2
            except Exception as exc:  # database down, locked, …: retry the same records
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.failures in (1, 10) or self.failures % 100 == 0:
                    logger.error("warehouse write failed (attempt %d), will retry: %s", self.failures, self.last_error)
                self.spool.rewind()
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self._run_periodic()
            if not drained:
                continue

    def drain_once(self, wait: float = 0.2) -> int:
        """Write what the spool holds (up to a batch); returns the number of records drained."""
        records = self.spool.read(max_records=256, wait=wait)
        if not records:
            return 0
        try:
            self._write_records(records)
        except Exception as error:
            if is_transient(error):
                raise
            logger.error("a batch failed permanently (%s: %s); isolating the bad items", type(error).__name__, error)
            for record in records:
                self._write_isolated(record)
        self.spool.commit(records[-1].end)
        return len(records)

    def _write_records(self, records: list[Record]) -> None:
        batch = SpanBatch()
        for record in records:
            signal = SIGNALS_BY_CODE.get(record.type)
            if signal is None:
                logger.error("unknown spool record type %d: skipped", record.type)
                continue
            request = signal.request_type()
            request.ParseFromString(record.payload)
            if signal is TRACES:
                batch.spans.extend(decode_request(request, self.limits).spans)
                if len(batch.spans) >= self.max_spans:
                    self._write_spans(batch)
                    batch = SpanBatch()
            elif signal is METRICS and self.write_metrics is not None:
                self._timed("metrics", lambda r=request: self.write_metrics(self.engine, r))
            elif signal is LOGS and self.write_logs is not None:
                self._timed("logs", lambda r=request: self.write_logs(self.engine, r))
        if batch.spans:
            self._write_spans(batch)

    def _write_isolated(self, record: Record) -> None:
        """Write one record; if it still fails, write its spans one by one and quarantine the failures."""
        try:
            self._write_records([record])
            return
        except Exception as error:
            if is_transient(error):
                raise
            if record.type != TRACES.code:
                self._quarantine(record.type, record.payload, error)
                return
        request = TRACES.request_type()
        request.ParseFromString(record.payload)
        for span in decode_request(request, self.limits).spans:
            try:
                self._write_spans(SpanBatch(spans=[span]))
            except Exception as error:
                if is_transient(error):
                    raise
                self._quarantine(record.type, json.dumps({"trace_id": span.trace_id, "span_id": span.span_id,
                                                           "name": span.name}).encode(), error)  # fmt: skip

    def _quarantine(self, record_type: int, payload: bytes, error: BaseException) -> None:
        self.quarantined += 1
        directory = Path(self.spool.dir) / "quarantine"
        directory.mkdir(exist_ok=True)
        stamp = f"{time.time_ns()}-{self.quarantined}"
        (directory / f"{stamp}.bin").write_bytes(payload)
        (directory / f"{stamp}.txt").write_text(f"record type {record_type}\n{type(error).__name__}: {error}\n")
        logger.error("quarantined an item the warehouse refuses (%s: %s) in %s", type(error).__name__, error, directory)

    def _write_spans(self, batch: SpanBatch) -> None:
        count = len(batch)
        self._timed("traces", lambda: (self.pipeline.consume(batch), count)[1])

    def _timed(self, signal: str, write: Callable[[], int]) -> None:
        started = time.perf_counter()
        count = write()
        if self.on_written is not None:
            self.on_written(signal, int(count or 0), time.perf_counter() - started)

    def _run_periodic(self) -> None:
        now = time.monotonic()
        for i, (interval, task, last) in enumerate(self.periodic):
            if now - last >= interval:
                self.periodic[i] = (interval, task, now)
                try:
                    task()
                except Exception:
                    logger.exception("periodic task %r failed", task)
