"""Analytics benchmark (issue 22): every analytics read of the dashboard and alerting over a 30-day warehouse.

Builds a realistic ``--days`` (default 30) warehouse of about ``--spans`` spans (default 1,000,000) and times
the reads against the goal (≤ 200 ms each):

- data: 12 agents × 3 versions (each version rolled out over the weeks), 8 models, 20 tools, traffic with a
  daily cycle (quiet nights, a peak in the afternoon, lighter weekends), skewed popularity of agents, models
  and tools, 1–3 model calls and 0–3 tool calls per run, ~5 % failed runs (failures of tools and model calls
  with their own rates), per-model and per-tool log-normal latencies;
- load (``--load receiver``, the default): the same traces as OTLP/gRPC requests of 512 spans (GenAI semantic
  conventions: ``invoke_agent`` / ``chat`` / ``execute_tool`` spans, token usage, error status and ``error.type``)
  sent by 4 client threads to a real ``agentotel receive`` (retrying its refusals as a Collector does): decode,
  normalization, cost, redaction, the writer and its rollup refreshes, as in production; the receiver is then
  stopped cleanly (its final rollup flush runs) and ``rollups.catch_up`` confirms nothing is left behind. The
  ingest rate is printed per 100k spans stored (it must not fall as the tables grow). ``--load direct`` puts
  the rows straight into the tables (PostgreSQL ``COPY``, SQLite ``executemany``) and builds the rollups with
  ``rollups.catch_up`` — quicker, for the 10M run;
- reads (30-day window, the dashboard's granularity for it: a day; the alerting rules' 1-hour windows): every read
  of the Overview, LLM and Tools pages (filter options, KPIs, time series, top agents/models, LLM and tool
  stats), the issue's p50/p95 LLM latency per model and top failing tools, the alert evaluations, and the
  failed executions / model calls / tool calls of one agent / model / tool in 7 days (``warehouse.failures``);
- each read cold (first call on a fresh connection pool, analytics cache empty) and warm (median of
  ``--repeat`` more runs, analytics cache off; the database's own page cache is not emptied).

Bounded: a fixed row count, ``--repeat`` runs per read. Prints the load average with the figures.

    .venv/bin/python benchmarks/analytics.py [--spans 1000000] [--days 30] [--db sqlite|postgresql|both] [--repeat 3]
        [--load receiver|direct]
    # the ingest rate at size (issue 22: at 1M within 20 % of the rate at 100k; PostgreSQL: before any ANALYZE,
    # as with autovacuum off): 100k new spans of the last day through a fresh receiver, into a 100k-span
    # warehouse and into the loaded one
    .venv/bin/python benchmarks/analytics.py --db postgresql --ingest-probe
    .venv/bin/python benchmarks/analytics.py --keep            # keep the loaded warehouse(s), print their URLs
    .venv/bin/python benchmarks/analytics.py --url URL         # time an already loaded warehouse (migrated first)
    .venv/bin/python benchmarks/analytics.py --url URL --days 11 --end 2026-11-19T01:00   # a window already rolled up
    # the 10M-span PostgreSQL run (documented, not in CI; 29 min on a 2-core machine: 20 min loading, 9 min rollups):
    .venv/bin/python benchmarks/analytics.py --spans 10000000 --db postgresql --load direct
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# imported once at the start (a long run keeps timing the code it started with)
from agentotel.core.utc import as_utc  # noqa: E402
from agentotel.warehouse import executions, llm_calls, overview, rollups, tool_calls  # noqa: E402
from agentotel.warehouse.analytics import AnalyticsEngine  # noqa: E402
from agentotel.warehouse.engine import create_db_engine  # noqa: E402
from agentotel.warehouse.migrate import upgrade  # noqa: E402
from agentotel.warehouse.models import AgentExecution, Base  # noqa: E402
from tests.warehouse.support import span_row  # noqa: E402

try:  # the failure reads of issue 22 (absent before it)
    from agentotel.warehouse import failures
except ImportError:
    failures = None  # type: ignore[assignment]

TABLES = ("agent_executions", "spans", "llm_calls", "tool_calls")
GOAL_MS = 200.0

AGENT_NAMES = ["planner", "researcher", "coder", "reviewer", "support", "router", "writer", "analyst", "triage",
               "billing", "scheduler", "translator"]
MODELS = [("openai", "gpt-4o", 5e-6, 6.6), ("openai", "gpt-4o-mini", 3e-7, 6.0), ("openai", "o3-mini", 1.1e-6, 7.2),
          ("anthropic", "claude-3-5-sonnet", 3e-6, 6.8), ("anthropic", "claude-3-haiku", 2.5e-7, 5.8),
          ("google", "gemini-1.5-pro", 1.25e-6, 6.7), ("google", "gemini-1.5-flash", 7.5e-8, 5.6),
          ("mistral", "mistral-large", 2e-6, 6.4)]  # provider, model, $/token, log-median latency (ms)
TOOLS = ["search", "calculator", "sql", "browser", "python", "http_get", "send_email", "calendar", "crm_lookup",
         "vector_search", "file_read", "file_write", "translate", "summarize", "weather", "stock_quote",
         "ticket_create", "slack_post", "jira_query", "geocode"]
SPANS_PER_RUN = 1 + 2.0 + 1.2  # agent span + mean model calls + mean tool calls


# ---------------------------------------------------------------------------------------------- data


def _weights(n: int, skew: float, rng: np.random.Generator) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** skew
    rng.shuffle(w)
    return w / w.sum()


def _run_times(rng: np.random.Generator, n: int, start: datetime, days: int) -> np.ndarray:
    """``n`` run start times (Unix seconds, sorted) with a daily cycle and lighter weekends (thinning)."""
    t0 = start.timestamp()
    out: list[np.ndarray] = []
    got = 0
    while got < n:
        t = rng.uniform(t0, t0 + days * 86400, 2 * n)
        hour = (t % 86400) / 3600
        rate = 0.15 + 0.85 * np.exp(-(((hour - 14.5) / 4.5) ** 2))  # quiet nights, afternoon peak
        weekday = ((t // 86400) + 3) % 7  # 1970-01-01 was a Thursday
        rate *= np.where(weekday >= 5, 0.55, 1.0)
        keep = t[rng.random(t.size) < rate]
        out.append(keep)
        got += keep.size
    return np.sort(np.concatenate(out)[:n])


def generate(spans: int, start: datetime, days: int, seed: int = 22):
    """Rows per table (as dicts), one day at a time (a generator of ``(day, data)``)."""
    rng = np.random.default_rng(seed)
    runs = int(spans / SPANS_PER_RUN)
    agent_w = _weights(len(AGENT_NAMES), 0.9, rng)
    model_w = _weights(len(MODELS), 1.1, rng)
    tool_w = _weights(len(TOOLS), 1.0, rng)
    tool_fail = np.clip(rng.gamma(1.2, 0.05 / 1.2, len(TOOLS)), 0.002, 0.3)  # mean ~5 %
    tool_lat = rng.uniform(2.5, 6.5, len(TOOLS))
    agent_models = [rng.choice(len(MODELS), 3, replace=False, p=model_w) for _ in AGENT_NAMES]
    times = _run_times(rng, runs, start, days)
    day_edges = np.searchsorted(times, start.timestamp() + 86400 * np.arange(days + 1))
    counter = 0
    for day in range(days):
        lo, hi = int(day_edges[day]), int(day_edges[day + 1])
        n = hi - lo
        data: dict[str, list[dict]] = {name: [] for name in TABLES}
        # per-run draws, vectorized for the day
        agent_of = rng.choice(len(AGENT_NAMES), n, p=agent_w)
        frac = (times[lo:hi] - start.timestamp()) / (days * 86400)  # v1 fades out, v3 rolls in
        version_of = np.clip(rng.normal(frac * 2.4, 0.5), 0, 2).astype(int)
        run_ok = rng.random(n) > 0.05
        n_llm = rng.choice(3, n, p=(0.3, 0.4, 0.3)) + 1
        n_tool = rng.choice(4, n, p=(0.25, 0.4, 0.25, 0.1))
        trace_hi = rng.integers(0, 2**62, n)
        # per-call draws
        calls = int(n_llm.sum())
        own = rng.integers(0, 3, calls)
        other = rng.choice(len(MODELS), calls, p=model_w)
        use_own = rng.random(calls) < 0.9
        call_z, call_u = rng.standard_normal(calls), rng.random(calls)
        tin_all, tout_all = rng.integers(100, 4000, calls), rng.integers(20, 1200, calls)
        tools_n = int(n_tool.sum())
        tool_of = rng.choice(len(TOOLS), tools_n, p=tool_w)
        tool_z, tool_u = rng.standard_normal(tools_n), rng.random(tools_n)
        tail = rng.uniform(1, 30, n)
        ci = ti = 0
        for r in range(n):
            counter += 1
            a = int(agent_of[r])
            agent, service, version = AGENT_NAMES[a], f"svc-{AGENT_NAMES[a]}", f"1.{int(version_of[r])}"
            t0 = datetime.fromtimestamp(float(times[lo + r]), tz=timezone.utc)
            trace_id = f"{int(trace_hi[r]):016x}{counter:016x}"
            root = f"{counter:08x}00000000"
            exec_id = f"{trace_id}-{root}"
            ok_run = bool(run_ok[r])
            cursor = t0 + timedelta(milliseconds=2)
            tin_sum = tout_sum = 0
            cost_sum = 0.0
            children: list[dict] = []
            for j in range(int(n_llm[r])):
                sid = f"{counter:08x}{j + 1:08x}"
                m = int(agent_models[a][own[ci]]) if use_own[ci] else int(other[ci])
                provider, model, price, log_ms = MODELS[m]
                duration = float(np.exp(log_ms + 0.5 * call_z[ci]))
                tin, tout = int(tin_all[ci]), int(tout_all[ci])
                ok = bool(call_u[ci] > (0.03 if ok_run else 0.3))
                ci += 1
                cost = (tin + 3 * tout) * price
                end = cursor + timedelta(milliseconds=duration)
                children.append(span_row(trace_id, sid, root, f"chat {model}", "llm", service, cursor, end, ok, agent, exec_id, version))
                data["llm_calls"].append({
                    "trace_id": trace_id, "span_id": sid, "execution_id": exec_id, "provider": provider,
                    "request_model": model, "response_model": model, "operation": "chat", "input_tokens": tin,
                    "output_tokens": tout, "total_tokens": tin + tout, "cached_input_tokens": 0, "cost_usd": cost,
                    "duration_ms": duration, "time_to_first_token_ms": None, "finish_reason": "stop",
                    "error_type": None if ok else "RateLimitError", "streaming": False, "start_time": cursor,
                    "service_name": service, "agent_name": agent, "cost_source": "computed", "success": ok,
                })
                tin_sum, tout_sum, cost_sum = tin_sum + tin, tout_sum + tout, cost_sum + cost
                cursor = end
            for j in range(int(n_tool[r])):
                sid = f"{counter:08x}{int(n_llm[r]) + j + 1:08x}"
                k = int(tool_of[ti])
                duration = float(np.exp(tool_lat[k] + 0.8 * tool_z[ti]))
                ok = bool(tool_u[ti] > (tool_fail[k] if ok_run else 0.5))
                ti += 1
                end = cursor + timedelta(milliseconds=duration)
                children.append(span_row(trace_id, sid, root, f"execute_tool {TOOLS[k]}", "tool", service, cursor, end, ok, agent, exec_id,
                                         version))
                data["tool_calls"].append({
                    "trace_id": trace_id, "span_id": sid, "execution_id": exec_id, "tool_name": TOOLS[k],
                    "tool_call_id": f"call_{sid}", "duration_ms": duration, "success": ok,
                    "error_message": None if ok else "tool failed", "start_time": cursor,
                    "service_name": service, "agent_name": agent,
                })
                cursor = end
            end = cursor + timedelta(milliseconds=float(tail[r]))
            data["spans"].append(span_row(trace_id, root, None, f"invoke_agent {agent}", "agent", service, t0, end, ok_run, agent,
                                        exec_id, version))
            data["spans"].extend(children)
            data["agent_executions"].append({
                "id": exec_id, "agent_id": None, "timestamp": t0, "input": None, "output": None,
                "duration_ms": (end - t0).total_seconds() * 1000, "tokens_used": tin_sum + tout_sum, "success": ok_run,
                "error_message": None if ok_run else "agent failed", "trace_id": trace_id, "span_id": root,
                "agent_name": agent, "agent_version": version, "service_name": service, "end_time": end,
                "input_tokens": tin_sum, "output_tokens": tout_sum, "cost_usd": cost_sum,
                "llm_call_count": int(n_llm[r]), "tool_call_count": int(n_tool[r]), "conversation_id": None,
                "user_id": None, "is_agent_span": True,
            })
        yield day, data


# ---------------------------------------------------------------------------------------------- loading


def _conninfo(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"


def load_postgres(url: str, data: dict[str, list[dict]]) -> None:
    import psycopg

    with psycopg.connect(_conninfo(url)) as conn, conn.cursor() as cur:
        for name in TABLES:
            rows = data[name]
            if not rows:
                continue
            columns = list(rows[0])
            quoted = ", ".join(f'"{c}"' for c in columns)
            with cur.copy(f"COPY {name} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([json.dumps(v) if isinstance(v, (dict, list)) else v for v in (row[c] for c in columns)])


def load_sqlite(path: str, data: dict[str, list[dict]]) -> None:
    conn = sqlite3.connect(path)
    try:
        for name in TABLES:
            rows = data[name]
            if not rows:
                continue
            columns = list(rows[0])
            sql = f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
            conn.executemany(sql, ([_sqlite_value(row[c]) for c in columns] for row in rows))
        conn.commit()
    finally:
        conn.close()


def _sqlite_value(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def populate(kind: str, url: str, spans: int, days: int, end: datetime, analyze: bool = True) -> float:
    """Generate and load the warehouse (planner statistics gathered unless ``analyze`` is false); returns
    seconds."""
    target = url if kind == "postgresql" else url.removeprefix("sqlite:///")
    started = time.perf_counter()
    total = 0
    for day, data in generate(spans, end - timedelta(days=days), days):
        (load_postgres if kind == "postgresql" else load_sqlite)(target, data)
        total += len(data["spans"])
        print(f"  day {day + 1}/{days}: {total:,} spans ({time.perf_counter() - started:.0f} s)", end="\r", flush=True)
    print()
    if analyze:
        gather_statistics(kind, url)
    return time.perf_counter() - started


def gather_statistics(kind: str, url: str) -> None:
    """Planner statistics, as autovacuum (PostgreSQL) or ``ANALYZE`` (SQLite) would have them for the reads."""
    if kind == "postgresql":
        import psycopg

        with psycopg.connect(_conninfo(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    else:
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("ANALYZE")


def to_requests(data: dict[str, list[dict]], batch: int = 512) -> list[bytes]:
    """One day's traces as OTLP ``ExportTraceServiceRequest`` bodies of about ``batch`` spans (whole traces;
    one resource per service), with the GenAI attributes an instrumented agent sends."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from benchmarks.ingest import kv

    llm = {row["span_id"]: row for row in data["llm_calls"]}
    tool = {row["span_id"]: row for row in data["tool_calls"]}
    bodies: list[bytes] = []
    request, scopes, in_request = ExportTraceServiceRequest(), {}, 0
    for row in data["spans"]:
        if row["parent_span_id"] is None and in_request >= batch:  # a trace starts: the request is full
            bodies.append(request.SerializeToString())
            request, scopes, in_request = ExportTraceServiceRequest(), {}, 0
        service = row["service_name"]
        scope = scopes.get(service)
        if scope is None:
            resource = request.resource_spans.add()
            resource.resource.attributes.extend([kv("service.name", service), kv("deployment.environment", "bench")])
            scope = scopes[service] = resource.scope_spans.add()
            scope.scope.name = "agentotel.instrumentation"
        sid = row["span_id"]
        if sid in llm:
            call = llm[sid]
            attrs = [kv("gen_ai.operation.name", "chat"), kv("gen_ai.provider.name", call["provider"]),
                     kv("gen_ai.request.model", call["request_model"]), kv("gen_ai.response.model", call["response_model"]),
                     kv("gen_ai.usage.input_tokens", call["input_tokens"]), kv("gen_ai.usage.output_tokens", call["output_tokens"]),
                     kv("gen_ai.response.finish_reasons", "stop")]  # fmt: skip
            error = call["error_type"]
        elif sid in tool:
            call = tool[sid]
            attrs = [kv("gen_ai.operation.name", "execute_tool"), kv("gen_ai.tool.name", call["tool_name"]),
                     kv("gen_ai.tool.call.id", call["tool_call_id"]), kv("gen_ai.tool.type", "function")]  # fmt: skip
            error = None if call["success"] else "ToolError"
        else:
            attrs = [kv("gen_ai.operation.name", "invoke_agent"), kv("gen_ai.agent.name", row["agent_name"]),
                     kv("gen_ai.agent.version", row["agent_version"])]  # fmt: skip
            error = None if row["status_code"] == "OK" else "AgentError"
        if error:
            attrs.append(kv("error.type", error))
        span = scope.spans.add(
            trace_id=bytes.fromhex(row["trace_id"]), span_id=bytes.fromhex(sid),
            parent_span_id=bytes.fromhex(row["parent_span_id"]) if row["parent_span_id"] else b"", name=row["name"],
            kind=1 if row["parent_span_id"] is None else 3, start_time_unix_nano=row["start_time_unix_nano"],
            end_time_unix_nano=row["end_time_unix_nano"],
        )  # fmt: skip
        span.attributes.extend(attrs)
        span.status.code = 1 if row["status_code"] == "OK" else 2
        if row["status_message"]:
            span.status.message = row["status_message"]
        in_request += 1
    if in_request:
        bodies.append(request.SerializeToString())
    return bodies


