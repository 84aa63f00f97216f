"""Analytics benchmark: the dashboard's typical queries over a day of data, with and without rollups.

Generates ``--spans`` spans (4 per execution: agent, 2 LLM calls, 1 tool call; default 1,000,000 spans =
250,000 executions) spread over the last 24 hours into a fresh PostgreSQL database (created beside the
test database and dropped afterwards, bulk-loaded with COPY) and a temporary SQLite file (executemany),
then times:

- 24 h time series at 1-minute granularity (executions; latency p95)
- p95 LLM latency by model (24 h)
- cost by agent (24 h)
- top failing tools (24 h)
- overview KPIs (24 h)
- the newest failed traces (a page of 50, read from ``spans`` either way)

each as the median of ``--repeat`` runs (the TTL cache off), reading raw rows and reading rollups, and the
rollup build and an incremental refresh. Bounded: fixed row count; one run per database.

    .venv/bin/python benchmarks/analytics.py [--spans 1000000] [--db sqlite|postgresql|both] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentotel.warehouse import overview, tool_calls, traces  # noqa: E402
from agentotel.warehouse.analytics import AnalyticsEngine  # noqa: E402
from agentotel.warehouse.engine import create_db_engine  # noqa: E402
from agentotel.warehouse.migrate import upgrade  # noqa: E402
from agentotel.warehouse.models import Base  # noqa: E402
from agentotel.warehouse.rollups import refresh_rollups  # noqa: E402
from tests.warehouse.support import generate  # noqa: E402

CHUNK_EXECUTIONS = 10_000
TABLES = ("agent_executions", "spans", "llm_calls", "tool_calls")


def load_postgres(url: str, data: dict[str, list[dict]]) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conninfo = f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
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


def populate(kind: str, target: str, spans: int, end: datetime) -> float:
    executions = max(1, spans // 4)
    chunks = max(1, -(-executions // CHUNK_EXECUTIONS))
    span = timedelta(hours=24) / chunks
    started = time.perf_counter()
    for i in range(chunks):
        n = min(CHUNK_EXECUTIONS, executions - i * CHUNK_EXECUTIONS)
        data = generate(n, end - timedelta(hours=24) + span * i, span, seed=1000 + i)
        (load_postgres if kind == "postgresql" else load_sqlite)(target, data)
        print(f"  loaded {min((i + 1) * CHUNK_EXECUTIONS, executions):,}/{executions:,} executions", end="\r", flush=True)
    if kind == "postgresql":
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(target)
        with psycopg.connect(f"host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}", autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    else:
        with sqlite3.connect(target) as conn:
            conn.execute("ANALYZE")
    return time.perf_counter() - started


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def workload(analytics: AnalyticsEngine, start: datetime, end: datetime) -> dict:
    return {
        "time series 24h @1min: executions": lambda: analytics.get_time_series("executions", start, end, "1min"),
        "time series 24h @1min: latency p95": lambda: analytics.get_time_series("latency_p95", start, end, "1min"),
        "p95 LLM latency by model (24h)": lambda: analytics.get_aggregations("llm_latency_p95", "model", start=start, end=end),
        "cost by agent (24h)": lambda: analytics.get_aggregations("cost", "agent", start=start, end=end),
        "top failing tools (24h)": lambda: tool_calls.top_failing_tools(analytics, start, end),
        "overview KPIs (24h)": lambda: overview.overview(analytics, start, end),
        "recent failed traces, page 1 (spans)": lambda: traces.recent_traces(analytics.engine, start, end, status="error"),
    }


def run(kind: str, spans: int, repeat: int) -> dict:
    end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    start = end - timedelta(hours=24)
    cleanup = None
    if kind == "postgresql":
        from tests.conftest import drop_postgres_database, new_postgres_database

        url = new_postgres_database(migrated=True)
        target = url
        cleanup = lambda: drop_postgres_database(url)  # noqa: E731
    else:
        directory = tempfile.mkdtemp(prefix="agentotel-bench-")
        target = os.path.join(directory, "bench.db")
        url = f"sqlite:///{target}"
        upgrade(create_db_engine(url))
    try:
        print(f"[{kind}] generating and loading {spans:,} spans …", flush=True)
        load_s = populate(kind, target, spans, end)
        engine = create_db_engine(url)
        with engine.connect() as conn:
            from sqlalchemy import func, select

            counts = {t: conn.execute(select(func.count()).select_from(Base.metadata.tables[t])).scalar() for t in TABLES}
        print(f"\n[{kind}] rows: {counts} (load {load_s:.1f} s)")
        raw = AnalyticsEngine(engine, cache_ttl=0, use_rollups=False)
        results = {"raw": {name: timed(fn, max(1, repeat // 2)) for name, fn in workload(raw, start, end).items()}}
        t = time.perf_counter()
        written = refresh_rollups(engine, now=end + timedelta(minutes=1))
        build_s = time.perf_counter() - t
        t = time.perf_counter()
        refresh_rollups(engine, now=end + timedelta(minutes=1))
        incremental_ms = (time.perf_counter() - t) * 1000
        rolled = AnalyticsEngine(engine, cache_ttl=0)
        results["rollups"] = {name: timed(fn, repeat) for name, fn in workload(rolled, start, end).items()}
        engine.dispose()
        return {"counts": counts, "load_s": load_s, "rollup_rows": written, "rollup_build_s": build_s,
                "refresh_ms": incremental_ms, "results": results}
    finally:
        if cleanup:
            cleanup()
        else:
            import shutil

            shutil.rmtree(os.path.dirname(target), ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    kinds = ("postgresql", "sqlite") if args.db == "both" else (args.db,)
    for kind in kinds:
        report = run(kind, args.spans, args.repeat)
        print(f"\n== {kind}: {args.spans:,} spans; rollup build {report['rollup_build_s']:.1f} s "
              f"({report['rollup_rows']:,} rows), incremental refresh {report['refresh_ms']:.0f} ms")
        print(f"{'query':42s} {'raw (ms)':>10s} {'rollups (ms)':>13s}")
        for name in report["results"]["raw"]:
            print(f"{name:42s} {report['results']['raw'][name]:10.0f} {report['results']['rollups'][name]:13.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
