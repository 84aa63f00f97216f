"""RELIABILITY.md §1 load scenarios against a real `agentotel receive` subprocess (OTLP/gRPC, 100-span
requests of GenAI agent traces), each bounded in count and time:

    rate     L1/L2/L3: a constant offered rate for a duration; prints sent, acked, stored, Export latency,
             receiver CPU and RSS (and RSS growth after minute 5 for a soak)
    overload L4: a multiple of the rate for a duration with a small spool; every refused request must be
             answered UNAVAILABLE (+RetryInfo) within 1 s and, retried by the client, land
    prober   L6: one trace per second, read back by id 2 s later; counts notfound / missingspans /
             incorrectresult

    .venv/bin/python benchmarks/load.py rate --rate 10000 --seconds 15 [--db sqlite|postgresql]
    .venv/bin/python benchmarks/load.py overload --rate 30000 --seconds 60
    .venv/bin/python benchmarks/load.py prober --seconds 600
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import grpc
import httpx
import psutil
from google.rpc import error_details_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.ingest import AGENTOTEL, METHOD, build_requests, count_spans, free_port, fresh_database  # noqa: E402

BATCH = 100
# what the OTel Python exporter retries (semconv.md §4), RESOURCE_EXHAUSTED included: grpc's own
# concurrent-RPC limit answers with it
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.CANCELLED, grpc.StatusCode.ABORTED}  # fmt: skip


class Receiver:
    """`agentotel receive` on free loopback ports, its process sampled for CPU and RSS."""

    def __init__(self, db_url: str, spool_max_bytes: int | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="agentotel-load-"))
        self.grpc_port, self.metrics_port = free_port(), free_port()
        argv = [str(AGENTOTEL), "--log-level", "WARNING", "receive", "--db", db_url, "--grpc-port", str(self.grpc_port),
                "--http-port", str(free_port()), "--metrics-port", str(self.metrics_port), "--spool-dir", str(self.dir / "spool")]  # fmt: skip
        if spool_max_bytes:
            argv += ["--spool-max-bytes", str(spool_max_bytes)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=open(self.dir / "log", "w"))  # noqa: SIM115
        self.ps = psutil.Process(self.proc.pid)
        self.rss: list[tuple[float, int]] = []
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        grpc.channel_ready_future(self.channel).result(timeout=180)  # a loaded 2-core machine can take over a minute to start it
        self.call = self.channel.unary_unary(METHOD)
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(1.0):
            try:
                self.rss.append((time.monotonic() - started, self.ps.memory_info().rss))
            except psutil.Error:
                return

    def written(self, signal: str = "traces") -> int:
        """Items the receiver has committed to the warehouse (its ``agentotel_receiver_written_total``): a
        progress probe that costs the database nothing (counting rows of a large table scans it)."""
        return written_total(self.metrics_port, signal)

    def stop(self) -> float:
        cpu = self.ps.cpu_times()
        self._stop.set()
        self.channel.close()
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return cpu.user + cpu.system


def written_total(metrics_port: int, signal: str = "traces") -> int:
    """``agentotel_receiver_written_total{signal=…}`` from a receiver's /metrics (0 before its first write)."""
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    prefix = f'agentotel_receiver_written_total{{signal="{signal}"}} '
    return next((int(float(line[len(prefix):])) for line in text.splitlines() if line.startswith(prefix)), 0)


def retry_delay(error: grpc.RpcError) -> float | None:
    """The delay a refusal asks for (``google.rpc.RetryInfo`` in the trailing metadata), if any."""
    for key, value in error.trailing_metadata() or ():
        if key == "google.rpc.retryinfo-bin":
            info = error_details_pb2.RetryInfo.FromString(value)
            return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return None


