"""RELIABILITY.md §4: TLS versions and plaintext refused, loopback by default; §5 concurrent duplicates;
B5 long strings truncated and flagged; B6 invalid UTF-8 rejected with a clear message."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading

import grpc
import httpx
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from agentotel.core.settings import ReceiverSettings
from tests.otlp_receiver.support import count, genai_spans, scalar
from tests.otlp_receiver.test_bad_input import TRACE_METHOD, http_post, span_request
from tests.support.polling import wait_for
from tests.support.receiver import start_receiver


@pytest.fixture
def certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def handshake(port: int, version: ssl.TLSVersion, cafile: str) -> str:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile)
    context.minimum_version = context.maximum_version = version
    try:
        with socket.create_connection(("127.0.0.1", port), 5) as raw, context.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.version() or "?"
    except (ssl.SSLError, OSError) as exc:
        return f"refused: {type(exc).__name__}"


@pytest.mark.slow
def test_tls_only_modern_versions_and_no_plaintext(tmp_path, certificate):
    cert, key = certificate
    url = f"sqlite:///{tmp_path}/wh.db"
    server = start_receiver(url, str(tmp_path / "spool"), tls_cert=cert, tls_key=key)
    try:
        for port in (server.http_port, server.grpc_port):
            assert handshake(port, ssl.TLSVersion.TLSv1_2, cert) == "TLSv1.2"
            assert handshake(port, ssl.TLSVersion.TLSv1_3, cert) == "TLSv1.3"
        # the host OpenSSL may refuse to even offer TLS 1.0/1.1 itself; either way no session is made
        for port in (server.http_port, server.grpc_port):
            for old in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
                assert handshake(port, old, cert).startswith("refused")
        with pytest.raises(httpx.HTTPError):
            httpx.post(f"http://127.0.0.1:{server.http_port}/v1/traces", content=b"", timeout=3)
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        body = encode_spans(genai_spans(1)).SerializeToString()
        assert ExportTraceServiceRequest.FromString(body).resource_spans
        response = httpx.post(
            f"https://127.0.0.1:{server.http_port}/v1/traces", content=body, verify=ssl.create_default_context(cafile=cert),
            headers={"Content-Type": "application/x-protobuf"}, timeout=5,
        )  # fmt: skip
        assert response.status_code == 200
        with open(cert, "rb") as fh:
            credentials = grpc.ssl_channel_credentials(fh.read())
        grpc_exporter = GrpcSpanExporter(endpoint=f"localhost:{server.grpc_port}", credentials=credentials, timeout=5)
        assert grpc_exporter.export(genai_spans(1)) == SpanExportResult.SUCCESS
        assert wait_for(lambda: count(server.engine, "spans") == 8)
    finally:
        server.stop()


def test_listens_on_loopback_by_default(tmp_path):
    assert ReceiverSettings().host == "127.0.0.1"
    server = start_receiver(f"sqlite:///{tmp_path}/wh.db", str(tmp_path / "spool"))
    try:
        assert server.front_door.http.addresses[0][0] == "127.0.0.1"
        assert server.metrics_server.host == "127.0.0.1"
    finally:
        server.stop()


def test_same_batch_on_twenty_connections_makes_no_duplicates(receiver):
    server = receiver
    body = span_request(50).SerializeToString()
    errors = []

    def send() -> None:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                channel.unary_unary(TRACE_METHOD)(body, timeout=10)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert wait_for(lambda: server.spool.pending_bytes() == 0)
    assert count(server.engine, "spans") == 50


def test_long_strings_are_truncated_and_flagged(db_url, tmp_path):
    server = start_receiver(db_url, str(tmp_path / "spool"), max_attribute_length=1024)
    try:
        request = span_request(1)
        request.resource_spans[0].scope_spans[0].spans[0].attributes.add(key="gen_ai.input.messages").value.string_value = "y" * 100_000
        assert http_post(server, request.SerializeToString()).status_code == 200
        assert wait_for(lambda: count(server.engine, "spans") == 1)
        attributes = scalar(server.engine, "select attributes from spans")
        import json

        attributes = json.loads(attributes) if isinstance(attributes, str) else attributes
        assert len(attributes["gen_ai.input.messages"]) == 1024
        assert attributes["agentotel.truncated_attributes"] == ["gen_ai.input.messages"]
    finally:
        server.stop()


def test_invalid_utf8_drops_only_that_span(receiver):
    """B6, the better form: the span with invalid UTF-8 is rejected through partial_success, the rest kept."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    server = receiver
    request = span_request(3)
    request.resource_spans[0].scope_spans[0].spans[1].name = "abc"
    body = request.SerializeToString().replace(b"abc", b"a\xffc")
    response = http_post(server, body)
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1 and "UTF-8" in partial.error_message
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        answer = ExportTraceServiceResponse.FromString(channel.unary_unary(TRACE_METHOD)(body, timeout=5))
    assert answer.partial_success.rejected_spans == 1
    assert wait_for(lambda: count(server.engine, "spans") == 2)  # the same two good spans, sent twice
    # a request that is not protobuf at all is still refused whole
    assert http_post(server, b"\xff\xfe garbage").status_code == 400


@pytest.mark.slow
def test_no_key_material_in_logs(db_url, tmp_path, caplog):
    server = start_receiver(db_url, str(tmp_path / "spool"), api_keys=("top-secret-key-123",))
    try:
        with caplog.at_level("DEBUG"):
            for _ in range(50):
                http_post(server, span_request(1).SerializeToString(), authorization="Bearer wrong-key-456")
        assert "top-secret-key-123" not in caplog.text and "wrong-key-456" not in caplog.text
        assert os.environ.get("AGENTOTEL_API_KEYS") is None
    finally:
        server.stop()
