"""End-to-end ingest benchmark: OTLP/gRPC batches → `agentotel receive` → committed warehouse rows.

Builds realistic GenAI traces (an agent span with LLM and tool children, ~15 attributes, 500-byte
captured content) whose start times spread over ``--minutes`` minutes (so the per-minute rollup refresh
runs inside the timed window), sends batches of 512 spans over gRPC from 1 and 4 client threads, and
prints, on SQLite and PostgreSQL:

- stored spans/s: first send → every row of spans, llm_calls, tool_calls and agent_executions queryable;
- rolled-up s: first send → the rollups count every call and execution (the refresh runs every 5 s);
- the receiver's CPU µs per span (measured once rolled up: includes the refresh), peak RSS, Export p50/p99;
- the floor measured in the same run: the same rows written again into an empty migrated warehouse by
  the writer's own statements (SQLite: ``INSERT … ON CONFLICT DO NOTHING``, one transaction per
  ``--batch``-span chunk; PostgreSQL: ``COPY`` of each table's rows), as spans/s, and the ratio to it;
- the load average before and after each run (the machine is shared: compare CPU µs/span across runs).

Bounded: a fixed number of spans and a time limit per run.

    .venv/bin/python benchmarks/ingest.py [--spans 100000] [--minutes 10] [--db sqlite|postgresql|both]
        [--threads 1,4] [--no-floor]
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
from collections.abc import Callable
from pathlib import Path

import grpc
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from agentotel.warehouse.engine import SQLITE_PRAGMAS

ROOT = Path(__file__).resolve().parents[1]
AGENTOTEL = ROOT / ".venv" / "bin" / "agentotel"
METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PG_ADMIN = os.environ.get("AGENTOTEL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
CONTENT = ("The customer asked about order 1234 and the refund policy for damaged items. " * 8)[:500]
TIME_LIMIT_S = int(os.environ.get("AGENTOTEL_BENCH_TIME_LIMIT", "300"))


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


def build_requests(total_spans: int, batch: int, rng: random.Random, minutes: float = 10.0) -> list[bytes]:
    """Traces of 4 spans (agent → chat, execute_tool, chat), packed into requests of ``batch`` spans; trace
    starts spread evenly over ``minutes`` minutes (ending an hour ago)."""
    t0 = time.time_ns() - 3_600 * 10**9 - int(minutes * 60 * 10**9)
    step = max(1000, int(minutes * 60 * 10**9) // max(total_spans, 1))
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
        start = t0 + made * step
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


TABLES = ("spans", "llm_calls", "tool_calls", "agent_executions")
TOTAL = "\x01*"  # warehouse.rollups.TOTAL: the dimension value of the per-bucket total rows
COUNTS = (  # the rollups' minute rows (width_s 60) other than the totals count each call and execution once
    "select (select count(*) from spans), (select count(*) from llm_calls), (select count(*) from tool_calls),"
    " (select count(*) from agent_executions)"
    + "".join(
        f", (select coalesce(sum(count), 0) from {table} where width_s = 60 and agent_name <> '{TOTAL}')"
        for table in ("rollup_llm", "rollup_tools", "rollup_executions")
    )
)


def counts(db_url: str) -> tuple[int, ...]:
    """Rows of spans, llm_calls, tool_calls, agent_executions; calls and executions counted by the rollups."""
    return _first_row(db_url, COUNTS) or (0,) * 7


def count_spans(db_url: str) -> int:
    """Rows of ``spans`` (one count, not the seven of ``counts``)."""
    return int((_first_row(db_url, "select count(*) from spans") or (0,))[0])


def _first_row(db_url: str, sql: str) -> tuple | None:
    """The first row of ``sql`` on the warehouse, read-only; None before it is migrated."""
    try:
        if db_url.startswith("sqlite"):
            with sqlite3.connect(f"file:{db_url[len('sqlite:///'):]}?mode=ro", uri=True, timeout=5) as conn:
                return tuple(conn.execute(sql).fetchone())
        import psycopg

        with psycopg.connect(db_url.replace("postgresql+psycopg", "postgresql"), connect_timeout=5) as conn:
            return tuple(conn.execute(sql).fetchone())  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - not migrated yet
        return None


def expected_counts(spans: int) -> tuple[int, int, int, int]:
    """Rows per table for ``spans`` spans of 4-span traces (agent, chat, tool, chat; the last may be cut)."""
    whole, rest = divmod(spans, 4)
    llm = 2 * whole + (rest >= 2) + (rest >= 4)
    tool = whole + (rest >= 3)
    return spans, llm, tool, whole + (rest > 0)


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
        grpc.channel_ready_future(channel).result(timeout=180)
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
        want = expected_counts(expected)
        found: tuple[int, ...] = (0,) * 7
        elapsed, rolled_up = float("nan"), float("nan")
        # The probe must not slow what it measures: until the spans are in, one count of one table (the other
        # tables are written in the same transactions; checked once they are); the seven counts with the
        # rollup sums only after that, every 0.25 s. Polling those every 50 ms took up to a third of a core.
        while time.monotonic() < deadline:
            peak_rss = max(peak_rss, ps.memory_info().rss)
            if elapsed != elapsed:
                if count_spans(db_url) < want[0]:
                    time.sleep(0.05)
                    continue
                at = time.perf_counter() - started
                found = counts(db_url)
                if found[:4] == want:
                    elapsed = at
            else:
                found = counts(db_url)
            if found[:4] == want and found[4:] == want[1:]:
                rolled_up = time.perf_counter() - started
                break
            time.sleep(0.25)
        stored = found[0]
        if rolled_up != rolled_up:
            print(f"  not all rolled up within {TIME_LIMIT_S} s: rows and rollup counts {found}, wanted {want}", flush=True)
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
        "rolled_up_s": rolled_up,
        "spans_per_s": stored / elapsed if elapsed == elapsed else 0.0,
        "acked_per_s": expected / acked if acked else 0.0,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan"),
        "peak_rss_mib": peak_rss / 2**20,
        "cpu_s": cpu.user + cpu.system,
        "cpu_us_per_span": (cpu.user + cpu.system) / max(stored, 1) * 1e6,
    }


def floor(kind: str, source_url: str, chunk: int) -> float:
    """Spans/s of writing the run's own rows again into an empty migrated warehouse with no Python around
    the statements: SQLite replays ``INSERT … ON CONFLICT DO NOTHING`` (executemany, one transaction per
    ``chunk`` spans' rows of every table); PostgreSQL ``COPY``s each table's rows (binary)."""
    url, cleanup = fresh_database(kind)
    try:
        subprocess.run([str(AGENTOTEL), "--log-level", "WARNING", "db", "--db", url, "upgrade"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        if kind == "sqlite":
            return _sqlite_floor(source_url[len("sqlite:///") :], url[len("sqlite:///") :], chunk)
        return _pg_floor(source_url, url)
    finally:
        cleanup()


def _sqlite_floor(source: str, target: str, chunk: int) -> float:
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src:
        tables = {}
        for table in TABLES:
            cursor = src.execute(f"select * from {table} order by trace_id")  # noqa: S608 - our table names
            tables[table] = ([d[0] for d in cursor.description], cursor.fetchall())
    total = len(tables["spans"][1])
    conn = sqlite3.connect(target, isolation_level=None)
    for statement in SQLITE_PRAGMAS:  # the receiver's own connection settings (its 64 MiB page cache above all)
        conn.execute(statement)
    statements = {}
    for table, (columns, _rows) in tables.items():
        key = "id" if table == "agent_executions" else "trace_id, span_id"
        marks = ", ".join("?" * len(columns))
        statements[table] = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks}) ON CONFLICT ({key}) DO NOTHING"  # noqa: S608
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src:  # executions refer to agents: not timed
        agents = src.execute("select * from agents").fetchall()
    if agents:
        conn.executemany(f"INSERT INTO agents VALUES ({', '.join('?' * len(agents[0]))})", agents)  # noqa: S608
    chunks = max(1, -(-total // chunk))
    started = time.perf_counter()
    for index in range(chunks):  # one transaction = the rows of ``chunk`` spans' traces in every table
        conn.execute("BEGIN IMMEDIATE")
        for table, (_columns, rows) in tables.items():
            size = -(-len(rows) // chunks)
            conn.executemany(statements[table], rows[index * size : (index + 1) * size])
        conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return total / seconds


def _pg_floor(source_url: str, target_url: str) -> float:
    import psycopg

    data: dict[str, tuple[list[str], bytes]] = {}
    with psycopg.connect(source_url) as src:
        for table in TABLES:
            columns = [c.name for c in src.execute(f"select * from {table} limit 0").description or ()]  # noqa: S608
            buffer = bytearray()
            with src.cursor().copy(f"COPY {table} ({', '.join(columns)}) TO STDOUT (FORMAT BINARY)") as copy:
                for block in copy:
                    buffer += block
            data[table] = (columns, bytes(buffer))
        row = src.execute("select count(*) from spans").fetchone()
        total = row[0] if row else 0
    with psycopg.connect(target_url) as dst:
        with psycopg.connect(source_url) as src, src.cursor().copy("COPY agents TO STDOUT (FORMAT BINARY)") as out:
            agents = b"".join(bytes(block) for block in out)
        with dst.cursor().copy("COPY agents FROM STDIN (FORMAT BINARY)") as copy:  # executions refer to agents
            copy.write(agents)
        started = time.perf_counter()
        for table, (columns, payload) in data.items():
            with dst.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(payload)
        dst.commit()
        seconds = time.perf_counter() - started
    return total / seconds


def fresh_database(kind: str) -> tuple[str, Callable[[], None]]:
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
    parser.add_argument("--minutes", type=float, default=10.0, help="span start times spread over this many minutes")
    parser.add_argument("--no-floor", action="store_true", help="skip the floor measurement")
    args = parser.parse_args()
    rng = random.Random(42)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"ingest benchmark: {args.spans} spans per run, batches of {args.batch}, OTLP/gRPC, {os.cpu_count()} cores")
    print(f"span start times spread over {args.minutes:g} minutes; floor: {'off' if args.no_floor else 'on'}")
    print(f"{'db':<11}{'thr':>4}{'stored':>8}{'spans/s':>9}{'rollup s':>9}{'acked/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
          f"{'RSS MiB':>8}{'CPU us/span':>12}{'floor/s':>9}{'ratio':>7}  load avg before -> after")  # fmt: skip
    for kind in kinds:
        for threads in (int(t) for t in args.threads.split(",")):
            requests = build_requests(args.spans, args.batch, rng, args.minutes)
            url, cleanup = fresh_database(kind)
            load_before = os.getloadavg()
            try:
                r = run_once(url, requests, args.spans, threads, args.project)
                floor_rate = float("nan") if args.no_floor else floor(kind, url, args.batch)
            finally:
                cleanup()
            load_after = os.getloadavg()
            ratio = r["spans_per_s"] / floor_rate if floor_rate == floor_rate and floor_rate else float("nan")
            print(f"{kind:<11}{threads:>4}{r['stored']:>8}{r['spans_per_s']:>9.0f}{r['rolled_up_s']:>9.1f}"
                  f"{r['acked_per_s']:>9.0f}{r['p50_ms']:>8.1f}{r['p99_ms']:>8.1f}{r['peak_rss_mib']:>8.0f}"
                  f"{r['cpu_us_per_span']:>12.0f}{floor_rate:>9.0f}{ratio:>7.2f}  "
                  f"{load_before[0]:.1f},{load_before[1]:.1f} -> {load_after[0]:.1f},{load_after[1]:.1f}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
