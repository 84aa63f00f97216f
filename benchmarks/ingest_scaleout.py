"""Scale-out ingest benchmark: N `agentotel receive` processes on one warehouse, each with its own spool, fed by
trace-id routing (every span of a trace to receiver crc32(trace id) % N, as an OTel Collector gateway's
`loadbalancing` exporter routes). Prints the combined rate (spans stored by all receivers / seconds from the
first send to the last span stored) next to one receiver's on the same input, with the load average.

The traces are benchmarks/ingest.py's; routing splits its requests by trace before the clock starts (a
Collector's work, not a receiver's). Bounded: a fixed number of spans and a time limit per run.

    .venv/bin/python benchmarks/ingest_scaleout.py [--receivers 2] [--spans 60000] [--db postgresql|sqlite] [--threads 4]
    (also: benchmarks/ingest.py --receivers 2)
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import grpc
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.ingest import (  # noqa: E402 - the traces, databases and receiver binary of the ingest benchmark
    AGENTOTEL,
    METHOD,
    TIME_LIMIT_S,
    build_requests,
    count_spans,
    free_port,
    fresh_database,
)


def route(body: bytes, receivers: int) -> dict[int, bytes]:
    """One request split by receiver: each span to receiver crc32(trace id) % ``receivers`` (resource and scope kept)."""
    request = ExportTraceServiceRequest.FromString(body)
    out: dict[int, ExportTraceServiceRequest] = {}
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            scopes: dict[int, ScopeSpans] = {}
            for span in ss.spans:
                index = zlib.crc32(span.trace_id) % receivers
                if index not in scopes:
                    target = out.setdefault(index, ExportTraceServiceRequest())
                    new_rs = target.resource_spans.add(resource=rs.resource, schema_url=rs.schema_url)
                    scopes[index] = new_rs.scope_spans.add(scope=ss.scope, schema_url=ss.schema_url)
                scopes[index].spans.append(span)
    return {index: r.SerializeToString() for index, r in out.items()}


def start_receiver(db_url: str, workdir: Path, index: int) -> tuple[subprocess.Popen, int]:
    grpc_port = free_port()
    spool = workdir / f"spool-{index}"
    log = open(workdir / f"receiver-{index}.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [str(AGENTOTEL), "--log-level", "WARNING", "receive", "--db", db_url, "--grpc-port", str(grpc_port),
         "--http-port", str(free_port()), "--metrics-port", str(free_port()), "--spool-dir", str(spool)],
        stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # one at a time: the first one migrates the warehouse
        if proc.poll() is not None:
            raise SystemExit(f"receiver {index} exited with {proc.returncode}: see {workdir / f'receiver-{index}.log'}")
        try:
            socket.create_connection(("127.0.0.1", grpc_port), 0.2).close()
            return proc, grpc_port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"receiver {index} did not listen within 60 s")


def run(db_url: str, requests: list[bytes], expected: int, receivers: int, threads: int) -> dict:
    routed: list[list[bytes]] = [[] for _ in range(receivers)]
    for body in requests:
        for index, part in route(body, receivers).items():
            routed[index].append(part)
    workdir = Path(tempfile.mkdtemp(prefix="agentotel-scaleout-"))
    procs: list[subprocess.Popen] = []
    peak_rss = 0
    try:
        ports = []
        for index in range(receivers):
            proc, port = start_receiver(db_url, workdir, index)
            procs.append(proc)
            ports.append(port)
        watched = [psutil.Process(p.pid) for p in procs]
        channels = [grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)])
                    for port in ports]  # fmt: skip
        per_receiver = max(1, threads // receivers)
        jobs = [(channels[i].unary_unary(METHOD), routed[i][t::per_receiver]) for i in range(receivers)
                for t in range(per_receiver)]  # fmt: skip
        errors: list[BaseException] = []

        def send(call, chunk: list[bytes]) -> None:
            try:
                for body in chunk:
                    for _attempt in range(50):
                        try:
                            call(body, timeout=30)
                            break
                        except grpc.RpcError as exc:
                            if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                                raise
                            time.sleep(0.5)
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        started = time.perf_counter()
        workers = [threading.Thread(target=send, args=job) for job in jobs]
        for w in workers:
            w.start()
        deadline = time.monotonic() + TIME_LIMIT_S
        stored = 0
        while time.monotonic() < deadline:
            peak_rss = max(peak_rss, sum(p.memory_info().rss for p in watched))
            if not any(w.is_alive() for w in workers):
                stored = count_spans(db_url)
                if stored >= expected or errors:
                    break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        cpu = sum(p.cpu_times().user + p.cpu_times().system for p in watched)
        for w in workers:
            w.join(timeout=1)
        for channel in channels:
            channel.close()
        if errors:
            raise SystemExit(f"a client failed: {errors[0]!r}")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    return {"stored": stored, "seconds": elapsed, "spans_per_s": stored / elapsed if elapsed else 0.0,
            "rss_mib": peak_rss / 2**20, "cpu_s": cpu}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--receivers", type=int, default=2)
    parser.add_argument("--spans", type=int, default=60_000)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    if args.receivers < 1 or args.spans < 1 or args.threads < 1:
        print("--receivers, --spans and --threads must be at least 1", file=sys.stderr)
        return 2
    requests = build_requests(args.spans, args.batch, random.Random(42))
    print(f"scale-out ingest: {args.spans} spans, requests of {args.batch} spans routed by trace id, OTLP/gRPC, "
          f"{args.threads} client threads, {os.cpu_count()} cores, {args.db}")  # fmt: skip
    print(f"{'receivers':<10}{'stored':>9}{'seconds':>9}{'spans/s':>10}{'RSS MiB':>9}{'CPU s':>7}  load average")
    for receivers in sorted({1, args.receivers}):
        url, cleanup = fresh_database(args.db)
        try:
            r = run(url, requests, args.spans, receivers, args.threads)
        finally:
            cleanup()
        load = " ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"{receivers:<10}{r['stored']:>9}{r['seconds']:>9.1f}{r['spans_per_s']:>10.0f}{r['rss_mib']:>9.0f}"
              f"{r['cpu_s']:>7.1f}  {load}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