def send(call, bodies: list[bytes], threads: int = 4) -> int:
    """Every body through ``call`` from ``threads`` threads, refusals retried as a Collector does (RetryInfo
    or an exponential back-off, at most 200 attempts); returns the number of retries."""
    import threading

    import grpc

    from benchmarks.load import RETRYABLE, retry_delay

    pending = iter(bodies)
    lock = threading.Lock()
    retries = [0]
    failed: list[BaseException] = []

    def worker() -> None:
        while not failed:
            with lock:
                body = next(pending, None)
            if body is None:
                return
            backoff = 0.2
            for _ in range(200):
                try:
                    call(body, timeout=120)
                    break
                except grpc.RpcError as exc:
                    if exc.code() not in RETRYABLE:  # type: ignore[attr-defined]
                        failed.append(exc)
                        return
                    with lock:
                        retries[0] += 1
                    time.sleep(max(retry_delay(exc) or 0.0, backoff))  # type: ignore[arg-type]
                    backoff = min(backoff * 2, 5.0)
            else:
                failed.append(RuntimeError("a request was refused 200 times"))

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    if failed:
        raise RuntimeError(f"sending failed: {failed[0]}")
    return retries[0]


def populate_via_receiver(kind: str, url: str, spans: int, days: int, end: datetime) -> tuple[float, str]:
    """Generate the traces, send them through a real ``agentotel receive``, wait until every span is stored,
    stop the receiver cleanly (its final rollup flush runs). Returns seconds and a summary line."""
    import threading

    from benchmarks.load import Receiver

    t = time.perf_counter()
    bodies: list[bytes] = []
    made = 0
    for _, data in generate(spans, end - timedelta(days=days), days):
        bodies.extend(to_requests(data))
        made += len(data["spans"])
    print(f"  {made:,} spans in {len(bodies):,} requests built in {time.perf_counter() - t:.0f} s", flush=True)
    receiver = Receiver(url)
    samples: list[tuple[float, int]] = []
    done = threading.Event()
    started = time.perf_counter()

    def watch() -> None:  # stored spans every 2 s (the receiver's own counter, not a count over the tables)
        while not done.is_set():
            stored = receiver.written()
            samples.append((time.perf_counter() - started, stored))
            print(f"  stored {stored:,} / {made:,} ({samples[-1][0]:.0f} s)", end="\r", flush=True)
            if stored >= made:
                return
            done.wait(2.0)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        retries = send(receiver.call, bodies)
        sent_s = time.perf_counter() - started
        watcher.join(timeout=3600)
    finally:
        done.set()
        cpu = receiver.ps.cpu_times()
        rss = max((r for _, r in receiver.rss), default=0)
        receiver.channel.close()
        stop_at = time.perf_counter()
        receiver.proc.terminate()  # a clean stop: the final rollup flush runs before it exits
        receiver.proc.wait(timeout=1800)
        stop_s = time.perf_counter() - stop_at
    stored_s = samples[-1][0]
    print()
    rates = _rates_per(samples, 100_000)
    summary = (f"{made:,} spans through the receiver: sent in {sent_s:.0f} s ({retries} retries), all stored after "
               f"{stored_s:.0f} s = {made / stored_s:,.0f} spans/s; clean stop (final rollup flush) {stop_s:.1f} s; "
               f"receiver CPU {cpu.user + cpu.system:.0f} s, peak RSS {rss / 2**20:.0f} MiB\n"
               f"  ingest rate per 100k spans stored (spans/s): {', '.join(f'{r:,.0f}' for r in rates)}")
    print(summary, flush=True)
    return time.perf_counter() - t, summary


