"""The drain: copies spooled requests into the warehouse, then advances the spool checkpoint.

Each record is parsed back into its request and handed to the ``RequestWriter`` (the same write path
``agentotel import`` uses). Warehouse failures arrive classified (``warehouse.errors``) and are mapped
here: a retryable one (database down or locked) is retried with back-off from the same records, so
nothing is skipped; a permanent one isolates the records, then the spans, and quarantines what the
warehouse still refuses.

The checkpoint advances only past data the warehouse has made durable (``warehouse.engine.make_durable``
after the commits, before the checkpoint), and never past a record whose spans the tail sampler still holds
(``processors.sample``: they are re-read from the spool after a crash).
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from google.protobuf.message import Message

from agentotel.otlp_receiver.codec import SIGNALS_BY_CODE, TRACES, Signal
from agentotel.otlp_receiver.ingest import RequestWriter
from agentotel.otlp_receiver.spool import Position, Record, Spool
from agentotel.processors.records import SpanBatch
from agentotel.processors.sample import Sample
from agentotel.warehouse.engine import make_durable
from agentotel.warehouse.errors import StorageError

logger = logging.getLogger(__name__)
GC_THRESHOLD = 50_000  # first-generation threshold while a drain runs (Python's default: 700)


def is_retryable(error: BaseException) -> bool:
    """A warehouse failure that will pass: retry the same records later.

    Anything else is a property of the data (a value the database refuses, a bug on an odd input) and
    would block the drain forever if retried: those items are isolated and quarantined instead.
    """
    return isinstance(error, StorageError) and error.retryable


class Drain:
    def __init__(
        self,
        spool: Spool,
        writer: RequestWriter,
        periodic: list[tuple[float, Callable[[], object]]] | None = None,
        durable: Callable[[], object] | None = None,
    ) -> None:
        self.spool = spool
        self.writer = writer
        # called after the writes, before the checkpoint passes them (raises if it cannot make them durable)
        self.durable = durable or (lambda: make_durable(writer.engine))
        self.sampler = next((s for s in writer.pipeline.stages if isinstance(s, Sample)), None)
        self._written_to: Position | None = None  # the end of the last records written (held spans aside)
        self.periodic = [(interval, task, 0.0) for interval, task in (periodic or [])]
        self.stop_event = threading.Event()
        self.finishing = threading.Event()  # set by a stopping receiver: write what is left, no periodic tasks
        self.failures = 0
        self.quarantined = 0
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # The drain allocates (and frees) tens of thousands of objects per batch, freed by reference counts:
        # a young collection every 700 allocations cost ~5 us per span in decode (process-wide setting)
        gc.set_threshold(GC_THRESHOLD, 20, 100)
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
                self.drain_once()
                self.failures = 0
                backoff = 0.2
            except Exception as exc:  # database down, locked, …: retry the same records
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                if self.failures in (1, 10) or self.failures % 100 == 0:
                    logger.error("warehouse write failed (attempt %d), will retry: %s", self.failures, self.last_error)
                self._written_to = None
                self.spool.rewind()
                self.stop_event.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            self._run_periodic()

    def drain_once(self, wait: float = 0.2) -> int:
        """Write what the spool holds (up to a batch); returns the number of records drained."""
        records = self.spool.read(max_records=256, wait=wait)
        if not records:
            if self.sampler is not None and self.sampler.held_spans:
                self.writer.pipeline.consume(SpanBatch())  # ends the sampling waits that are over
                self._commit()
            return 0
        if self.sampler is not None:
            self.sampler.mark = records[0].start
        try:
            self.writer.write(self._requests(records))
        except Exception as error:
            if is_retryable(error):
                raise
            logger.error("a batch failed permanently (%s: %s); isolating the bad items", type(error).__name__, error)
            for record in records:
                self._write_isolated(record)
        self._written_to = records[-1].end
        self._commit()
        return len(records)

    def _commit(self) -> None:
        """Advance the checkpoint to what is written, made durable, and not held by the sampler."""
        position = self._written_to
        if position is None:
            return
        held = self.sampler.oldest_mark() if self.sampler is not None else None
        if held is not None and held < position:
            position = held
        if position <= self.spool.checkpoint:
            return
        self.durable()
        self.spool.commit(position)

    @staticmethod
    def _requests(records: list[Record]) -> Iterator[tuple[Signal, Message]]:
        """The requests of spooled records, parsed back from their protobuf payload."""
        for record in records:
            signal = SIGNALS_BY_CODE.get(record.type)
            if signal is None:
                logger.error("unknown spool record type %d: skipped", record.type)
                continue
            request = signal.request_type()
            request.ParseFromString(record.payload)
            yield signal, request

    def _write_isolated(self, record: Record) -> None:
        """Write one record; if it still fails, write its spans one by one and quarantine the failures."""
        if self.sampler is not None:
            self.sampler.mark = record.start
        try:
            self.writer.write(self._requests([record]))
            return
        except Exception as error:
            if is_retryable(error):
                raise
            if record.type != TRACES.code:
                self._quarantine(record.type, record.payload, error)
                return
        request = TRACES.request_type()
        request.ParseFromString(record.payload)
        for span in self.writer.spans(request):
            try:
                self.writer.write_spans(SpanBatch(spans=[span]))
            except Exception as error:
                if is_retryable(error):
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

    def _run_periodic(self) -> None:
        if self.finishing.is_set():  # the receiver is stopping: its budget goes to the writes (it flushes after)
            return
        now = time.monotonic()
        for i, (interval, task, last) in enumerate(self.periodic):
            if now - last >= interval:
                self.periodic[i] = (interval, task, now)
                try:
                    task()
                except Exception:
                    logger.exception("periodic task %r failed", task)
