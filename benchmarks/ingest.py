"""End-to-end ingest benchmark: OTLP/gRPC batches → `agentotel receive` → committed warehouse rows.

Builds realistic GenAI traces (an agent span with LLM and tool children, ~15 attributes, 500-byte
captured content), sends batches of 512 spans over gRPC from 1 and 4 client threads, and prints spans/s
from first send to last commit, export latency percentiles and the receiver's peak RSS, on SQLite and
PostgreSQL. Bounded: a fixed number of spans and a time limit per run.

    .venv/bin/python benchmarks/ingest.py [--spans 100000] [--db sqlite|postgresql|both] [--threads 1,4]
    .venv/bin/python benchmarks/ingest.py --receivers 2 [...]   (benchmarks/ingest_scaleout.py: N receivers routed by trace id)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import grpc
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

ROOT = Path(__file__).resolve().parents[1]
AGENTOTEL = ROOT / ".venv" / "bin" / "agentotel"
METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PG_ADMIN = os.environ.get("AGENTOTEL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
CONTENT = ("The customer asked about order 1234 and the refund policy for damaged items. " * 8)[:500]
TIME_LIMIT_S = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kv(key: str, value) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def build_requests(total_spans: int, batch: int, rng: random.Random) -> list[bytes]:
    """Traces of 4 spans (agent → chat, execute_tool, chat), packed into requests of ``batch`` spans."""
    t0 = time.time_ns() - 3_600 * 10**9
    requests: list[bytes] = []
    request = ExportTraceServiceRequest()
    scope = None
    in_request = 0
    made = 0
    while made < total_spans:
        if scope is None:
            rs = request.resource_spans.add()
            rs.resource.attributes.extend([kv("service.name", "bench-agent"), kv("service.version", "1.4.2"),
                                           kv("deployment.environment", "bench")])  # fmt: skip
            scope = rs.scope_spans.add()
            scope.scope.name = "agentotel.instrumentation.openai"
        trace_id = rng.randbytes(16)
        ids = [rng.randbytes(8) for _ in range(4)]
        start = t0 + made * 1000
        agent_attrs = [kv("gen_ai.operation.name", "invoke_agent"), kv("gen_ai.agent.name", f"agent-{made % 7}"),
                       kv("gen_ai.agent.id", "a-1"), kv("gen_ai.conversation.id", f"conv-{made % 1000}"),
                       kv("user.id", "u-1"), kv("gen_ai.input.messages", CONTENT)]  # fmt: skip
        spans = [(ids[0], b"", "invoke_agent support", 1, agent_attrs, 0, 900)]
        for i, (sid, s0, s1) in enumerate(((ids[1], 10, 300), (ids[3], 510, 890))):
            attrs = [kv("gen_ai.operation.name", "chat"), kv("gen_ai.provider.name", "openai"),
                     kv("gen_ai.request.model", "gpt-4o-mini"), kv("gen_ai.response.model", "gpt-4o-mini-2024-07-18"),
                     kv("gen_ai.request.temperature", 0.2), kv("gen_ai.request.max_tokens", 512),
                     kv("gen_ai.usage.input_tokens", 100 + i), kv("gen_ai.usage.output_tokens", 20 + i),
                     kv("gen_ai.response.id", "chatcmpl-" + str(made)), kv("server.address", "api.openai.com"),
                     kv("server.port", 443), kv("gen_ai.response.finish_reasons", "stop"),
                     kv("gen_ai.output.messages", CONTENT), kv("gen_ai.request.stream", False),
                     kv("gen_ai.usage.cache_read.input_tokens", 0)]  # fmt: skip
            spans.append((sid, ids[0], "chat gpt-4o-mini", 3, attrs, s0, s1))
        tool_attrs = [kv("gen_ai.operation.name", "execute_tool"), kv("gen_ai.tool.name", "lookup_order"),
                      kv("gen_ai.tool.call.id", "call_" + str(made)), kv("gen_ai.tool.type", "function")]  # fmt: skip
        spans.append((ids[2], ids[0], "execute_tool lookup_order", 1, tool_attrs, 310, 500))
        for sid, parent, name, kind, attrs, s0, s1 in spans:
            span = scope.spans.add(trace_id=trace_id, span_id=sid, parent_span_id=parent, name=name, kind=kind,
                                   start_time_unix_nano=start + s0 * 10**6, end_time_unix_nano=start + s1 * 10**6)  # fmt: skip
            span.attributes.extend(attrs)
            made += 1
            in_request += 1
        if in_request >= batch or made >= total_spans:
            requests.append(request.SerializeToString())
            request = ExportTraceServiceRequest()
            scope = None
            in_request = 0
    return requests


def count_spans(db_url: str) -> int:
    if db_url.startswith("sqlite"):
        try:
            with sqlite3.connect(f"file:{db_url[len('sqlite:///'):]}?mode=ro", uri=True, timeout=5) as conn:
                return conn.execute("select count(*) from spans").fetchone()[0]
        except sqlite3.Error:
            return 0
    import psycopg

    with psycopg.connect(db_url.replace("postgresql+psycopg", "postgresql"), connect_timeout=5) as conn:
        return conn.execute("select count(*) from spans").fetchone()[0]


def run_once(db_url: str, requests: list[bytes], expected: int, threads: int, project: str | None = None) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="agentotel-bench-"))
    metadata: tuple[tuple[str, str], ...] = ()
    if project:  # send with an ingest key of this project (issue 20: the cost of projects)
        made = subprocess.run([str(AGENTOTEL), "keys", "create", "--project", project, "--scope", "ingest", "--db", db_url],
                              capture_output=True, text=True, check=True)  # fmt: skip
        metadata = (("authorization", f"Bearer {made.stdout.split()[-1]}"),)
    grpc_port, http_port, metrics_port = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [str(AGENTOTEL), "--log-level", "WARNING", "receive", "--db", db_url, "--grpc-port", str(grpc_port),
         "--http-port", str(http_port), "--metrics-port", str(metrics_port), "--spool-dir", str(workdir / "spool")],
        stdout=subprocess.DEVNULL, stderr=open(workdir / "receiver.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    ps = psutil.Process(proc.pid)
    peak_rss = 0
    latencies: list[float] = []
    lock = threading.Lock()
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=[("grpc.max_send_message_length", 64 << 20)])
        grpc.channel_ready_future(channel).result(timeout=60)
        call = channel.unary_unary(METHOD)
        chunks = [requests[i::threads] for i in range(threads)]

        def send(chunk: list[bytes]) -> None:
            for body in chunk:
                for _attempt in range(50):
                    t = time.perf_counter()
                    try:
                        call(body, timeout=30, metadata=metadata)
                    except grpc.RpcError as exc:
                        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                            time.sleep(0.5)
                            continue
                        raise
                    with lock:
                        latencies.append(time.perf_counter() - t)
                    break

        started = time.perf_counter()
        workers = [threading.Thread(target=send, args=(c,)) for c in chunks]
        for w in workers:
            w.start()
        deadline = time.monotonic() + TIME_LIMIT_S
        while any(w.is_alive() for w in workers) and time.monotonic() < deadline:
            peak_rss = max(peak_rss, ps.memory_info().rss)
            time.sleep(0.1)
        for w in workers:
            w.join(timeout=max(0.0, deadline - time.monotonic()))
        acked = time.perf_counter() - started
        stored = 0
        while time.monotonic() < deadline:
            peak_rss = max(peak_rss, ps.memory_info().rss)
            stored = count_spans(db_url)
            if stored >= expected:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = ps.cpu_times()
        channel.close()
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    latencies.sort()
    return {
        "stored": stored,
        "seconds": elapsed,
        "spans_per_s": stored / elapsed if elapsed else 0.0,
        "acked_per_s": expected / acked if acked else 0.0,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan"),
        "peak_rss_mib": peak_rss / 2**20,
        "cpu_s": cpu.user + cpu.system,
    }


def fresh_database(kind: str) -> tuple[str, callable]:
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="agentotel-bench-db-"))
        return f"sqlite:///{directory}/bench.db", lambda: shutil.rmtree(directory, ignore_errors=True)
    import psycopg

    name = f"agentotel_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0]

    def drop() -> None:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def main() -> int:
    if any(arg.startswith("--receivers") for arg in sys.argv[1:]):  # N receivers on one warehouse, routed by trace id
        sys.path.insert(0, str(ROOT))
        from benchmarks.ingest_scaleout import main as scale_out

        return scale_out(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--threads", default="1,4")
    parser.add_argument("--project", help="send with an ingest key of this project (default: no key, project default)")
    args = parser.parse_args()
    rng = random.Random(42)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"ingest benchmark: {args.spans} spans per run, batches of {args.batch}, OTLP/gRPC, {os.cpu_count()} cores")
    print(f"{'db':<11}{'threads':>8}{'stored':>9}{'spans/s':>10}{'acked/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'RSS MiB':>9}{'CPU s':>7}")
    for kind in kinds:
        for threads in (int(t) for t in args.threads.split(",")):
            requests = build_requests(args.spans, args.batch, rng)
            url, cleanup = fresh_database(kind)
            try:
                r = run_once(url, requests, args.spans, threads, args.project)
            finally:
                cleanup()
            print(f"{kind:<11}{threads:>8}{r['stored']:>9}{r['spans_per_s']:>10.0f}{r['acked_per_s']:>10.0f}"
                  f"{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['peak_rss_mib']:>9.0f}{r['cpu_s']:>7.1f}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
