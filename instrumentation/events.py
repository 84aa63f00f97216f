"""Event handlers over finished spans and log events, with filters and a priority order.

A thin, documented wrapper over the OTel SDK's processor interfaces, so OTel users recognise it: the
router *is* a ``SpanProcessor`` (``on_end`` = a finished span) and hands out a ``LogRecordProcessor``
(``on_emit`` = a log record, e.g. the GenAI content event ``gen_ai.client.inference.operation.details``
or ``gen_ai.evaluation.result``). Add them where you add any processor::

    from agentotel.instrumentation.events import EventRouter, SPAN, LOG, STOP

    router = EventRouter()

    @router.on(SPAN, operation="chat", status="error", priority=10)
    def page_someone(event):
        ...

    @router.on(SPAN, where=lambda e: e.duration_s > 30, priority=5)
    def slow(event):
        ...

    @router.on(LOG, name="gen_ai.client.inference.operation.details")
    def audit(event):
        ...

    router.install(handle)      # an instrument() handle (or tracer_provider=..., logger_provider=...)

Each handler receives an :class:`Event` (a frozen view: kind, name, attributes, ids, times, status, the
raw span or log record). Handlers run in descending ``priority`` (ties: registration order); a handler
returning :data:`STOP` ends the dispatch of that event (lower priorities do not see it). Filters combine
with AND: ``name`` (exact, or a tuple of names), ``operation`` (``gen_ai.operation.name``), ``status``
(``error``/``ok``/``unset``, spans), ``attributes`` (a mapping of required values), ``min_duration_s``
(spans) and ``where`` (any predicate). A handler or filter that raises is logged (once per handler) and
skipped; the others still run and the host never sees it.

Handlers run on the thread that ends the span or emits the record (like any OTel processor), unless the
router is built with ``background=True``: events then go through a bounded queue (``max_queue``, drops
counted in :attr:`EventRouter.dropped`) to one daemon thread. Keep inline handlers fast.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import StatusCode, format_span_id, format_trace_id

from agentotel.core import semconv as sc
from agentotel.instrumentation._guard import report

SPAN, LOG = "span", "log"
STOP = object()  # returned by a handler: stop the dispatch of this event
_STATUS = {StatusCode.ERROR: "error", StatusCode.OK: "ok", StatusCode.UNSET: "unset"}


@dataclass(frozen=True)
class Event:
    """A finished span or an emitted log record, as handlers see it."""

    kind: str  # SPAN or LOG
    name: str  # span name, or the log record's event name
    attributes: Mapping[str, Any]
    trace_id: str | None  # 32 hex digits
    span_id: str | None  # 16 hex digits (of the span, or of the span the log record was emitted in)
    start_ns: int | None = None  # spans
    end_ns: int | None = None  # spans; for logs: the record's timestamp
    status: str = "unset"  # spans: error | ok | unset
    body: Any = None  # logs
    raw: Any = field(default=None, repr=False, compare=False)  # ReadableSpan / ReadWriteLogRecord

    @property
    def duration_s(self) -> float:
        if self.start_ns is None or self.end_ns is None:
            return 0.0
        return (self.end_ns - self.start_ns) / 1e9

    @property
    def operation(self) -> Any:
        return self.attributes.get(sc.OPERATION)

    @classmethod
    def from_span(cls, span: Any) -> Event:
        ctx = span.context
        return cls(SPAN, span.name, dict(span.attributes or {}),
                   format_trace_id(ctx.trace_id) if ctx else None, format_span_id(ctx.span_id) if ctx else None,
                   span.start_time, span.end_time, _STATUS.get(span.status.status_code, "unset"), None, span)

    @classmethod
    def from_log(cls, log_record: Any) -> Event:
        record = getattr(log_record, "log_record", log_record)
        attrs = dict(record.attributes or {})
        name = getattr(record, "event_name", None) or attrs.get("event.name") or ""
        trace_id, span_id = record.trace_id, record.span_id
        return cls(LOG, str(name), attrs, format_trace_id(trace_id) if trace_id else None,
                   format_span_id(span_id) if span_id else None, None, record.timestamp, "unset", record.body,
                   log_record)


@dataclass
class _Route:
    handler: Callable[[Event], Any]
    kind: str
    priority: int
    order: int
    names: frozenset[str] | None
    operation: frozenset[str] | None
    status: str | None
    attributes: Mapping[str, Any]
    min_duration_s: float | None
    where: Callable[[Event], bool] | None

    def matches(self, event: Event) -> bool:
        if self.kind != event.kind:
            return False
        if self.names is not None and event.name not in self.names:
            return False
        if self.operation is not None and event.operation not in self.operation:
            return False
        if self.status is not None and event.status != self.status:
            return False
        for key, value in self.attributes.items():
            if event.attributes.get(key) != value:
                return False
        if self.min_duration_s is not None and event.duration_s < self.min_duration_s:
            return False
        return self.where is None or bool(self.where(event))


def _names(value: str | Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset([value]) if isinstance(value, str) else frozenset(value)


class EventRouter(SpanProcessor):
    """Routes finished spans (as a ``SpanProcessor``) and log records (``log_processor()``) to handlers."""

    def __init__(self, *, background: bool = False, max_queue: int = 2048) -> None:
        self._routes: tuple[_Route, ...] = ()
        self._lock = threading.Lock()
        self._order = 0
        self._background = background
        self._queue: deque[Event] = deque()
        self._max_queue = max_queue
        self._wake = threading.Event()
        self._worker: threading.Thread | None = None
        self._closed = False
        self.dropped = 0
        self._log_processor: Any = None

    # --- registration ---------------------------------------------------------------------------------------
    def add(self, handler: Callable[[Event], Any], kind: str = SPAN, *, priority: int = 0,
            name: str | Iterable[str] | None = None, operation: str | Iterable[str] | None = None,
            status: str | None = None, attributes: Mapping[str, Any] | None = None,
            min_duration_s: float | None = None, where: Callable[[Event], bool] | None = None) -> None:
        """Register ``handler`` for events of ``kind`` (``SPAN`` or ``LOG``) that pass every filter given."""
        if kind not in (SPAN, LOG):
            raise ValueError(f"kind must be {SPAN!r} or {LOG!r}")
        if status is not None and status not in ("error", "ok", "unset"):
            raise ValueError("status must be 'error', 'ok' or 'unset'")
        if not callable(handler):
            raise TypeError("handler must be callable")
        with self._lock:
            self._order += 1
            route = _Route(handler, kind, int(priority), self._order, _names(name), _names(operation), status,
                           dict(attributes or {}), min_duration_s, where)
            self._routes = tuple(sorted((*self._routes, route), key=lambda r: (-r.priority, r.order)))

    def on(self, kind: str = SPAN, **filters: Any) -> Callable[[Callable[[Event], Any]], Callable[[Event], Any]]:
        """Decorator form of :meth:`add`."""

        def register(handler: Callable[[Event], Any]) -> Callable[[Event], Any]:
            self.add(handler, kind, **filters)
            return handler

        return register

    def remove(self, handler: Callable[[Event], Any]) -> None:
        with self._lock:
            self._routes = tuple(r for r in self._routes if r.handler is not handler)

    # --- dispatch -------------------------------------------------------------------------------------------
    def dispatch(self, event: Event) -> None:
        """Run the matching handlers in priority order (never raises)."""
        for route in self._routes:
            try:
                if not route.matches(event):
                    continue
                if route.handler(event) is STOP:
                    return
            except Exception as err:  # noqa: BLE001 - a handler fault never reaches the host
                report(f"events.{getattr(route.handler, '__qualname__', 'handler')}", err)

    def _submit(self, make: Callable[[Any], Event], raw: Any, kind: str) -> None:
        if self._closed or not any(r.kind == kind for r in self._routes):
            return
        try:
            event = make(raw)
        except Exception as err:  # noqa: BLE001
            report("events.view", err)
            return
        if not self._background:
            self.dispatch(event)
            return
        if len(self._queue) >= self._max_queue:
            self.dropped += 1
            return
        self._queue.append(event)
        if self._worker is None or not self._worker.is_alive():
            with self._lock:
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(target=self._run, name="agentotel-events", daemon=True)
                    self._worker.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(0.5)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        while True:
            try:
                event = self._queue.popleft()
            except IndexError:
                return
            self.dispatch(event)

    # --- SpanProcessor ----------------------------------------------------------------------------------------
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: Any) -> None:
        self._submit(Event.from_span, span, SPAN)

    def shutdown(self) -> None:
        self.force_flush()
        self._closed = True
        self._wake.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        self._drain()
        return True

    # --- logs -----------------------------------------------------------------------------------------------------
    def log_processor(self) -> Any:
        """The ``LogRecordProcessor`` feeding this router (one per router)."""
        if self._log_processor is None:
            from opentelemetry.sdk._logs import LogRecordProcessor

            router = self

            class _EventLogProcessor(LogRecordProcessor):
                def on_emit(self, log_record: Any) -> None:
                    router._submit(Event.from_log, log_record, LOG)

                def emit(self, log_record: Any) -> None:  # older SDKs
                    self.on_emit(log_record)

                def shutdown(self) -> None:
                    router.force_flush()

                def force_flush(self, timeout_millis: int = 30000) -> bool:
                    return router.force_flush(timeout_millis)

            self._log_processor = _EventLogProcessor()
        return self._log_processor

    def install(self, handle: Any = None, *, tracer_provider: Any = None, logger_provider: Any = None) -> EventRouter:
        """Add the router to ``handle``'s providers (an ``instrument()`` handle) or to the ones given."""
        tracer_provider = tracer_provider or getattr(handle, "tracer_provider", None)
        logger_provider = logger_provider or getattr(handle, "logger_provider", None)
        if tracer_provider is not None:
            tracer_provider.add_span_processor(self)
        if logger_provider is not None:
            logger_provider.add_log_record_processor(self.log_processor())
        return self
