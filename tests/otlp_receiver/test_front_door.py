"""The asyncio front door (``otlp_receiver/front_door.py``): OTLP/HTTP bodies in every framing aiohttp
hands us, and admission under concurrent load on one event loop: every request is answered (acked or
refused retryably), nothing refused is stored and everything acked is."""

from __future__ import annotations

import base64
import gzip
import json
import threading
import zlib

import grpc
import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.otlp_receiver.support import count
from tests.otlp_receiver.test_bad_input import TRACE_METHOD, http_post, span_request
from tests.support.polling import wait_for
from tests.support.receiver import start_receiver


def test_chunked_deflate_and_gzipped_json_bodies(receiver):
    body = span_request(2).SerializeToString()
    pieces = (body[i : i + 100] for i in range(0, len(body), 100))  # no Content-Length: chunked framing
    chunked = httpx.post(
        f"http://127.0.0.1:{receiver.http_port}/v1/traces", content=pieces,
        headers={"Content-Type": "application/x-protobuf"}, timeout=10,
    )  # fmt: skip
    assert chunked.status_code == 200 and ExportTraceServiceResponse.FromString(chunked.content) == ExportTraceServiceResponse()
    assert http_post(receiver, zlib.compress(span_request(2).SerializeToString()), **{"Content-Encoding": "deflate"}).status_code == 200
    document = json_format.MessageToDict(span_request(2))
    for span in document["resourceSpans"][0]["scopeSpans"][0]["spans"]:  # OTLP/JSON ids are hex
        span["traceId"], span["spanId"] = base64.b64decode(span["traceId"]).hex(), base64.b64decode(span["spanId"]).hex()
    gz = http_post(receiver, gzip.compress(json.dumps(document).encode()), content_type="application/json", **{"Content-Encoding": "gzip"})
    assert gz.status_code == 200 and gz.json() == {}
    assert http_post(receiver, b"x", **{"Content-Encoding": "br"}).status_code == 400
    assert wait_for(lambda: count(receiver.engine, "spans") == 6)


@pytest.mark.slow
def test_concurrent_overload_refuses_retryably_and_stores_every_ack(db_url, tmp_path):
    bodies = [span_request(20).SerializeToString() for _ in range(40)]
    # room for about one request at a time: most of 40 simultaneous ones find the spool full
    server = start_receiver(db_url, str(tmp_path / "spool"), spool_max_bytes=int(len(bodies[0]) * 1.5))
    acked: list[int] = []
    refused: list[str] = []
    other: list[str] = []
    lock = threading.Lock()

    def via_grpc(body: bytes) -> None:
        try:
            with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                channel.unary_unary(TRACE_METHOD)(body, timeout=30)
            outcome = "ok"
        except grpc.RpcError as exc:
            trailers = dict(exc.trailing_metadata() or ())
            outcome = "refused" if exc.code() == grpc.StatusCode.UNAVAILABLE and "google.rpc.retryinfo-bin" in trailers else exc.code().name
        record(outcome)

    def via_http(body: bytes) -> None:
        response = http_post(server, body)
        if response.status_code == 200:
            record("ok")
        else:
            record("refused" if response.status_code == 503 and "Retry-After" in response.headers else str(response.status_code))

    def record(outcome: str) -> None:
        with lock:
            if outcome == "ok":
                acked.append(20)
            elif outcome == "refused":
                refused.append(outcome)
            else:
                other.append(outcome)

    try:
        threads = [threading.Thread(target=via_grpc if i % 2 else via_http, args=(b,)) for i, b in enumerate(bodies)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not other and len(acked) + len(refused) == len(bodies)
        assert acked and refused
        assert wait_for(lambda: count(server.engine, "spans") == sum(acked), timeout=30)
        assert wait_for(lambda: server.spool.pending_bytes() == 0)
        assert count(server.engine, "spans") == sum(acked)
    finally:
        server.stop()


def test_refusal_closes_the_connection_only_for_a_large_unread_body(receiver):
    small = http_post(receiver, b"x" * 1000, content_type="text/plain")
    large = http_post(receiver, b"x" * (2 << 20), content_type="text/plain")
    assert small.status_code == large.status_code == 415
    assert small.headers.get("Connection") != "close" and large.headers.get("Connection") == "close"


@pytest.mark.parametrize("path", ["/v1/traces", "/v1/logs"])
def test_head_and_put_are_405_with_allow(receiver, path):
    for method in ("HEAD", "PUT"):
        response = httpx.request(method, f"http://127.0.0.1:{receiver.http_port}{path}", timeout=5)
        assert response.status_code == 405 and response.headers["Allow"] == "POST"