PROBE_SPANS = 100_000
PROBE_SEED = 2201  # other trace ids than the warehouse's (seed 22)
BASELINE_SPANS = 100_000
PROBE_GOAL = 0.8  # the rate into the loaded warehouse ≥ 80 % of the rate into a 100k-span one


def probe_ingest(url: str, end: datetime, spans: int = PROBE_SPANS) -> float:
    """Spans/s stored for ``spans`` new spans of the day before ``end`` sent through a fresh ``agentotel
    receive`` into ``url`` (first request → the receiver's written counter reaches them; the rollup refreshes
    of that day inside the window), then a clean stop."""
    from benchmarks.load import Receiver

    bodies: list[bytes] = []
    made = 0
    for _, data in generate(spans, end - timedelta(days=1), 1, seed=PROBE_SEED):
        bodies.extend(to_requests(data))
        made += len(data["spans"])
    receiver = Receiver(url)
    try:
        started = time.perf_counter()
        send(receiver.call, bodies)
        deadline = started + 1800
        while receiver.written() < made and time.perf_counter() < deadline:
            time.sleep(0.25)
        stored = receiver.written()
        seconds = time.perf_counter() - started
    finally:
        receiver.stop()
    if stored < made:
        raise RuntimeError(f"the probe's {made:,} spans were not all stored within 30 min ({stored:,})")
    return made / seconds


