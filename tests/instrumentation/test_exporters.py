"""Exporters beyond OTLP: JSON-lines files, the Prometheus endpoint, the webhook (real HTTP servers)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

from agentotel.instrumentation.exporters import (
    JsonLinesMetricExporter,
    JsonLinesSpanExporter,
    PrometheusEndpoint,
    WebhookSpanExporter,
)
from tests.conftest import free_port


def _spans(exporter, count: int = 3, name: str = "work") -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("root", kind=SpanKind.CLIENT, attributes={"gen_ai.usage.input_tokens": 7}):
        for i in range(count - 1):
            with tracer.start_as_current_span(f"{name}-{i}"):
                pass
    return provider


def test_jsonl_span_lines_are_otlp_json(tmp_path):
    path = tmp_path / "out" / "spans.jsonl"
    exporter = JsonLinesSpanExporter(path)
    _spans(exporter)
    exporter.shutdown()
    lines = path.read_text().splitlines()
    assert len(lines) == 3  # SimpleSpanProcessor: one export request per span
    spans = [s for line in lines for rs in json.loads(line)["resourceSpans"] for ss in rs["scopeSpans"]
             for s in ss["spans"]]
    root = next(s for s in spans if s["name"] == "root")
    assert len(root["traceId"]) == 32 and len(root["spanId"]) == 16 and "parentSpanId" not in root
    assert root["kind"] == 3 and isinstance(root["startTimeUnixNano"], str)
    assert root["attributes"] == [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "7"}}]
    child = next(s for s in spans if s["name"] == "work-0")
    assert child["parentSpanId"] == root["spanId"] and child["traceId"] == root["traceId"]


def test_jsonl_rotates(tmp_path):
    path = tmp_path / "spans.jsonl"
    exporter = JsonLinesSpanExporter(path, max_bytes=2000, backup_count=2)
    _spans(exporter, count=30)
    exporter.shutdown()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["spans.jsonl", "spans.jsonl.1", "spans.jsonl.2"]
    for file in tmp_path.iterdir():
        assert file.stat().st_size <= 2000
        for line in file.read_text().splitlines():
            json.loads(line)


def test_jsonl_rejects_bad_limits(tmp_path):
    with pytest.raises(ValueError):
        JsonLinesSpanExporter(tmp_path / "x.jsonl", max_bytes=0)


def test_jsonl_metrics(tmp_path):
    path = tmp_path / "metrics.jsonl"
    reader = PeriodicExportingMetricReader(JsonLinesMetricExporter(path), export_interval_millis=60_000)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    provider.get_meter("m").create_counter("agentotel.test.count").add(5, {"k": "v"})
    provider.shutdown()
    payload = json.loads(path.read_text().splitlines()[-1])
    metric = payload["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]
    assert metric["name"] == "agentotel.test.count" and metric["sum"]["dataPoints"][0]["asInt"] == "5"


def test_prometheus_endpoint_serves_metrics_on_loopback():
    endpoint = PrometheusEndpoint(port=0)
    try:
        assert endpoint.host == "127.0.0.1"
        provider = MeterProvider(metric_readers=[endpoint.reader], shutdown_on_exit=False)
        histogram = provider.get_meter("agentotel.instrumentation.openai").create_histogram(
            "gen_ai.client.operation.duration", unit="s")
        histogram.record(0.3, {"gen_ai.operation.name": "chat"})
        body = httpx.get(endpoint.url, timeout=5).text
        assert 'gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat"' in body
        provider.shutdown()
    finally:
        endpoint.shutdown()


class _Sink:
    """A real webhook receiver on loopback answering with a scripted list of statuses."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict] = []
        self.times: list[float] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.times.append(time.monotonic())
                status = sink.statuses.pop(0) if sink.statuses else 200
                if status == 200:
                    sink.bodies.append(json.loads(body))
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0.3")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_webhook_retries_then_delivers():
    sink = _Sink([500, 429, 200])
    try:
        exporter = WebhookSpanExporter(sink.url, backoff=0.05, timeout=5)
        _spans(exporter, count=1)
        assert len(sink.bodies) == 1 and exporter.failed_batches == 0
        assert sink.bodies[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"] == "root"
        assert len(sink.times) == 3 and sink.times[2] - sink.times[1] >= 0.25  # Retry-After honoured
    finally:
        sink.close()


def test_webhook_permanent_error_is_not_retried():
    sink = _Sink([400])
    try:
        exporter = WebhookSpanExporter(sink.url, backoff=0.05)
        _spans(exporter, count=1)
        assert len(sink.times) == 1 and exporter.failed_batches == 1
    finally:
        sink.close()


def test_webhook_down_gives_up_within_its_timeout():
    exporter = WebhookSpanExporter(f"http://127.0.0.1:{free_port()}/hook", backoff=0.05, timeout=1.0)
    start = time.monotonic()
    _spans(exporter, count=1)
    assert time.monotonic() - start < 2.5 and exporter.failed_batches == 1


def test_webhook_rejects_non_http_urls():
    with pytest.raises(ValueError):
        WebhookSpanExporter("file:///etc/passwd")
