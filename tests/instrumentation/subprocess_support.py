"""Running instrumentation scenarios in child processes (global providers, exits, forks) and OTLP sinks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import entry_points
from pathlib import Path

from tests.support.priority import run_ahead

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 60) -> tuple[dict, float]:
    """Run ``code`` in a fresh interpreter; it prints one JSON line last. Returns (that JSON, exit time).

    The exit time is measured from the child's ``MARK`` line (printed by ``mark()`` in the child) to
    the moment the process has exited.
    """
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    for name in list(full_env):  # the child sees only the OTEL_* settings the test gives it
        if name.startswith("OTEL_") and name not in (env or {}):
            del full_env[name]
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=full_env, cwd=str(ROOT), start_new_session=True)
    run_ahead(proc.pid)  # its exit time is held to H4's 5 s
    mark_at = None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("MARK"):
            mark_at = time.monotonic()
        else:
            lines.append(line)
        if time.monotonic() > deadline:
            break
    try:
        proc.wait(max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"child did not exit in {timeout}s") from None
    exited_at = time.monotonic()
    stderr = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{stderr[-4000:]}"
    result = json.loads(lines[-1]) if lines else {}
    result["_stderr"] = stderr
    return result, (exited_at - mark_at) if mark_at is not None else float("nan")


def run_opentelemetry_instrument(app: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """``opentelemetry-instrument python app`` as a user runs it, with no code change: only our instrumentors
    (another package's, e.g. a benchmark peer when installed, are disabled) and no exporters of its own."""
    cli = ROOT / ".venv" / "bin" / "opentelemetry-instrument"
    if not cli.exists():
        cli = ROOT / "bin" / "opentelemetry-instrument"
    others = ",".join(ep.name for ep in entry_points(group="opentelemetry_instrumentor")
                      if not ep.name.startswith("agentotel"))
    return subprocess.run([str(cli), sys.executable, str(app)], capture_output=True, text=True, timeout=timeout,
                          cwd=str(ROOT), env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                                              "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": others,
                                              "OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
                                              "OTEL_LOGS_EXPORTER": "none"})


CHILD_PRELUDE = """
import json, sys, time
def mark():
    print("MARK", flush=True)
"""


class BlackHole:
    """A TCP port that accepts connections (kernel backlog) but never reads or answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


class SlowGRPCSink:
    """An OTLP/gRPC endpoint that takes every export call and answers it (an empty, successful response) only
    after ``delay`` seconds, or at ``close()``."""

    def __init__(self, delay: float = 10.0) -> None:
        from concurrent import futures

        import grpc

        self._release = threading.Event()
        self.calls = 0
        release, sink = self._release, self

        def answer(request: bytes, context) -> bytes:
            sink.calls += 1
            release.wait(delay)
            return b""

        class Handler(grpc.GenericRpcHandler):
            def service(self, handler_call_details):
                return grpc.unary_unary_rpc_method_handler(answer)  # raw bytes in and out

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers((Handler(),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._release.set()
        self.server.stop(0)


def _attrs(items) -> dict:
    return {kv.key: kv.value.WhichOneof("value") and getattr(kv.value, kv.value.WhichOneof("value")) for kv in items}


class OTLPHTTPSink:
    """A minimal OTLP/HTTP sink: decodes protobuf trace and log requests; records spans and log records.

    ``status`` (default 200) and ``delay`` (seconds before answering) simulate failing/slow backends.
    """

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self.spans: list[dict] = []
        self.logs: list[dict] = []
        self.requests = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.requests += 1
                if sink.delay:
                    time.sleep(sink.delay)
                if self.path == "/v1/traces" and sink.status == 200:
                    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
                        ExportTraceServiceRequest,
                    )

                    request = ExportTraceServiceRequest.FromString(body)
                    for rs in request.resource_spans:
                        for ss in rs.scope_spans:
                            for span in ss.spans:
                                sink.spans.append({"name": span.name, "attributes": _attrs(span.attributes),
                                                   "scope": ss.scope.name, "trace_id": span.trace_id.hex(),
                                                   "span_id": span.span_id.hex()})
                if self.path == "/v1/logs" and sink.status == 200:
                    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
                        ExportLogsServiceRequest,
                    )

                    request = ExportLogsServiceRequest.FromString(body)
                    for rl in request.resource_logs:
                        for sl in rl.scope_logs:
                            for record in sl.log_records:
                                sink.logs.append({"event_name": record.event_name, "scope": sl.scope.name,
                                                  "attributes": _attrs(record.attributes),
                                                  "trace_id": record.trace_id.hex(), "span_id": record.span_id.hex()})
                self.send_response(sink.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