def ingest_at_size(kind: str, url: str, end: datetime, days: int) -> str:
    """The ingest probe into a ``BASELINE_SPANS`` warehouse of the same kind (built directly, no planner
    statistics) and into ``url``, as one line against ``PROBE_GOAL``."""
    baseline, cleanup = new_warehouse(kind)
    try:
        populate(kind, baseline, BASELINE_SPANS, days, end, analyze=False)
        small = probe_ingest(baseline, end)
    finally:
        cleanup()
    big = probe_ingest(url, end)
    stored = counts(url)["spans"]
    verdict = "ok" if big >= PROBE_GOAL * small else "UNDER"
    return (f"[{kind}] ingest of {PROBE_SPANS:,} spans through the receiver: into {BASELINE_SPANS:,} spans "
            f"{small:,.0f} spans/s, into this warehouse ({stored - PROBE_SPANS:,} spans before) {big:,.0f} spans/s "
            f"= {big / small:.2f} of it (goal ≥ {PROBE_GOAL:.2f}) {verdict}")


def _rates_per(samples: list[tuple[float, int]], step: int) -> list[float]:
    """Spans/s over each ``step`` spans stored, from (seconds, stored) samples."""
    rates: list[float] = []
    mark_t, mark_n = 0.0, 0
    for t, n in samples:
        if n - mark_n >= step:
            rates.append((n - mark_n) / max(t - mark_t, 1e-9))
            mark_t, mark_n = t, n
    return rates


