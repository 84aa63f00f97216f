"""The metric instruments every instrumentor records into (built once per meter)."""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation, get_meter

from agentotel.core import semconv as sc
from agentotel.core.version import __version__
from agentotel.instrumentation._guard import report
from agentotel.instrumentation._switch import SWITCH

MAX_LABEL_VALUES = 100
OTHER = "other"


class BoundedLabels:
    """Keeps metric label values bounded: the first ``limit`` distinct values, then ``other``."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._seen: set[str] = set()
        self._limit = limit
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value:
            return OTHER
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return OTHER


class DeferredRecorder:
    """Records measurements off the caller's thread: the hot path only appends to a bounded queue.

    A daemon thread drains it (every 0.5 s, or sooner when 512 are pending), and every metric
    collection drains it first, so readers never miss a measurement taken before they collect. When
    the queue is full, measurements are dropped and counted. Survives ``fork()`` (the child starts its
    own thread). The price: no exemplars (the measurement is recorded outside the span's context).
    """

    MAX_PENDING = 16384
    WAKE_AT = 512

    def __init__(self) -> None:
        self._queue: deque[tuple[Callable[..., None], float, Any]] = deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self.dropped = 0
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._wake = threading.Event()
        self._thread = None

    def add(self, record: Callable[..., None], value: float, attrs: Any) -> None:
        if SWITCH.paused:
            return
        queue = self._queue
        if len(queue) >= self.MAX_PENDING:
            self.dropped += 1
            return
        queue.append((record, value, attrs))
        if self._thread is None or self._pid != os.getpid():
            self._start()
        elif len(queue) >= self.WAKE_AT:
            self._wake.set()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="agentotel-metrics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(0.5)
            self._wake.clear()
            self.drain()

    def drain(self) -> None:
        """Record everything pending (any thread may call this)."""
        queue = self._queue
        while True:
            try:
                record, value, attrs = queue.popleft()
            except IndexError:
                return
            try:
                record(value, attrs)
            except Exception as err:  # noqa: BLE001 - a metrics fault must not kill the drainer
                report("metrics.record", err)


RECORDER = DeferredRecorder()


class GenAIInstruments:
    """Histograms of semconv section 1.3 plus agentotel's agent/tool counters and rate-limit gauges."""

    def __init__(self, meter: Meter) -> None:
        self.token_usage = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE, unit="{token}", description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(sc.TOKEN_BUCKETS))
        self.duration = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION, unit="s", description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS))
        self.time_to_first_chunk = meter.create_histogram(
            sc.METRIC_TIME_TO_FIRST_CHUNK, unit="s", description="Time to the first streamed chunk",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS))
        self.time_per_output_chunk = meter.create_histogram(
            sc.METRIC_TIME_PER_OUTPUT_CHUNK, unit="s", description="Mean time between streamed chunks",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS))
        self.agent_executions = meter.create_counter(
            sc.METRIC_AGENT_EXECUTIONS, unit="{execution}", description="Agent executions by outcome")
        self.agent_duration = meter.create_histogram(
            sc.METRIC_AGENT_DURATION, unit="s", description="Agent execution duration",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS))
        self.tool_calls = meter.create_counter(
            sc.METRIC_TOOL_CALLS, unit="{call}", description="Tool calls by outcome")
        self.agent_memory_peak = meter.create_histogram(
            sc.METRIC_AGENT_MEMORY_PEAK, unit="By", description="Peak process RSS during an agent execution")
        self.agent_cpu_time = meter.create_histogram(
            sc.METRIC_AGENT_CPU_TIME, unit="s", description="CPU time of the thread running an agent execution",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS))
        self.agent_label = BoundedLabels()
        self.tool_label = BoundedLabels()
        self.model_label = BoundedLabels()
        self._meter = meter
        self._gauges: dict[str, Any] = {}
        self._gauge_lock = threading.Lock()
        # drains pending measurements before each collection; reports what a full queue dropped
        meter.create_observable_counter(
            "agentotel.instrumentation.dropped_measurements", [self._drain_on_collect], unit="{measurement}",
            description="Metric measurements dropped because the pending queue was full")
        add = RECORDER.add
        self.record_duration = lambda seconds, attrs: add(self.duration.record, seconds, attrs)
        self.record_ttfc = lambda seconds, attrs: add(self.time_to_first_chunk.record, seconds, attrs)
        self.record_tpoc = lambda seconds, attrs: add(self.time_per_output_chunk.record, seconds, attrs)

    @staticmethod
    def _drain_on_collect(options: CallbackOptions):
        RECORDER.drain()
        return [Observation(RECORDER.dropped)]

    def record_call(self, attrs: dict[str, Any], seconds: float, usage: tuple[int | None, int | None],
                    stream_times: tuple[float, float | None] | None = None) -> None:
        """Duration, token usage and (streams) time to first chunk / per later chunk of one model call, as
        one pending entry (recorded by the drainer)."""
        RECORDER.add(self._record_call, seconds, (attrs, usage, stream_times))

    def _record_call(self, seconds: float, payload: tuple[dict[str, Any], tuple[int | None, int | None],
                                                           tuple[float, float | None] | None]) -> None:
        attrs, (input_tokens, output_tokens), stream_times = payload
        self.duration.record(seconds, attrs)
        if input_tokens is not None:
            self.token_usage.record(input_tokens, {**attrs, sc.TOKEN_TYPE: "input"})
        if output_tokens is not None:
            self.token_usage.record(output_tokens, {**attrs, sc.TOKEN_TYPE: "output"})
        if stream_times is not None:
            self.time_to_first_chunk.record(stream_times[0], attrs)
            if stream_times[1] is not None:
                self.time_per_output_chunk.record(stream_times[1], attrs)

    def record_usage(self, attrs: dict[str, Any], input_tokens: int | None, output_tokens: int | None) -> None:
        record = self.token_usage.record
        if input_tokens is not None:
            RECORDER.add(record, input_tokens, {**attrs, sc.TOKEN_TYPE: "input"})
        if output_tokens is not None:
            RECORDER.add(record, output_tokens, {**attrs, sc.TOKEN_TYPE: "output"})

    def record_rate_limits(self, attrs: dict[str, Any], provider: str | None, model: str | None) -> None:
        """The rate-limit values of one answer (``agentotel.ratelimit.*`` span attributes) as gauges per
        provider and request model, plus ``<kind>.remaining_ratio`` where the limit is known."""
        labels: dict[str, Any] = {sc.PROVIDER: provider or OTHER}
        if model:
            labels[sc.REQUEST_MODEL] = self.model_label(model)
        add, gauge = RECORDER.add, self._gauge
        for name, value in attrs.items():
            add(gauge(name).set, value, labels)
        for kind in sc.RATELIMIT_KINDS:
            limit = attrs.get(sc.ratelimit_key(kind, sc.RATELIMIT_LIMIT))
            remaining = attrs.get(sc.ratelimit_key(kind, sc.RATELIMIT_REMAINING))
            if limit and remaining is not None:
                add(gauge(sc.ratelimit_key(kind, sc.RATELIMIT_REMAINING_RATIO)).set,
                    min(1.0, max(0.0, remaining / limit)), labels)

    def _gauge(self, name: str) -> Any:
        """The synchronous gauge ``name`` (created on first use: most processes never see a rate limit)."""
        gauge = self._gauges.get(name)
        if gauge is None:
            with self._gauge_lock:
                gauge = self._gauges.get(name)
                if gauge is None:
                    kind = name.rsplit(".", 2)[-2] if name.count(".") >= 3 else ""
                    field = name.rsplit(".", 1)[-1]
                    if field in (sc.RATELIMIT_RESET, "retry_after"):
                        unit = "s"
                    elif field == sc.RATELIMIT_REMAINING_RATIO:
                        unit = "1"
                    else:
                        unit = "{request}" if kind == "requests" else "{token}"
                    gauge = self._meter.create_gauge(name, unit=unit,
                                                     description=f"Provider rate-limit status: {name.removeprefix('agentotel.ratelimit.')}")
                    self._gauges[name] = gauge
        return gauge

    def record_agent(self, name: str | None, seconds: float, error: str | None) -> None:
        attrs = {sc.AGENT_NAME: self.agent_label(name), sc.OUTCOME: "error" if error else "success"}
        RECORDER.add(self.agent_executions.add, 1, attrs)
        RECORDER.add(self.agent_duration.record, seconds, {sc.AGENT_NAME: attrs[sc.AGENT_NAME]})

    def record_agent_resources(self, name: str | None, attrs: dict[str, Any]) -> None:
        """The per-execution resources of an agent span (``agentotel._resources``) as histograms."""
        labels = {sc.AGENT_NAME: self.agent_label(name)}
        peak = attrs.get(sc.EXEC_RSS_PEAK)
        if peak is not None:
            RECORDER.add(self.agent_memory_peak.record, peak, labels)
        cpu = attrs.get(sc.EXEC_THREAD_CPU_TIME)
        if cpu is not None:
            RECORDER.add(self.agent_cpu_time.record, cpu, labels)

    def record_tool(self, name: str | None, error: str | None) -> None:
        RECORDER.add(self.tool_calls.add, 1,
                     {sc.TOOL_NAME: self.tool_label(name), sc.OUTCOME: "error" if error else "success"})


def build_instruments(scope: str, meter_provider: Any = None) -> GenAIInstruments:
    """Instruments on the meter named ``scope`` of ``meter_provider`` (global when ``None``)."""
    meter = get_meter(scope, __version__, meter_provider, schema_url=sc.SCHEMA_URL)
    return GenAIInstruments(meter)
