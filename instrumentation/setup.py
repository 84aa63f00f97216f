"""``instrument()``: one call sets up tracing, metrics, export, the performance monitor and instrumentors.

Providers: the ones passed in, else the application's SDK providers when it configured some (reused as
they are: our exporters are only added when asked for explicitly), else new ones that we own (made
global, OTLP export; ``OTEL_*`` variables honoured by the SDK and exporters). A LoggerProvider is set
up (or reused) the same way when the content capture mode emits events (``EVENT_ONLY``,
``SPAN_AND_EVENT``) or one is passed in; its OTLP log exporter uses the traces' protocol and endpoint. ``handle.shutdown()``
uninstalls the instrumentors, then flushes and shuts down traces, metrics and logs side by side within one
budget (``shutdown_timeout``: 3 s by default, else ``AGENTOTEL_SHUTDOWN_TIMEOUT``) even when the backend is
black-holed; it also runs at interpreter exit, so the whole exit takes at most the budget plus the
interpreter's own teardown (≤ 5 s by default).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import metrics, trace

from agentotel.instrumentation._content import ContentSettings

logger = logging.getLogger("agentotel.instrumentation")

# name → (module that must be importable, instrumentor path)
INSTRUMENTORS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "agentotel.instrumentation.openai:OpenAIInstrumentor"),
    "langchain": ("langchain_core", "agentotel.instrumentation.langchain:LangChainInstrumentor"),
    "httpx": ("opentelemetry.instrumentation.httpx", "agentotel.instrumentation.httpx:HTTPXGenAIInstrumentor"),
    "anthropic": ("anthropic", "agentotel.instrumentation.anthropic:AnthropicInstrumentor"),
    "google_genai": ("google.genai", "agentotel.instrumentation.google_genai:GoogleGenAIInstrumentor"),
    "openai_agents": ("agents", "agentotel.instrumentation.openai_agents:OpenAIAgentsInstrumentor"),
    "llama_index": ("llama_index_instrumentation", "agentotel.instrumentation.llama_index:LlamaIndexInstrumentor"),
}
DEFAULT_QUEUE_SIZE = 2048
DEFAULT_EXPORT_TIMEOUT = 3.0
# one budget for the whole shutdown (traces, metrics and logs side by side), explicit or at interpreter exit:
# with the interpreter's own teardown on top, an app exits within 5 s even when the backend never answers
DEFAULT_SHUTDOWN_TIMEOUT = 3.0
SHUTDOWN_TIMEOUT_ENV = "AGENTOTEL_SHUTDOWN_TIMEOUT"


@dataclass
class InstrumentationHandle:
    """What ``instrument()`` set up; ``shutdown()`` undoes it."""

    tracer_provider: Any
    meter_provider: Any
    instrumentors: list[Any] = field(default_factory=list)
    monitor: Any = None
    owns_tracer_provider: bool = False
    owns_meter_provider: bool = False
    extra_span_processors: list[Any] = field(default_factory=list)
    logger_provider: Any = None
    owns_logger_provider: bool = False
    extra_log_processors: list[Any] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)
    content: ContentSettings = field(default_factory=ContentSettings)
    prometheus: Any = None
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    span_processors: list[Any] = field(default_factory=list)  # every batch processor we made (owned or extra)
    log_processors: list[Any] = field(default_factory=list)
    _done: bool = False

    def force_flush(self, timeout: float | None = None) -> bool:
        """Export what is queued (bounded by ``timeout`` seconds, default the shutdown budget)."""
        budget = self.shutdown_timeout if timeout is None else timeout
        millis = int(budget * 1000)
        steps = [lambda: self.tracer_provider.force_flush(millis)]
        if self.logger_provider is not None:
            steps.append(lambda: self.logger_provider.force_flush(millis))
        return _bounded(steps, budget)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Uninstrument, flush and shut down; returns within ``timeout`` seconds (default: the budget given to
        ``instrument()``, 3 s), False if cut short. Traces, metrics and logs are flushed side by side, so a
        stuck exporter of one signal does not starve the others. Runs at interpreter exit too."""
        if self._done:
            return True
        self._done = True
        budget = self.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        for instrumentor in self.instrumentors:
            try:
                instrumentor.uninstrument()
            except Exception:  # noqa: BLE001
                logger.debug("uninstrument failed", exc_info=True)
        if self.monitor is not None:
            try:
                self.monitor.stop()
            except Exception:  # noqa: BLE001
                logger.debug("performance monitor stop failed", exc_info=True)

        # our batch processors stop waiting for their last export a little before the budget ends, then shut
        # their exporter down (a gRPC channel is closed, cancelling a call the backend never answers): nothing
        # is left in flight when the process goes on to exit
        margin = min(0.3, budget / 5)

        def left_millis() -> float:
            return max(0.0, deadline - margin - time.monotonic()) * 1000

        def traces() -> Any:
            for processor in self.span_processors:
                _shutdown_processor(processor, left_millis())
            if self.owns_tracer_provider:
                return self.tracer_provider.shutdown()
            return None

        def logs() -> Any:
            for processor in self.log_processors:
                _shutdown_processor(processor, left_millis())
            if self.owns_logger_provider:
                return self.logger_provider.shutdown()
            return None

        steps: list[Callable[[], Any]] = [traces]
        if self.logger_provider is not None:
            steps.append(logs)
        if self.owns_meter_provider:
            steps.append(lambda: self.meter_provider.shutdown(timeout_millis=left_millis()))
        steps.extend(self.closers)
        return _bounded(steps, max(0.0, deadline - time.monotonic()))