# ---------------------------------------------------------------------------------------------- reads


def reads(url: str, end: datetime, days: int) -> dict[str, Callable[[object], object]]:
    """Every analytics read of the dashboard's Overview, LLM and Tools pages (30-day window), the issue's
    named reads and the alert evaluations; each takes an ``AnalyticsEngine``."""
    start = end - timedelta(days=days)
    g = "1d" if days > 16 else "6h" if days > 8 else "2h"  # the dashboard's (dashboard/common.py granularity_for)
    d = f"{days}d"
    hour = end - timedelta(hours=1)
    out: dict[str, Callable] = {
        f"{d} overview: filter options": lambda a: overview.dimension_values(a, "executions", ("agent", "service"), start, end),
        f"{d} overview KPIs": lambda a: overview.overview(a, start, end),
        f"{d} overview: top agents": lambda a: executions.top_agents(a, start, end, "count", 10),
        f"{d} overview: top models": lambda a: llm_calls.top_models(a, start, end, "count", 10),
        **{f"{d} series @{g}: {m}": (lambda a, m=m: a.get_time_series(m, start, end, g))
           for m in ("executions", "success_rate", "latency_p95", "cost")},
        f"{d} llm: filter options": lambda a: overview.dimension_values(a, "llm", ("provider", "model", "agent"), start, end),
        f"{d} llm: stats per model (p50/p95/p99)": lambda a: llm_calls.llm_stats(a, start, end),
        f"{d} llm: p50/p95 latency per model": lambda a: a.family_summary("llm", "model", None, start, end, (0.5, 0.95)),
        f"{d} llm series @{g}: cost by model": lambda a: a.get_time_series("cost", start, end, g, None, "model"),
        f"{d} llm series @{g}: tokens by model": lambda a: a.get_time_series("tokens", start, end, g, None, "model"),
        f"{d} llm series @{g}: latency p95": lambda a: a.get_time_series("llm_latency_p95", start, end, g),
        f"{d} tools: filter options": lambda a: overview.dimension_values(a, "tools", ("tool", "agent"), start, end),
        f"{d} tools: stats (p50/p95/p99)": lambda a: tool_calls.tool_stats(a, start, end),
        f"{d} tools: top by failures": lambda a: tool_calls.top_failing_tools(a, start, end),
        f"{d} tools series @{g}: calls by tool": lambda a: a.get_time_series("tool_calls", start, end, g, None, "tool"),
        "alert 1h @1min: error_rate": lambda a: a.get_time_series("error_rate", hour, end, "1min"),
        "alert 1h @1min: latency_p95 (one agent)": lambda a: a.get_time_series("latency_p95", hour, end, "1min", {"agent": "planner"}),
        "alert 1h @1min: tool_error_rate by tool": lambda a: a.get_time_series("tool_error_rate", hour, end, "1min", None, "tool"),
        "alert 24h @5min: cost": lambda a: a.get_time_series("cost", end - timedelta(days=1), end, "5min"),
    }
    if failures is None:
        return out
    week = end - timedelta(days=7)
    out.update({
        "7d failed runs of one agent": lambda a: failures.failed_executions(a.engine, week, end, agent="planner"),
        "7d failed calls of one model": lambda a: failures.failed_llm_calls(a.engine, week, end, model="gpt-4o"),
        "7d failed calls of one tool": lambda a: failures.failed_tool_calls(a.engine, week, end, tool="browser"),
    })
    return out


