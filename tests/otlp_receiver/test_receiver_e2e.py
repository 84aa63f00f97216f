"""Real OTel SDK exporters (gRPC and HTTP) → the real receiver → warehouse rows, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import urllib.request

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.otlp_receiver.support import count, genai_spans, scalar
from tests.support.polling import wait_for


def exporters(server):
    return {
        "grpc": GrpcSpanExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True, timeout=5),
        "http": HttpSpanExporter(endpoint=f"http://127.0.0.1:{server.http_port}/v1/traces", timeout=5),
        "http-gzip": HttpSpanExporter(
            endpoint=f"http://127.0.0.1:{server.http_port}/v1/traces", timeout=5, compression=Compression.Gzip
        ),
    }


@pytest.mark.parametrize("transport", ["grpc", "http", "http-gzip"])
def test_sdk_exporter_to_tables(receiver, transport):
    exporter = exporters(receiver)[transport]
    spans = genai_spans(n_traces=3)
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    engine = receiver.engine
    assert wait_for(lambda: count(engine, "agent_executions") == 3 and count(engine, "spans") == 12)
    assert count(engine, "llm_calls") == 6
    assert count(engine, "tool_calls") == 3
    assert scalar(engine, "select sum(tokens_used) from agent_executions") == 3 * 300
    assert scalar(engine, "select count(*) from agents where name = 'support-agent'") == 1
    assert scalar(engine, "select min(cost_usd) from llm_calls") > 0
    assert scalar(engine, "select count(distinct trace_id) from spans") == 3


def test_duplicate_export_adds_no_rows(receiver):
    spans = genai_spans(n_traces=2)
    ex = exporters(receiver)
    assert ex["grpc"].export(spans) == SpanExportResult.SUCCESS
    assert ex["http"].export(spans) == SpanExportResult.SUCCESS
    assert ex["grpc"].export(spans) == SpanExportResult.SUCCESS
    engine = receiver.engine
    assert wait_for(lambda: receiver.spool.pending_bytes() == 0 and count(engine, "spans") >= 8)
    assert (count(engine, "spans"), count(engine, "llm_calls"), count(engine, "agent_executions")) == (8, 4, 2)
    assert scalar(engine, "select sum(tokens_used) from agent_executions") == 600


def test_otlp_json_with_hex_ids_and_string_ints(receiver):
    body = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
            "scopeSpans": [{"scope": {"name": "x"}, "spans": [{
                "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                "name": "chat gpt-4o", "kind": 3,
                "startTimeUnixNano": "1760000000000000000", "endTimeUnixNano": "1760000000250000000",
                "attributes": [
                    {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
                    {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}},
                ],
                "status": {"code": 2, "message": "rate limited"}, "unknownField": 1,
            }]}],
        }]
    }  # fmt: skip
    request = urllib.request.Request(
        f"http://127.0.0.1:{receiver.http_port}/v1/traces", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        json.loads(response.read())
    engine = receiver.engine
    assert wait_for(lambda: count(engine, "llm_calls") == 1)
    row = scalar(engine, "select trace_id || ':' || span_id || ':' || status_code || ':' || kind from spans")
    assert row == "5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174:ERROR:CLIENT"
    assert scalar(engine, "select start_time_unix_nano from spans") == 1760000000000000000
    assert scalar(engine, "select input_tokens from llm_calls") == 42