def _shutdown_processor(processor: Any, timeout_millis: float) -> None:
    """Shut a batch processor of ours down within ``timeout_millis`` (the SDK's ``shutdown()`` waits for the
    last export up to 30 s; its batch processor underneath takes a timeout)."""
    inner = getattr(processor, "_batch_processor", None)
    if inner is not None and hasattr(inner, "shutdown"):
        inner.shutdown(timeout_millis=int(timeout_millis))
    processor.shutdown()  # a no-op once the batch processor is shut down; the whole shutdown for others


def _bounded(steps: list[Callable[[], Any]], timeout: float) -> bool:
    """Run each step in its own daemon thread, side by side; stop waiting after ``timeout`` seconds in all
    (the threads of steps still blocked, e.g. on a black-holed backend, are left to die with the process).
    True when every step finished in time without failing or returning False."""
    outcome: list[Any] = []

    def run(step: Callable[[], Any]) -> None:
        try:
            outcome.append(step())
        except Exception:  # noqa: BLE001
            logger.warning("agentotel shutdown step failed", exc_info=True)
            outcome.append(False)

    deadline = time.monotonic() + timeout
    workers = []
    for step in steps:
        worker = threading.Thread(target=run, args=(step,), name="agentotel-shutdown", daemon=True)
        try:
            worker.start()
        except RuntimeError:  # no new threads at interpreter shutdown (late finalizers): skip the step
            outcome.append(False)
            continue
        workers.append(worker)
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    if any(worker.is_alive() for worker in workers):
        logger.warning("agentotel telemetry shutdown exceeded %.1fs; unexported data dropped", timeout)
        return False
    return all(result is not False for result in outcome)


