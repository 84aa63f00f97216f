"""Registry benchmark: promotion/rollback throughput and the dashboard's registry queries on a big warehouse.

Seeds ``--executions`` agent executions (each with its agent span carrying ``deployment.environment.name``)
over 5 versions of one agent in 3 environments, then prints: promotions+rollbacks per second
(sequential, each a gated compare-and-set transaction), and the median latency of
``version_stats``, ``environment_stats``, ``environment_overview``, ``audit_log`` and
``environment_states``, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/registry.py [--executions 100000] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone

PG_ADMIN = os.environ.get("AGENTOTEL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
VERSIONS = ["1.0.0", "1.1.0", "1.2.0", "2.0.0", "2.1.0"]
ENVIRONMENTS = ["dev", "staging", "production"]
BATCH = 5000


def seed(engine, executions: int) -> None:
    from sqlalchemy import insert

    from agentotel.warehouse.models import AgentExecution, Span

    start = datetime.now(timezone.utc) - timedelta(seconds=executions * 5)  # one every 5 s up to now
    ex_rows, span_rows = [], []
    for i in range(executions):
        trace, span = uuid.uuid4().hex, uuid.uuid4().hex[:16]
        ts = start + timedelta(seconds=i * 5)
        version, env = VERSIONS[i % len(VERSIONS)], ENVIRONMENTS[(i // 7) % len(ENVIRONMENTS)]
        ex_rows.append({
            "id": f"{trace}-{span}", "timestamp": ts, "duration_ms": 800.0 + i % 300, "tokens_used": 300,
            "success": i % 23 != 0, "trace_id": trace, "span_id": span, "agent_name": "bench-bot",
            "agent_version": version, "input_tokens": 250, "output_tokens": 50, "cost_usd": 0.0004,
        })  # fmt: skip
        ns = int(ts.timestamp() * 1e9)
        span_rows.append({
            "trace_id": trace, "span_id": span, "name": "invoke_agent bench-bot", "kind": "INTERNAL",
            "span_type": "agent", "start_time": ts, "end_time": ts + timedelta(milliseconds=800), "duration_ms": 800.0,
            "status_code": "OK", "start_time_unix_nano": ns, "end_time_unix_nano": ns + 800_000_000,
            "resource_attributes": {"service.name": "bench", "deployment.environment.name": env},
            "execution_id": f"{trace}-{span}", "agent_name": "bench-bot", "agent_version": version,
        })  # fmt: skip
        if len(ex_rows) >= BATCH:
            with engine.begin() as conn:
                conn.execute(insert(Span), span_rows)
                conn.execute(insert(AgentExecution), ex_rows)
            ex_rows, span_rows = [], []
    if ex_rows:
        with engine.begin() as conn:
            conn.execute(insert(Span), span_rows)
            conn.execute(insert(AgentExecution), ex_rows)


def median_ms(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def run(url: str, label: str, executions: int) -> None:
    from agentotel.registry import (
        AgentMetadata,
        AgentRegistry,
        GatePolicy,
        PromotionGate,
        VersionManager,
        WarehouseEvaluationStore,
        audit_log,
        environment_overview,
        environment_states,
        environment_stats,
        version_stats,
    )
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade

    engine = create_db_engine(url)
    upgrade(engine)
    t = time.perf_counter()
    seed(engine, executions)
    seeded = time.perf_counter() - t
    with engine.connect() as conn:  # planner statistics, as autovacuum / SQLite's optimizer would have them
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    gate = PromotionGate(WarehouseEvaluationStore(engine), policies={e: GatePolicy() for e in ("dev", "staging", "prod")})
    registry = AgentRegistry(engine, VersionManager(engine, gate))
    for v in VERSIONS:
        registry.register_agent(AgentMetadata("bench-bot", v), actor="bench")
    vm = registry.versions
    ops = 0
    t = time.perf_counter()
    for env in ("dev", "staging", "prod"):
        for v in VERSIONS:
            vm.promote("bench-bot", v, env, actor="bench")
            ops += 1
        for _ in range(len(VERSIONS) - 1):
            vm.rollback("bench-bot", env, actor="bench", reason="bench")
            ops += 1
    switch_s = time.perf_counter() - t
    print(f"[{label}] seeded {executions} executions in {seeded:.1f}s")
    print(f"[{label}] promotions+rollbacks: {ops} in {switch_s:.2f}s = {ops / switch_s:.0f}/s")
    day_ago = datetime.now(timezone.utc) - timedelta(days=1)
    for name, fn in [
        ("version_stats", lambda: version_stats(engine, "bench-bot")),
        ("environment_stats", lambda: environment_stats(engine, "bench-bot")),
        ("environment_overview", lambda: environment_overview(engine, "bench-bot")),
        ("environment_overview(last 24 h)", lambda: environment_overview(engine, "bench-bot", since=day_ago)),
        ("audit_log(limit=200)", lambda: audit_log(engine, name="bench-bot")),
        ("environment_states", lambda: environment_states(engine)),
    ]:
        print(f"[{label}] {name}: median {median_ms(fn):.1f} ms")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run(f"sqlite:///{tmp}/bench.db", "sqlite", args.executions)
    if args.db in ("postgresql", "both"):
        import psycopg
        from sqlalchemy.engine import make_url

        admin = make_url(PG_ADMIN)
        name = f"agentotel_bench_{uuid.uuid4().hex[:8]}"
        conninfo = f"host={admin.host} port={admin.port or 5432} user={admin.username} dbname={admin.database}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            run(admin.set(database=name).render_as_string(hide_password=False), "postgresql", args.executions)
        finally:
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
