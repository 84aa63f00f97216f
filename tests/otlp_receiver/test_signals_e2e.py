"""End to end through a running receiver: the real OTel SDK metric exporters (gRPC and HTTP) → ``metrics``
rows; spans → the receiver's /metrics; a GenAI log event over OTLP/HTTP → its span's content."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry import trace
from opentelemetry._logs import LogRecord as ApiLogRecord
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from agentotel.warehouse.models import Metric, Span
from tests.otlp_receiver.support import genai_spans
from tests.support.polling import wait_for

METRICS = Metric.__table__
SPANS = Span.__table__


def _exporter(transport: str, server, temporality: AggregationTemporality):
    preferred = {Counter: temporality, Histogram: temporality}
    if transport == "grpc":
        return GrpcMetricExporter(
            endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True, preferred_temporality=preferred, timeout=5
        )
    return HttpMetricExporter(
        endpoint=f"http://127.0.0.1:{server.http_port}/v1/metrics", preferred_temporality=preferred, timeout=5
    )


def _rows(engine, name: str):
    with engine.connect() as conn:
        query = select(METRICS).where(METRICS.c.metric_name == name).order_by(METRICS.c.timestamp)
        return conn.execute(query).all()


@pytest.mark.parametrize(
    ("transport", "temporality"),
    [("grpc", AggregationTemporality.CUMULATIVE), ("http", AggregationTemporality.DELTA)],
    ids=["grpc-cumulative", "http-delta"],
)
def test_sdk_metric_exporter_to_metrics_rows(receiver, transport, temporality):
    server, engine = receiver, receiver.engine
    reader = PeriodicExportingMetricReader(_exporter(transport, server, temporality), export_interval_millis=3_600_000)
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": f"e2e-{transport}"}),
        views=[View(instrument_name="gen_ai.client.operation.duration",
                    aggregation=ExplicitBucketHistogramAggregation(boundaries=[0.5, 1, 2]))],
    )  # fmt: skip
    meter = provider.get_meter("tests.interop.e2e")
    counter = meter.create_counter("agent.requests")
    histogram = meter.create_histogram("gen_ai.client.operation.duration", unit="s")
    try:
        counter.add(5, {"agent": "planner"})
        histogram.record(0.3, {"gen_ai.request.model": "gpt-4o"})
        histogram.record(1.5, {"gen_ai.request.model": "gpt-4o"})
        assert provider.force_flush(10_000)
        assert wait_for(lambda: len(_rows(engine, "agent.requests")) == 1)
        counter.add(2, {"agent": "planner"})
        histogram.record(0.7, {"gen_ai.request.model": "gpt-4o"})
        assert provider.force_flush(10_000)
        assert wait_for(lambda: len(_rows(engine, "agent.requests")) == 2 and len(_rows(engine, "gen_ai.client.operation.duration")) == 2)

        delta = temporality == AggregationTemporality.DELTA
        kind = "delta" if delta else "cumulative"
        counts = _rows(engine, "agent.requests")
        assert [(r.value, r.temporality, r.metric_type) for r in counts] == [
            (5.0, kind, "counter"),
            ((2.0 if delta else 7.0), kind, "counter"),
        ]
        assert counts[0].tags["agent"] == "planner" and counts[0].service_name == f"e2e-{transport}"
        durations = _rows(engine, "gen_ai.client.operation.duration")
        assert (durations[0].count, durations[0].sum) == (2, pytest.approx(1.8))
        assert durations[0].buckets["counts"] == [1, 0, 1, 0]
        if delta:
            assert (durations[1].count, durations[1].sum, durations[1].buckets["counts"]) == (1, pytest.approx(0.7), [0, 1, 0, 0])
        else:
            assert (durations[1].count, durations[1].sum, durations[1].buckets["counts"]) == (3, pytest.approx(2.5), [1, 1, 1, 0])
        assert durations[0].unit == "s"
    finally:
        provider.shutdown()


def _scrape(server) -> dict[tuple, float]:
    body = httpx.get(f"http://127.0.0.1:{server.settings.metrics_port}/metrics", timeout=5).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_spans_and_genai_events_through_the_receiver(receiver):
    server, engine = receiver, receiver.engine
    spans = genai_spans(n_traces=1, agent="support-agent")
    exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True, timeout=5)
    assert exporter.export(spans).name == "SUCCESS"
    exporter.shutdown()
    assert wait_for(lambda: _span_count(engine) == len(spans))

    def agent_view():
        scraped = _scrape(server)
        key = ("agentotel_agent_executions_total", (("agent", "support-agent"), ("status", "success")))
        return scraped if scraped.get(key) == 1 else None

    scraped = wait_for(agent_view, timeout=10)
    assert scraped, "the executions counter never reached 1"
    tokens = {
        labels: v for (name, labels), v in scraped.items() if name == "agentotel_llm_tokens_total"
    }
    assert tokens[(("agent", "support-agent"), ("model", "gpt-4o-mini-2024-07-18"), ("provider", "openai"), ("type", "input"))] == 250
    assert tokens[(("agent", "support-agent"), ("model", "gpt-4o-mini-2024-07-18"), ("provider", "openai"), ("type", "output"))] == 50
    assert scraped[("agentotel_tool_calls_total", (("status", "success"), ("tool", "lookup")))] == 1
    assert scraped[("agentotel_receiver_received_total", (("signal", "traces"),))] == len(spans)
    assert scraped[("agentotel_receiver_written_total", (("signal", "traces"),))] >= len(spans)

    # a GenAI content event for the first chat span, sent after the span over OTLP/HTTP
    chat = next(s for s in spans if s.name.startswith("chat"))
    logs = LoggerProvider(resource=Resource.create({"service.name": "svc"}))
    logs.add_log_record_processor(
        SimpleLogRecordProcessor(HttpLogExporter(endpoint=f"http://127.0.0.1:{server.http_port}/v1/logs", timeout=5))
    )
    context = trace.set_span_in_context(NonRecordingSpan(chat.get_span_context()))
    logs.get_logger("opentelemetry.instrumentation.openai_v2").emit(
        ApiLogRecord(event_name="gen_ai.user.message", body={"content": "Where is my order?"}, context=context)
    )
    logs.shutdown()
    span_key = (f"{chat.context.trace_id:032x}", f"{chat.context.span_id:016x}")
    stored = wait_for(lambda: _span_input(engine, span_key), timeout=10)
    assert stored == '[{"role": "user", "parts": [{"type": "text", "content": "Where is my order?"}]}]'
    assert wait_for(lambda: _scrape(server).get(("agentotel_receiver_written_total", (("signal", "logs"),))) == 1)


def _span_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(SPANS)).scalar_one()


def _span_input(engine, key: tuple[str, str]) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(SPANS.c.input).where(SPANS.c.trace_id == key[0], SPANS.c.span_id == key[1])).scalar()


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["sqlite"])  # the warehouse does not matter here: one run is enough
def test_real_prometheus_scrapes_a_running_receiver(receiver, tmp_path):
    from tests.support.prometheus import promql, running_prometheus

    server, engine = receiver, receiver.engine
    spans = [*genai_spans(n_traces=3, agent="support-agent"), *genai_spans(n_traces=1, agent="support-agent", error=True)]
    exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True, timeout=5)
    assert exporter.export(spans).name == "SUCCESS"
    exporter.shutdown()
    assert wait_for(lambda: _span_count(engine) == len(spans))
    with running_prometheus(tmp_path, f"127.0.0.1:{server.settings.metrics_port}") as prometheus:

        def executions():
            rows = promql(prometheus, 'sum by (status) (agentotel_agent_executions_total{agent="support-agent"})')
            return {r["metric"]["status"]: float(r["value"][1]) for r in rows} or None

        assert wait_for(lambda: executions() == {"success": 3.0, "error": 1.0}, timeout=20), executions()
        tokens = {
            r["metric"]["type"]: float(r["value"][1])
            for r in promql(prometheus, 'sum by (type) (agentotel_llm_tokens_total{agent="support-agent"})')
        }
        assert tokens == {"input": 4 * 250.0, "output": 4 * 50.0}
        (received,) = promql(prometheus, 'agentotel_receiver_received_total{signal="traces"}')
        assert float(received["value"][1]) == len(spans)
