"""RELIABILITY.md §3 bad input and §4 auth: each rejected cleanly while the server keeps serving."""

from __future__ import annotations

import gzip
import os

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace.export import SpanExportResult

from tests.otlp_receiver.support import count, genai_spans, scalar
from tests.support.polling import wait_for
from tests.support.receiver import start_receiver

pytestmark = pytest.mark.receiver(max_request_bytes=4 * 1024 * 1024)

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
T0 = 1_760_000_000_000_000_000


def span_request(n: int = 1, **span_fields) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for _ in range(n):
        span = scope.spans.add(
            trace_id=os.urandom(16), span_id=os.urandom(8), name="chat m", start_time_unix_nano=T0, end_time_unix_nano=T0 + 1000
        )
        for key, value in span_fields.items():
            setattr(span, key, value)
    return request


def raw_grpc(server, body: bytes, metadata=()):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        call = channel.unary_unary(TRACE_METHOD)
        return call.with_call(body, metadata=metadata, timeout=10)


def http_post(server, body: bytes, content_type="application/x-protobuf", path="/v1/traces", **headers):
    return httpx.post(
        f"http://127.0.0.1:{server.http_port}{path}", content=body, headers={"Content-Type": content_type, **headers}, timeout=10
    )


def still_serves(server) -> None:
    """The next valid request is accepted and stored."""
    before = count(server.engine, "spans")
    exporter = GrpcSpanExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True, timeout=5)
    assert exporter.export(genai_spans(1)) == SpanExportResult.SUCCESS
    assert wait_for(lambda: count(server.engine, "spans") == before + 4)


def test_garbage_is_invalid_argument_everywhere(receiver):
    with pytest.raises(grpc.RpcError) as info:
        raw_grpc(receiver, b"\xff\x00garbage\x12\x99")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    response = http_post(receiver, b"\xff\x00garbage\x12\x99")
    assert response.status_code == 400
    assert "ExportTraceServiceRequest" in status_pb2.Status.FromString(response.content).message
    response = http_post(receiver, b"{not json", content_type="application/json")
    assert response.status_code == 400 and "JSON" in response.json()["message"]
    still_serves(receiver)