def send_at_rate(
    receiver: Receiver, requests: Iterable[bytes], rate: float, seconds: float, retry: bool, retry_for: float = 600
) -> dict:
    """Offer ``rate`` spans/s for ``seconds``; returns counts and latencies (refusals retried if ``retry``).

    Calls are asynchronous (``call.future``: no thread per request, so thousands of requests waiting to be
    retried cost the client nothing while they wait); retries wait as a Collector's ``retry_on_failure``
    does: the longer of the server's RetryInfo and an exponential back-off (1 s doubling to 32 s), with
    ±20 % jitter, at most 200 attempts, all within ``retry_for`` s after the offered load stops."""
    interval = BATCH / rate
    latencies: list[float] = []
    refusals: list[float] = []
    codes: dict[str, int] = {}
    counts = {"sent": 0, "acked": 0, "outstanding": 0, "failed": 0}
    due: list[tuple[float, int, bytes, int, float]] = []  # (when, sequence, body, attempt, back-off)
    order = itertools.count()
    lock = threading.Lock()

    def start(body: bytes, attempt: int, backoff: float) -> None:
        started = time.perf_counter()
        future = receiver.call.future(body, timeout=30)
        future.add_done_callback(lambda f: finished(f, body, attempt, backoff, started))

    def finished(future: grpc.Future, body: bytes, attempt: int, backoff: float, started: float) -> None:
        elapsed = time.perf_counter() - started
        error = future.exception()
        with lock:
            if error is None:
                latencies.append(elapsed)
                counts["acked"] += BATCH
                counts["outstanding"] -= 1
                return
            refusals.append(elapsed)
            code = error.code()  # type: ignore[attr-defined]
            codes[code.name] = codes.get(code.name, 0) + 1
            if retry and code in RETRYABLE and attempt < 200:
                delay = max(retry_delay(error) or 0.0, backoff) * random.uniform(0.8, 1.2)  # type: ignore[arg-type]
                heapq.heappush(due, (time.monotonic() + delay, next(order), body, attempt + 1, min(backoff * 2, 32.0)))
            else:
                counts["outstanding"] -= 1
                counts["failed"] += 1

    pending = iter(requests)
    deadline = time.monotonic() + seconds
    give_up = deadline + retry_for
    next_at = time.monotonic()
    load_at_end = ""
    while True:
        now = time.monotonic()
        if now >= deadline and not load_at_end:
            load_at_end = _load()
        if now < deadline and now >= next_at:
            body = next(pending, None)
            if body is None:
                deadline = now
                continue
            with lock:
                counts["sent"] += BATCH
                counts["outstanding"] += 1
            start(body, 0, 1.0)
            next_at += interval
            continue
        with lock:
            ready = []
            while due and due[0][0] <= now:
                ready.append(heapq.heappop(due))
            outstanding = counts["outstanding"]
            wake = due[0][0] if due else now + 0.05
        for _, _, body, attempt, backoff in ready:
            start(body, attempt, backoff)
        if now >= deadline and (outstanding == 0 or now >= give_up):
            break
        if now < deadline:
            wake = min(wake, next_at)
        time.sleep(min(max(0.0, wake - time.monotonic()), 0.05))
    latencies.sort()
    return {"sent": counts["sent"], "acked": counts["acked"], "refusals": refusals, "unresolved": counts["outstanding"],
            "failed": counts["failed"], "codes": codes, "load_at_end": load_at_end,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")}  # fmt: skip


def wait_stored(db_url: str, expected: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    stored = 0
    while time.monotonic() < deadline:
        stored = count_spans(db_url)
        if stored >= expected:
            break
        time.sleep(0.2)
    return stored


def rate_mode(args, db_url: str) -> None:
    rng = random.Random(1)
    count = int(args.rate * args.seconds / BATCH) + 1
    if count <= 5_000:  # built up front: the sending loop stays cheap
        requests = build_requests(count * BATCH, BATCH, rng)
    else:  # a soak: built as they are sent, so the client's memory stays flat
        requests = (build_requests(BATCH, BATCH, rng)[0] for _ in range(count))
    receiver = Receiver(db_url)
    try:
        result = send_at_rate(receiver, requests, args.rate, args.seconds, retry=False)
        stored = wait_stored(db_url, result["acked"], timeout=600)
    finally:
        cpu = receiver.stop()
    late = [rss for t, rss in receiver.rss if t >= 300]
    growth = ((late[-1] - late[0]) / 2**20) / ((len(late) - 1) / 60) if len(late) > 60 else float("nan")
    print(f"rate {args.rate:.0f} spans/s for {args.seconds:.0f} s: sent {result['sent']}, acked {result['acked']}, "
          f"stored {stored}, missing {result['acked'] - min(stored, result['acked'])}, p99 Export {result['p99_ms']:.0f} ms, "
          f"refused {len(result['refusals'])}, receiver CPU {cpu:.1f} s, peak RSS "
          f"{max(r for _, r in receiver.rss) / 2**20:.0f} MiB, RSS growth after minute 5 {growth:.2f} MiB/min, "
          f"load average {_load()}")  # fmt: skip


def answer_times(port: int, body: bytes, seconds: float, interval: float = 0.2) -> list[tuple[str, float]]:
    """In its own process (free of the load generator's threads): one Export every ``interval`` s,
    without retry; returns (status, seconds to the answer) for each — the server's responsiveness."""
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    call = channel.unary_unary(METHOD)
    out: list[tuple[str, float]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            call(body, timeout=30)
            code = "OK"
        except grpc.RpcError as exc:
            code = exc.code().name
        out.append((code, time.perf_counter() - started))
        time.sleep(interval)
    channel.close()
    return out


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _percentiles(values: list[float]) -> str:
    if not values:
        return "none"
    values = sorted(values)
    return (f"p50 {values[len(values) // 2] * 1000:.0f} ms, p99 {values[max(0, int(len(values) * 0.99) - 1)] * 1000:.0f} ms, "
            f"max {values[-1] * 1000:.0f} ms")  # fmt: skip


def overload_mode(args, db_url: str) -> None:
    requests = build_requests(int(args.rate * args.seconds) + BATCH, BATCH, random.Random(2))
    receiver = Receiver(db_url, spool_max_bytes=args.spool_mib * 2**20)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        try:
            probe = pool.apply_async(answer_times, (receiver.grpc_port, requests[0], args.seconds))
            result = send_at_rate(receiver, requests, args.rate, args.seconds, retry=True, retry_for=args.retry_for)
            probed = probe.get(timeout=args.seconds + 120)
            stored = wait_stored(db_url, result["acked"], timeout=900)
        finally:
            cpu = receiver.stop()
    refused = [t for code, t in probed if code != "OK"]
    print(f"overload {args.rate:.0f} spans/s for {args.seconds:.0f} s, spool {args.spool_mib} MiB: sent {result['sent']}, "
          f"acked after retries {result['acked']} ({result['unresolved']} requests still retrying at the limit, "
          f"{result['failed']} given up), "
          f"stored {stored}, refusals {len(result['refusals'])} {result['codes']}\n"
          f"  refusal answer time seen by the load generator: {_percentiles(result['refusals'])}\n"
          f"  seen by a separate prober process: {len(refused)} of {len(probed)} probes refused, answered in "
          f"{_percentiles(refused)} (accepted: {_percentiles([t for code, t in probed if code == 'OK'])})\n"
          f"  receiver CPU {cpu:.1f} s, peak RSS {max(r for _, r in receiver.rss) / 2**20:.0f} MiB; load average at the "
          f"end of the offered load {result['load_at_end']}, now {_load()}")  # fmt: skip


def prober_mode(args, db_url: str) -> None:
    import psycopg

    receiver = Receiver(db_url)
    counts = {"written": 0, "notfound": 0, "missingspans": 0, "incorrectresult": 0}
    rng = random.Random(3)
    pending: list[tuple[float, bytes, set[str]]] = []
    deadline = time.monotonic() + args.seconds
    try:
        while time.monotonic() < deadline or pending:
            now = time.monotonic()
            if now < deadline:
                body = build_requests(4, 4, rng)[0]
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

                request = ExportTraceServiceRequest.FromString(body)
                spans = request.resource_spans[0].scope_spans[0].spans
                receiver.call(body, timeout=10)
                counts["written"] += 1
                pending.append((now + 2.0, spans[0].trace_id.hex().encode(), {s.span_id.hex() for s in spans}))
            while pending and pending[0][0] <= time.monotonic():
                _, trace_id, span_ids = pending.pop(0)
                rows = _read_trace(db_url, trace_id.decode(), psycopg)
                if not rows:
                    counts["notfound"] += 1
                elif set(rows) != span_ids:
                    counts["missingspans" if set(rows) < span_ids else "incorrectresult"] += 1
            time.sleep(max(0.0, 1.0 - (time.monotonic() - now)))
    finally:
        receiver.stop()
    print(f"prober for {args.seconds:.0f} s: {counts}")


def _read_trace(db_url: str, trace_id: str, psycopg) -> list[str]:
    if db_url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(f"file:{db_url[len('sqlite:///'):]}?mode=ro", uri=True, timeout=5) as conn:
            return [r[0] for r in conn.execute("select span_id from spans where trace_id = ?", (trace_id,))]
    with psycopg.connect(db_url, connect_timeout=5) as conn:
        return [r[0] for r in conn.execute("select span_id from spans where trace_id = %s", (trace_id,))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["rate", "overload", "prober"])
    parser.add_argument("--rate", type=float, default=10_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--spool-mib", type=int, default=64)
    parser.add_argument("--retry-for", type=float, default=600, help="overload: seconds the clients keep retrying after the load stops")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    url, cleanup = fresh_database(args.db)
    try:
        {"rate": rate_mode, "overload": overload_mode, "prober": prober_mode}[args.mode](args, url)
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