def time_reads(url: str, end: datetime, days: int, repeat: int) -> list[tuple[str, float, float]]:
    rows = []
    for name, fn in reads(url, end, days).items():
        engine = create_db_engine(url)
        analytics = AnalyticsEngine(engine, cache_ttl=0)
        t = time.perf_counter()
        fn(analytics)
        cold = (time.perf_counter() - t) * 1000
        samples = []
        for _ in range(repeat):
            t = time.perf_counter()
            fn(analytics)
            samples.append((time.perf_counter() - t) * 1000)
        engine.dispose()
        rows.append((name, cold, statistics.median(samples)))
    return rows


def build_rollups(url: str, end: datetime) -> tuple[float, int]:
    engine = create_db_engine(url)
    t = time.perf_counter()
    written = rollups.catch_up(engine, now=end + timedelta(minutes=1)) or 0
    seconds = time.perf_counter() - t
    engine.dispose()
    return seconds, written


def counts(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    engine = create_db_engine(url)
    with engine.connect() as conn:
        got = {t: int(conn.execute(select(func.count()).select_from(Base.metadata.tables[t])).scalar() or 0) for t in TABLES}
    engine.dispose()
    return got


def newest(url: str) -> datetime:
    from sqlalchemy import func, select

    engine = create_db_engine(url)
    with engine.connect() as conn:
        value = conn.execute(select(func.max(AgentExecution.__table__.c.timestamp))).scalar()
    engine.dispose()
    return as_utc(value).replace(second=0, microsecond=0) + timedelta(minutes=1)


def report(kind: str, url: str, end: datetime, days: int, repeat: int, extra: str = "") -> None:
    got = time_reads(url, end, days, repeat)
    load = os.getloadavg()
    print(f"\n== {kind}: {counts(url)}{extra}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{'read':48s} {'cold ms':>9s} {'warm ms':>9s}  goal ≤ {GOAL_MS:.0f} ms")
    for name, cold, warm in got:
        verdict = "ok" if max(cold, warm) <= GOAL_MS else "OVER"
        print(f"{name:48s} {cold:9.0f} {warm:9.0f}  {verdict}")
    print(f"worst: cold {max(c for _, c, _ in got):.0f} ms, warm {max(w for _, _, w in got):.0f} ms", flush=True)


def new_warehouse(kind: str) -> tuple[str, Callable[[], None]]:
    """An empty, migrated warehouse of ``kind`` and how to remove it."""
    cleanup: Callable[[], None]
    if kind == "postgresql":
        from sqlalchemy.engine import make_url

        from tests.conftest import _pg_admin, new_postgres_database

        url = new_postgres_database(migrated=False)
        cleanup = lambda: _pg_admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')  # noqa: E731
    else:
        directory = tempfile.mkdtemp(prefix="agentotel-bench-")
        url = f"sqlite:///{os.path.join(directory, 'bench.db')}"
        cleanup = lambda: shutil.rmtree(directory, ignore_errors=True)  # noqa: E731
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    return url, cleanup


def run(kind: str, spans: int, days: int, repeat: int, keep: bool, via: str, probe: bool) -> None:
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    url, cleanup = new_warehouse(kind)
    try:
        print(f"[{kind}] generating and loading ~{spans:,} spans over {days} days ({via}) …", flush=True)
        if via == "receiver":
            load_s, _ = populate_via_receiver(kind, url, spans, days, end)
        else:
            load_s = populate(kind, url, spans, days, end, analyze=not probe)
        probed = ""
        if probe:  # before any ANALYZE: the writer's lookups without planner statistics
            probed = "\n" + ingest_at_size(kind, url, end, days)
        if kind == "postgresql" or (via == "direct" and probe):
            gather_statistics(kind, url)
        build_s, written = build_rollups(url, end)  # after the receiver's final flush: nothing should be left
        report(kind, url, end, days, repeat,
               f" (load {load_s:.0f} s, then rollups catch_up {build_s:.1f} s, {written:,} rows){probed}")
    finally:
        if keep:
            print(f"[{kind}] kept: {url}")
        else:
            cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--load", choices=("receiver", "direct"), default="receiver",
                        help="through a real receiver (default) or straight into the tables")
    parser.add_argument("--keep", action="store_true", help="keep the loaded warehouse(s)")
    parser.add_argument("--url", help="time an already loaded warehouse (migrated to the newest schema first)")
    parser.add_argument("--ingest-probe", action="store_true",
                        help="also time 100k new spans through the receiver into the loaded warehouse against a "
                             "100k-span one (goal: ≥ 80 %% of that rate)")
    parser.add_argument("--end", help="with --url: the end of the timed window (ISO UTC); the rollups are then "
                        "not caught up (time a window they already cover)")
    args = parser.parse_args()
    if args.spans < 1 or args.days < 1 or args.repeat < 1:
        print("error: --spans, --days and --repeat must be positive", file=sys.stderr)
        return 2
    if args.url:
        engine = create_db_engine(args.url)
        t = time.perf_counter()
        upgrade(engine)
        engine.dispose()
        migrate_s = time.perf_counter() - t
        if args.end:
            end, build_s, written = as_utc(datetime.fromisoformat(args.end)), 0.0, 0
        else:
            end = newest(args.url)
            build_s, written = build_rollups(args.url, end)
        kind = "postgresql" if args.url.startswith("postgresql") else "sqlite"
        probed = "\n" + ingest_at_size(kind, args.url, end, args.days) if args.ingest_probe else ""
        report(kind, args.url, end, args.days, args.repeat,
               f" (migrate {migrate_s:.0f} s, rollups catch_up {build_s:.0f} s, {written:,} rows){probed}")
        return 0
    for kind in (("postgresql", "sqlite") if args.db == "both" else (args.db,)):
        run(kind, args.spans, args.days, args.repeat, args.keep, args.load, args.ingest_probe)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