def shutdown_timeout_from(value: float | None = None) -> float:
    """The shutdown budget in seconds: argument > ``AGENTOTEL_SHUTDOWN_TIMEOUT`` > 3 s. A bad argument raises
    ``ValueError``; a bad environment value is logged and ignored."""
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"shutdown_timeout must be a non-negative number of seconds, not {value!r}")
        return float(value)
    raw = os.environ.get(SHUTDOWN_TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_SHUTDOWN_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        logger.warning("agentotel: ignoring %s=%r (seconds expected); using %.1f s", SHUTDOWN_TIMEOUT_ENV, raw,
                       DEFAULT_SHUTDOWN_TIMEOUT)
        return DEFAULT_SHUTDOWN_TIMEOUT
    return seconds


def _protocol(protocol: str | None) -> str:
    value = (protocol or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
             or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc").strip().lower()
    if value not in ("grpc", "http/protobuf", "http"):
        raise ValueError(f"unsupported OTLP protocol {value!r} (grpc or http/protobuf)")
    return "grpc" if value == "grpc" else "http/protobuf"


def _otlp_exporters(protocol: str, endpoint: str | None, headers: Mapping[str, str] | None,
                    timeout: float) -> tuple[Any, Any]:
    """(span exporter, metric exporter), imported only now (the gRPC one brings grpc in)."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpans

        insecure = True if endpoint and endpoint.startswith("http://") else None
        kwargs: dict[str, Any] = {"endpoint": endpoint, "headers": dict(headers) if headers else None,
                                  "timeout": timeout, "insecure": insecure}
        return GrpcSpans(**kwargs), GrpcMetrics(**kwargs)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpans

    base = endpoint.rstrip("/") if endpoint else None
    plain = dict(headers) if headers else None
    return (HttpSpans(endpoint=f"{base}/v1/traces" if base else None, headers=plain, timeout=timeout),
            HttpMetrics(endpoint=f"{base}/v1/metrics" if base else None, headers=plain, timeout=timeout))


def _otlp_log_exporter(protocol: str, endpoint: str | None, headers: Mapping[str, str] | None,
                       timeout: float) -> Any:
    """The OTLP log exporter matching the span exporter (protocol, endpoint, headers, timeout)."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogs

        insecure = True if endpoint and endpoint.startswith("http://") else None
        return GrpcLogs(endpoint=endpoint, headers=dict(headers) if headers else None, timeout=timeout,
                        insecure=insecure)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogs

    base = endpoint.rstrip("/") if endpoint else None
    return HttpLogs(endpoint=f"{base}/v1/logs" if base else None, headers=dict(headers) if headers else None,
                    timeout=timeout)


def _load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def instrument(
    service_name: str | None = None,
    endpoint: str | None = None,
    *,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    capture_content: bool | str | None = None,
    content_max_length: int | None = None,
    sample_ratio: float | None = None,
    otlp: bool = True,
    export_timeout: float = DEFAULT_EXPORT_TIMEOUT,
    shutdown_timeout: float | None = None,
    max_queue_size: int = DEFAULT_QUEUE_SIZE,
    metric_interval: float | None = None,
    performance_monitor: bool = True,
    instrumentors: Iterable[str] | None = None,
    jsonl_path: str | None = None,
    prometheus_port: int | None = None,
    prometheus_host: str = "127.0.0.1",
    webhook_url: str | None = None,
    span_exporters: Iterable[Any] = (),
    metric_readers: Iterable[Any] = (),
    views: Iterable[Any] = (),
    resource_attributes: Mapping[str, Any] | None = None,
    tracer_provider: Any = None,
    meter_provider: Any = None,
    logger_provider: Any = None,
) -> InstrumentationHandle:
    """Set up telemetry for this agent process and return a handle with ``shutdown()``.

    ``endpoint`` (else ``OTEL_EXPORTER_OTLP_ENDPOINT``) and ``protocol`` (``grpc`` default, or
    ``http/protobuf``; else ``OTEL_EXPORTER_OTLP_PROTOCOL``) select the OTLP backend; ``otlp=False``
    disables it. ``instrumentors`` limits which of ``openai``, ``langchain``, ``httpx``, ``anthropic``,
    ``google_genai`` are enabled (default: each whose library is installed). ``shutdown_timeout`` (seconds;
    else ``AGENTOTEL_SHUTDOWN_TIMEOUT``, else 3) bounds ``handle.shutdown()`` and the flush at interpreter exit.
    ``capture_content``: ``True``/``False`` or a mode of
    ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (``SPAN_ONLY``, ``EVENT_ONLY``,
    ``SPAN_AND_EVENT``); the event modes need a LoggerProvider (``logger_provider``, else the
    application's, else one of ours with OTLP log export).
    """
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if sample_ratio is not None and not 0.0 <= sample_ratio <= 1.0:
        raise ValueError("sample_ratio must be within [0, 1]")
    if instrumentors is not None:
        unknown = set(instrumentors) - set(INSTRUMENTORS)
        if unknown:
            raise ValueError(f"unknown instrumentors: {sorted(unknown)} (known: {sorted(INSTRUMENTORS)})")
    content = ContentSettings.resolve(capture_content, content_max_length)
    budget = shutdown_timeout_from(shutdown_timeout)
    proto = _protocol(protocol) if otlp else ""
    attrs = dict(resource_attributes or {})
    if service_name:
        attrs["service.name"] = service_name
    resource = Resource.create(attrs)
    handle = InstrumentationHandle(None, None, content=content, shutdown_timeout=budget)
    extra_exporters = list(span_exporters)
    readers = list(metric_readers)
    if jsonl_path:
        # on use: instrument() imports only the exporters it is asked for
        from agentotel.instrumentation.exporters.jsonl import JsonLinesMetricExporter, JsonLinesSpanExporter

        extra_exporters.append(JsonLinesSpanExporter(jsonl_path))
        readers.append(_periodic(JsonLinesMetricExporter(f"{jsonl_path}.metrics"), metric_interval))
    if webhook_url:
        # on use: instrument() imports only the exporters it is asked for
        from agentotel.instrumentation.exporters.webhook import WebhookSpanExporter

        extra_exporters.append(WebhookSpanExporter(webhook_url, timeout=export_timeout))
    if prometheus_port is not None:
        # on use: instrument() imports only the exporters it is asked for
        from agentotel.instrumentation.exporters.prometheus import PrometheusEndpoint

        endpoint_server = PrometheusEndpoint(prometheus_port, prometheus_host)
        readers.append(endpoint_server.reader)
        handle.closers.append(endpoint_server.shutdown)
        handle.prometheus = endpoint_server

    def processor(exporter: Any) -> Any:
        # drops are counted by the SDK (otel.sdk.processor.span.processed{error.type="queue_full"})
        with _env_default("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true"):
            made = BatchSpanProcessor(exporter, max_queue_size=max_queue_size,
                                    export_timeout_millis=export_timeout * 1000,
                                    meter_provider=handle.meter_provider)
        handle.span_processors.append(made)
        return made

    span_exporter = metric_exporter = None
    existing = tracer_provider or trace.get_tracer_provider()
    if otlp and (endpoint or not isinstance(existing, TracerProvider)):
        span_exporter, metric_exporter = _otlp_exporters(proto, endpoint, headers, export_timeout)

    # metrics
    existing_meter = meter_provider or metrics.get_meter_provider()
    if isinstance(existing_meter, MeterProvider):
        handle.meter_provider = existing_meter
        if readers:
            logger.warning("agentotel: the application's MeterProvider is reused; extra metric readers "
                           "(Prometheus, JSON-lines) need a MeterProvider of ours")
    else:
        if metric_exporter is not None:
            readers.append(_periodic(metric_exporter, metric_interval, export_timeout))
        provider_m = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False,
                                   views=list(views))  # e.g. MetricRegistry.views() (summaries)
        metrics.set_meter_provider(provider_m)
        handle.meter_provider = provider_m
        handle.owns_meter_provider = True


    # tracing
    if isinstance(existing, TracerProvider):
        handle.tracer_provider = existing
        for exporter in extra_exporters + ([span_exporter] if span_exporter else []):
            p = processor(exporter)
            existing.add_span_processor(p)
            handle.extra_span_processors.append(p)
    else:
        sampler = None
        if sample_ratio is not None:
            from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

            sampler = ParentBased(TraceIdRatioBased(sample_ratio))
        provider = TracerProvider(resource=resource, sampler=sampler, shutdown_on_exit=False)
        for exporter in extra_exporters + ([span_exporter] if span_exporter else []):
            provider.add_span_processor(processor(exporter))
        trace.set_tracer_provider(provider)  # the instrumentors get it explicitly in any case
        handle.tracer_provider = provider
        handle.owns_tracer_provider = True
    # on use: _switch imports the OTel SDK sampler, which importing setup must not load
    from agentotel.instrumentation import _switch

    _switch.install(handle.tracer_provider)  # TelemetryCollector.pause() drops new spans at the sampler

    if content.on_event or logger_provider is not None:
        _setup_logs(handle, logger_provider, resource, proto if otlp else None, endpoint, headers, export_timeout,
                    max_queue_size)

    if performance_monitor:
        try:
            # on use: the monitor (and psutil) loads only when performance_monitor is on
            from agentotel.instrumentation.monitor import PerformanceMonitor

            handle.monitor = PerformanceMonitor(handle.meter_provider).start()
        except ImportError:
            logger.info("psutil is not installed: performance monitor disabled")

    wanted = list(instrumentors) if instrumentors is not None else list(INSTRUMENTORS)
    for name in wanted:
        module, path = INSTRUMENTORS[name]
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            continue
        try:
            instrumentor = _load(path)()
            if instrumentor.is_instrumented_by_opentelemetry:
                continue
            instrumentor.instrument(tracer_provider=handle.tracer_provider, meter_provider=handle.meter_provider,
                                    logger_provider=handle.logger_provider, content=content)
            if instrumentor.is_instrumented_by_opentelemetry:
                handle.instrumentors.append(instrumentor)
        except Exception:  # noqa: BLE001 - a broken optional library must not break the host
            logger.warning("agentotel: could not enable the %s instrumentor", name, exc_info=True)

    atexit.register(handle.shutdown)  # the same budget: explicit shutdown() or none, the exit stays bounded
    return handle


def _setup_logs(handle: InstrumentationHandle, logger_provider: Any, resource: Any, protocol: str | None,
                endpoint: str | None, headers: Mapping[str, str] | None, timeout: float, queue_size: int) -> None:
    """Reuse the given or the application's SDK LoggerProvider, else own one; OTLP log export as for spans."""
    from opentelemetry import _logs
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    existing = logger_provider or _logs.get_logger_provider()
    reuse = isinstance(existing, LoggerProvider)
    exporter = None
    if protocol and (endpoint or not reuse):
        exporter = _otlp_log_exporter(protocol, endpoint, headers, timeout)
    processor = (BatchLogRecordProcessor(exporter, max_queue_size=queue_size, export_timeout_millis=timeout * 1000)
                 if exporter is not None else None)
    if processor is not None:
        handle.log_processors.append(processor)
    if isinstance(existing, LoggerProvider):
        handle.logger_provider = existing
        if processor is not None:
            existing.add_log_record_processor(processor)
            handle.extra_log_processors.append(processor)
        return
    provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    if processor is not None:
        provider.add_log_record_processor(processor)
    _logs.set_logger_provider(provider)  # ignored (with a warning) when one was set before
    handle.logger_provider = provider
    handle.owns_logger_provider = True


@contextlib.contextmanager
def _env_default(name: str, value: str):
    """Set ``name`` only while the block runs, unless the user set it."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


def _periodic(exporter: Any, interval: float | None, timeout: float = DEFAULT_EXPORT_TIMEOUT) -> Any:
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

    kwargs: dict[str, Any] = {"export_timeout_millis": timeout * 1000}
    if interval is not None:
        kwargs["export_interval_millis"] = interval * 1000
    return PeriodicExportingMetricReader(exporter, **kwargs)