@pytest.mark.slow
def test_oversized_and_gzip_bomb_are_413(receiver):
    big = span_request(1)
    big.resource_spans[0].scope_spans[0].spans[0].name = "x" * (5 * 1024 * 1024)
    payload = big.SerializeToString()
    assert http_post(receiver, payload).status_code == 413
    bomb = gzip.compress(b"\x00" * (64 * 1024 * 1024), compresslevel=9)  # 64 KiB → 64 MiB
    assert len(bomb) < 1024 * 1024
    assert http_post(receiver, bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    with pytest.raises(grpc.RpcError) as info:
        raw_grpc(receiver, payload)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    still_serves(receiver)


def test_bad_spans_rejected_one_by_one_with_partial_success(receiver):
    request = span_request(3)
    spans = request.resource_spans[0].scope_spans[0].spans
    bad = spans.add(trace_id=b"\x01" * 8, span_id=os.urandom(8), name="short trace id", start_time_unix_nano=T0, end_time_unix_nano=T0)
    bad2 = spans.add(trace_id=os.urandom(16), span_id=bytes(8), name="zero span id", start_time_unix_nano=T0, end_time_unix_nano=T0)
    bad3 = spans.add(trace_id=os.urandom(16), span_id=os.urandom(8), name="ends first", start_time_unix_nano=T0, end_time_unix_nano=T0 - 5)
    bad4 = spans.add(trace_id=os.urandom(16), span_id=os.urandom(8), name="epoch", start_time_unix_nano=0, end_time_unix_nano=0)
    assert all((bad, bad2, bad3, bad4))
    response, _ = raw_grpc(receiver, request.SerializeToString())
    parsed = ExportTraceServiceResponse.FromString(response)
    assert parsed.partial_success.rejected_spans == 4
    assert "trace_id" in parsed.partial_success.error_message
    assert wait_for(lambda: count(receiver.engine, "spans") == 3)


def test_many_attributes_are_capped_with_a_warning(receiver):
    request = span_request(1)
    span = request.resource_spans[0].scope_spans[0].spans[0]
    span.attributes.extend(KeyValue(key=f"k{i}", value=AnyValue(int_value=i)) for i in range(100_000))
    response = http_post(receiver, request.SerializeToString())
    assert response.status_code == 200
    parsed = ExportTraceServiceResponse.FromString(response.content)
    assert parsed.partial_success.rejected_spans == 0 and "attributes" in parsed.partial_success.error_message
    assert wait_for(lambda: count(receiver.engine, "spans") == 1)
    assert scalar(receiver.engine, "select dropped_attributes_count from spans") == 100_000 - 1000


def test_nul_characters_are_stored(receiver):
    request = span_request(1, name="a\x00b")
    request.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="k", value=AnyValue(string_value="v\x00w"))
    assert http_post(receiver, request.SerializeToString()).status_code == 200
    assert wait_for(lambda: count(receiver.engine, "spans") == 1)
    assert scalar(receiver.engine, "select name from spans") == "a\\u0000b"


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, encoded by hand (the library refuses to build what we test)."""
    key, length, out = (number << 3) | 2, len(payload), bytearray()
    out.append(key)
    while True:
        byte, length = length & 0x7F, length >> 7
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out) + payload


def test_deep_nesting_is_invalid_argument(receiver):
    value = AnyValue(string_value="leaf").SerializeToString()
    for _ in range(200):
        value = _field(5, _field(1, value))  # AnyValue.array_value → ArrayValue.values
    span = span_request(1).resource_spans[0].scope_spans[0].spans[0].SerializeToString()
    span += _field(9, _field(1, b"deep") + _field(2, value))  # Span.attributes → KeyValue
    body = _field(1, _field(2, _field(2, span)))  # request → resource_spans → scope_spans → spans
    assert http_post(receiver, body).status_code == 400
    with pytest.raises(grpc.RpcError) as info:
        raw_grpc(receiver, body)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    still_serves(receiver)


def test_http_method_path_and_media_type(receiver):
    base = f"http://127.0.0.1:{receiver.http_port}"
    assert httpx.get(f"{base}/v1/traces").status_code == 405
    assert http_post(receiver, b"", path="/v2/nothing").status_code == 404
    assert http_post(receiver, b"x", content_type="text/plain").status_code == 415
    empty = http_post(receiver, ExportTraceServiceRequest().SerializeToString())
    assert empty.status_code == 200 and not ExportTraceServiceResponse.FromString(empty.content).HasField("partial_success")
    assert count(receiver.engine, "spans") == 0


def test_api_keys_required_when_configured(db_url, tmp_path):
    server = start_receiver(db_url, str(tmp_path / "spool"), api_keys=("s3cret-key",))
    try:
        spans = genai_spans(1)
        wrong = GrpcSpanExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True, timeout=3, headers={"authorization": "Bearer nope"})
        assert wrong.export(spans) == SpanExportResult.FAILURE
        assert http_post(server, span_request(1).SerializeToString()).status_code == 401
        assert http_post(server, span_request(1).SerializeToString(), **{"x-api-key": "wrong"}).status_code == 401
        with pytest.raises(grpc.RpcError) as info:
            raw_grpc(server, span_request(1).SerializeToString())
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert count(server.engine, "spans") == 0
        good = HttpSpanExporter(endpoint=f"http://127.0.0.1:{server.http_port}/v1/traces", headers={"x-api-key": "s3cret-key"})
        assert good.export(spans) == SpanExportResult.SUCCESS
        bearer = GrpcSpanExporter(endpoint=f"127.0.0.1:{server.grpc_port}", insecure=True, headers={"authorization": "Bearer s3cret-key"})
        assert bearer.export(genai_spans(1)) == SpanExportResult.SUCCESS
        assert wait_for(lambda: count(server.engine, "spans") == 8)
    finally:
        server.stop()


def test_full_spool_answers_retryably_with_retry_info(db_url, tmp_path):
    server = start_receiver(db_url, str(tmp_path / "spool"), spool_max_bytes=10)
    try:
        with pytest.raises(grpc.RpcError) as info:
            raw_grpc(server, span_request(1).SerializeToString())
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        trailers = dict(info.value.trailing_metadata())
        retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert retry.retry_delay.seconds >= 1
        assert "grpc-status-details-bin" in trailers
        response = http_post(server, span_request(1).SerializeToString())
        assert response.status_code == 503 and int(response.headers["Retry-After"]) >= 1
        # refused before it is decoded (L4: refusals stay cheap under overload)
        with pytest.raises(grpc.RpcError) as info:
            raw_grpc(server, b"\xff not protobuf")
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop()
