"""The receiver's ``/metrics``: its own health and the agent view, computed as spans are committed.

One :class:`ReceiverMetrics` per receiver process owns a private ``CollectorRegistry`` (tests make their
own). Counters restart at zero with the process; Prometheus' ``rate``/``increase`` handle that, and
several receivers behind a load balancer are summed over ``instance``.

Label values are bounded: each label name (provider, model, agent, tool, reason) keeps at most
``max_label_values`` distinct values; later new values, and unknown/empty ones, become ``other``.

Projects: the agent series of each project (the project of the API key that sent the spans) are kept apart;
``/metrics`` shows a scrape the series of its key's project (``serve``), with the contract's label names.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from agentotel.core.projects import DEFAULT_PROJECT
from agentotel.otlp_receiver.auth import ApiKeyAuth
from agentotel.otlp_receiver.receiver import Counters
from agentotel.processors.records import SpanBatch, SpanRecord

OTHER = "other"
DEFAULT_MAX_LABEL_VALUES = 100
MAX_LABEL_LENGTH = 128
SIGNALS = ("traces", "metrics", "logs")
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

    shutdown = close


class AgentView:
    """The agent series of one project (ARCHITECTURE.md "Prometheus metrics") on ``registry``."""

    def __init__(self, registry: CollectorRegistry, label: LabelLimiter) -> None:
        self.registry = registry
        self.label = label
        self.llm_tokens = Counter(
            "agentotel_llm_tokens", "LLM tokens by type", ["provider", "model", "agent", "type"], registry=registry
        )
        self.llm_cost = Counter("agentotel_llm_cost_usd", "LLM cost in USD", ["provider", "model", "agent"], registry=registry)
        self.llm_duration = Histogram(
            "agentotel_llm_request_duration_seconds",
            "LLM call duration",
            ["provider", "model", "agent"],
            buckets=LLM_DURATION_BUCKETS,
            registry=registry,
        )
        self.executions = Counter("agentotel_agent_executions", "Agent executions", ["agent", "status"], registry=registry)
        self.execution_duration = Histogram(
            "agentotel_agent_execution_duration_seconds",
            "Agent execution duration",
            ["agent"],
            buckets=AGENT_DURATION_BUCKETS,
            registry=registry,
        )
        self.tool_calls = Counter("agentotel_tool_calls", "Tool calls", ["tool", "status"], registry=registry)

    def observe(self, spans: Iterable[SpanRecord]) -> None:
        """Count ``spans``: counters are summed per label set and incremented once per call; histogram
        children are looked up once per label set (``labels()`` was a few percent of the drain when called
        per span)."""
        label = self.label
        tokens: dict[tuple[str, str, str, str], float] = {}
        costs: dict[tuple[str, str, str], float] = {}
        executions: dict[tuple[str, str], int] = {}
        tools: dict[tuple[str, str], int] = {}
        llm_durations: dict[tuple[str, str, str], Any] = {}
        execution_durations: dict[str, Any] = {}
        for span in spans:
            agent = label("agent", span.agent_name)
            llm = span.llm
            if llm is not None:
                key = (label("provider", llm.get("provider")),
                       label("model", llm.get("response_model") or llm.get("request_model")), agent)  # fmt: skip
                for kind in ("input", "output"):
                    count = llm.get(f"{kind}_tokens")
                    if isinstance(count, int | float) and count > 0:
                        tokens[(*key, kind)] = tokens.get((*key, kind), 0) + count
                cost = llm.get("cost_usd")
                if isinstance(cost, int | float) and cost > 0:
                    costs[key] = costs.get(key, 0.0) + cost
                child = llm_durations.get(key)
                if child is None:
                    child = llm_durations[key] = self.llm_duration.labels(*key)
                child.observe(max(span.duration_ms, 0.0) / 1000)
            if span.span_type == "agent":
                status = "error" if span.is_error else "success"
                executions[(agent, status)] = executions.get((agent, status), 0) + 1
                child = execution_durations.get(agent)
                if child is None:
                    child = execution_durations[agent] = self.execution_duration.labels(agent)
                child.observe(max(span.duration_ms, 0.0) / 1000)
            if span.tool is not None:
                success = span.tool.get("success")
                ok = (not span.is_error) if success is None else bool(success)
                tool_key = (label("tool", span.tool.get("tool_name")), "success" if ok else "error")
                tools[tool_key] = tools.get(tool_key, 0) + 1
        for token_key, value in tokens.items():
            self.llm_tokens.labels(*token_key).inc(value)
        for cost_key, value in costs.items():
            self.llm_cost.labels(*cost_key).inc(value)
        for execution_key, n in executions.items():
            self.executions.labels(*execution_key).inc(n)
        for tool_key, n in tools.items():
            self.tool_calls.labels(*tool_key).inc(n)


class ReceiverMetrics(Counters):
    """Receiver health and the agent view (ARCHITECTURE.md "Prometheus metrics") on a private registry."""

    def __init__(self, max_label_values: int = DEFAULT_MAX_LABEL_VALUES, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.label = LabelLimiter(max_label_values)
        r = self.registry
        # receiver health (signal = traces | metrics | logs; items = spans | data points | log records)
        self.received_total = Counter("agentotel_receiver_received", "Items received", ["signal"], registry=r)
        self.rejected_total = Counter(
            "agentotel_receiver_rejected", "Items rejected as bad data", ["signal", "reason"], registry=r
        )
        self.written_total = Counter("agentotel_receiver_written", "Items written to the warehouse", ["signal"], registry=r)
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
            self.received_total.labels(signal=signal)
            self.written_total.labels(signal=signal)
        self.agent_view = AgentView(r, self.label)  # the default project's, beside the health series
        self._project_views: dict[str, AgentView] = {}
        self._views_lock = threading.Lock()
        self._max_label_values = max_label_values

    # -- health (the receiver's ``Counters`` interface and the drain's ``on_written``) --------
    def received(self, signal: str, count: int) -> None:
        if count:
            self.received_total.labels(signal=signal).inc(count)

    def rejected(self, signal: str, count: int, reason: str = "invalid") -> None:
        if count:
            self.rejected_total.labels(signal=signal, reason=self.label("reason", reason)).inc(count)

    def written(self, signal: str, count: int) -> None:
        if count:
            self.written_total.labels(signal=signal).inc(count)

    def export_error(self, signal: str, reason: str) -> None:
        self.export_errors.labels(signal=signal, reason=self.label("reason", reason)).inc()

    def observe_write(self, signal: str, count: int, seconds: float) -> None:
        """One warehouse write of ``count`` items that took ``seconds``."""
        self.written(signal, count)
        self.write_latency.labels(signal=signal).observe(seconds)

    def set_spool(self, size_bytes: float, lag_seconds: float, records: float | None = None) -> None:
        """Write-queue depth and the age of its oldest unwritten request."""
        self.spool_bytes.set(size_bytes)
        self.drain_lag.set(lag_seconds)
        if records is not None:
            self.spool_records.set(records)

    # -- the agent view ------------------------------------------------------------------------
    def observe_spans(self, batch: SpanBatch) -> None:
        """Count newly committed spans (the writer calls this once per batch, never for duplicates), each in
        the agent view of its project (the project of the API key that sent it)."""
        spans = batch.spans
        if all(span.project_id == DEFAULT_PROJECT for span in spans):
            self.agent_view.observe(spans)
            return
        by_project: dict[str, list[SpanRecord]] = {}
        for span in spans:
            by_project.setdefault(span.project_id, []).append(span)
        for project, group in by_project.items():
            self.view_of(project).observe(group)

    def view_of(self, project: str) -> AgentView:
        """The agent view of ``project``: the default project's is on the main registry (what ``/metrics``
        shows today), every other project's on a registry of its own, made at its first use."""
        if project == DEFAULT_PROJECT:
            return self.agent_view
        with self._views_lock:
            view = self._project_views.get(project)
            if view is None:
                view = self._project_views[project] = AgentView(CollectorRegistry(), LabelLimiter(self._max_label_values))
            return view

    # -- serving -------------------------------------------------------------------------------
    def serve(self, host: str = "127.0.0.1", port: int = 9464, auth: ApiKeyAuth | None = None) -> MetricsServer:
        """Start ``/metrics`` on ``host:port`` (port 0 picks a free one) in a daemon thread.

        With ``auth`` enabled (any API key configured), a scrape presents a key as the OTLP endpoints take
        it (``Authorization: Bearer`` or ``x-api-key``), else 401: a static key or a key of the default
        project reads what ``/metrics`` has always shown (receiver health and the default project's agent
        series); a key of project P, of any scope, reads P's agent series only."""
        apps: dict[str, Any] = {}

        def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            project = DEFAULT_PROJECT if auth is None else auth.reader_project(
                environ.get("HTTP_AUTHORIZATION"), environ.get("HTTP_X_API_KEY"))  # fmt: skip
            if project is None:
                start_response("401 Unauthorized", [("Content-Type", "text/plain; charset=utf-8"),
                                                     ("WWW-Authenticate", 'Bearer realm="agentotel"')])  # fmt: skip
                return [b"/metrics needs an API key: Authorization: Bearer KEY, or x-api-key: KEY\n"]
            if project not in apps:
                apps[project] = make_wsgi_app(self.registry if project == DEFAULT_PROJECT else self.view_of(project).registry)
            return apps[project](environ, start_response)

        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        server_class: type[ThreadingWSGIServer] = type("MetricsHTTPServer", (ThreadingWSGIServer,), {"address_family": family})
        server: ThreadingWSGIServer = make_server(host, port, app, server_class, handler_class=_QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
        thread.start()
        return MetricsServer(server, thread)


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
        pass
