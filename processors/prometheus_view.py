"""The receiver's ``/metrics``: its own health and the agent view, computed as spans are committed.

One :class:`ReceiverMetrics` per receiver process owns a private ``CollectorRegistry`` (tests make their
own). Counters restart at zero with the process; Prometheus' ``rate``/``increase`` handle that, and
several receivers behind a load balancer are summed over ``instance``.

Label values are bounded: each label name (provider, model, agent, tool, reason) keeps at most
``max_label_values`` distinct values; later new values, and unknown/empty ones, become ``other``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agentotel.processors.records import SpanBatch

OTHER = "other"
DEFAULT_MAX_LABEL_VALUES = 100
MAX_LABEL_LENGTH = 128
SIGNALS = ("spans", "metric_points", "log_records")
# gen_ai.client.operation.duration boundaries (semconv.md 1.3)
LLM_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
AGENT_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
WRITE_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class LabelLimiter:
    """Bounded label values: the first ``cap`` distinct values per label name pass, the rest are ``other``."""

    def __init__(self, cap: int = DEFAULT_MAX_LABEL_VALUES) -> None:
        if cap < 1:
            raise ValueError("max_label_values must be at least 1")
        self.cap = cap
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def __call__(self, label: str, value: Any) -> str:
        if value is None or isinstance(value, bool):
            return OTHER
        text = str(value).strip()[:MAX_LABEL_LENGTH]
        if not text:
            return OTHER
        with self._lock:
            seen = self._seen.setdefault(label, set())
            if text in seen:
                return text
            if len(seen) >= self.cap:
                return OTHER
            seen.add(text)
            return text


class MetricsServer:
    """A running ``/metrics`` HTTP endpoint; ``close()`` stops it."""

    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self.host, self.port = server.server_address[:2]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class ReceiverMetrics:
    """Receiver health and the agent view (ARCHITECTURE.md "Prometheus metrics") on a private registry."""

    def __init__(self, max_label_values: int = DEFAULT_MAX_LABEL_VALUES, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.label = LabelLimiter(max_label_values)
        r = self.registry
        # receiver health
        self.received = Counter("agentotel_receiver_received", "Items received by signal", ["signal"], registry=r)
        self.rejected = Counter("agentotel_receiver_rejected", "Items rejected (bad data)", ["signal"], registry=r)
        self.written = Counter("agentotel_receiver_written", "Items written to the warehouse", ["signal"], registry=r)
        self.export_errors = Counter(
            "agentotel_receiver_export_errors", "Export requests answered with an error", ["signal", "reason"], registry=r
        )
        self.spool_bytes = Gauge("agentotel_receiver_spool_bytes", "Bytes waiting in the write queue (spool)", registry=r)
        self.spool_records = Gauge("agentotel_receiver_spool_records", "Requests waiting in the write queue", registry=r)
        self.drain_lag = Gauge(
            "agentotel_receiver_drain_lag_seconds", "Age of the oldest request not yet written", registry=r
        )
        self.write_latency = Histogram(
            "agentotel_receiver_batch_write_duration_seconds",
            "Warehouse write time per batch",
            ["signal"],
            buckets=WRITE_LATENCY_BUCKETS,
            registry=r,
        )
        for signal in SIGNALS:  # export zeros so rates exist from the first scrape
            for counter in (self.received, self.rejected, self.written):
                counter.labels(signal=signal)
        # the agent view
        self.llm_tokens = Counter(
            "agentotel_llm_tokens", "LLM tokens by type", ["provider", "model", "agent", "type"], registry=r
        )
        self.llm_cost = Counter("agentotel_llm_cost_usd", "LLM cost in USD", ["provider", "model", "agent"], registry=r)
        self.llm_duration = Histogram(
            "agentotel_llm_request_duration_seconds",
            "LLM call duration",
            ["provider", "model", "agent"],
            buckets=LLM_DURATION_BUCKETS,
            registry=r,
        )
        self.executions = Counter("agentotel_agent_executions", "Agent executions", ["agent", "status"], registry=r)
        self.execution_duration = Histogram(
            "agentotel_agent_execution_duration_seconds",
            "Agent execution duration",
            ["agent"],
            buckets=AGENT_DURATION_BUCKETS,
            registry=r,
        )
        self.tool_calls = Counter("agentotel_tool_calls", "Tool calls", ["tool", "status"], registry=r)

    # -- health --------------------------------------------------------------------------------
    def count_received(self, signal: str, n: int) -> None:
        if n:
            self.received.labels(signal=signal).inc(n)

    def count_rejected(self, signal: str, n: int) -> None:
        if n:
            self.rejected.labels(signal=signal).inc(n)

    def count_written(self, signal: str, n: int) -> None:
        if n:
            self.written.labels(signal=signal).inc(n)

    def count_export_error(self, signal: str, reason: str) -> None:
        self.export_errors.labels(signal=signal, reason=self.label("reason", reason)).inc()

    def observe_write(self, signal: str, seconds: float) -> None:
        self.write_latency.labels(signal=signal).observe(seconds)

    def set_queue(self, size_bytes: int, records: int, lag_seconds: float = 0.0) -> None:
        self.spool_bytes.set(size_bytes)
        self.spool_records.set(records)
        self.drain_lag.set(lag_seconds)

    def track_queue(
        self, size_bytes: Callable[[], float], records: Callable[[], float], lag_seconds: Callable[[], float]
    ) -> None:
        """Read queue depth and lag at scrape time from the spool instead of pushing them."""
        self.spool_bytes.set_function(size_bytes)
        self.spool_records.set_function(records)
        self.drain_lag.set_function(lag_seconds)

    # -- the agent view ------------------------------------------------------------------------
    def observe_spans(self, batch: SpanBatch) -> None:
        """Count newly committed spans (the writer calls this once per span, never for duplicates)."""
        label = self.label
        for span in batch.spans:
            agent = label("agent", span.agent_name)
            if span.llm is not None:
                llm = span.llm
                provider = label("provider", llm.get("provider"))
                model = label("model", llm.get("response_model") or llm.get("request_model"))
                for kind in ("input", "output"):
                    tokens = llm.get(f"{kind}_tokens")
                    if isinstance(tokens, int | float) and tokens > 0:
                        self.llm_tokens.labels(provider, model, agent, kind).inc(tokens)
                cost = llm.get("cost_usd")
                if isinstance(cost, int | float) and cost > 0:
                    self.llm_cost.labels(provider, model, agent).inc(cost)
                self.llm_duration.labels(provider, model, agent).observe(max(span.duration_ms, 0.0) / 1000)
            if span.span_type == "agent":
                status = "error" if span.is_error else "success"
                self.executions.labels(agent, status).inc()
                self.execution_duration.labels(agent).observe(max(span.duration_ms, 0.0) / 1000)
            if span.tool is not None:
                success = span.tool.get("success")
                ok = (not span.is_error) if success is None else bool(success)
                self.tool_calls.labels(label("tool", span.tool.get("tool_name")), "success" if ok else "error").inc()

    # -- serving -------------------------------------------------------------------------------
    def serve(self, host: str = "127.0.0.1", port: int = 9464) -> MetricsServer:
        """Start ``/metrics`` on ``host:port`` (port 0 picks a free one) in a daemon thread."""
        from prometheus_client import start_http_server

        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return MetricsServer(server, thread)
