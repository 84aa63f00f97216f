"""Throughput of the OTLP metrics and logs writers (``write_metrics`` / ``write_logs``) into the warehouse.

Builds export requests as the OTel SDK sends them (gen_ai.client.* histograms and counters over many series;
GenAI content events and plain logs of 300-byte bodies), writes them on SQLite and PostgreSQL, and prints
data points/s and log records/s, plus the cost of a re-export (all duplicates). Bounded in size and time.

    .venv/bin/python benchmarks/interop_writes.py [--points 20000] [--logs 10000] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from contextlib import contextmanager

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

PG_ADMIN = os.environ.get("AGENTOTEL_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
BOUNDS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
BODY = ("The customer asked about order 1234 and the refund policy for damaged items. " * 4)[:300]


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def metric_requests(points: int, per_request: int, rng: random.Random) -> list[ExportMetricsServiceRequest]:
    """Half histogram points (gen_ai.client.operation.duration), half counter points, distinct series."""
    requests = []
    now = time.time_ns()
    for start in range(0, points, per_request):
        request = ExportMetricsServiceRequest()
        rm = request.resource_metrics.add()
        rm.resource.attributes.extend([kv("service.name", "bench"), kv("service.instance.id", "i-1")])
        sm = rm.scope_metrics.add()
        sm.scope.name = "agentotel.instrumentation.openai"
        duration = sm.metrics.add()
        duration.name, duration.unit = "gen_ai.client.operation.duration", "s"
        duration.histogram.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
        counter = sm.metrics.add()
        counter.name = "agent.requests"
        counter.sum.aggregation_temporality = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
        counter.sum.is_monotonic = True
        for i in range(start, min(start + per_request, points)):
            attrs = [kv("gen_ai.request.model", f"model-{i % 50}"), kv("gen_ai.operation.name", "chat"), kv("n", str(i))]
            if i % 2:
                p = duration.histogram.data_points.add()
                p.attributes.extend(attrs)
                p.start_time_unix_nano, p.time_unix_nano = now - 60 * 10**9, now
                p.count, p.sum = 10, rng.random() * 10
                p.explicit_bounds.extend(BOUNDS)
                p.bucket_counts.extend([1] * 10 + [0] * 5)
            else:
                p = counter.sum.data_points.add()
                p.attributes.extend(attrs)
                p.start_time_unix_nano, p.time_unix_nano = now - 60 * 10**9, now
                p.as_int = rng.randint(1, 100)
        requests.append(request)
    return requests


def log_requests(records: int, per_request: int) -> list[ExportLogsServiceRequest]:
    """A third GenAI content events (user message, choice), the rest plain logs, all tied to spans."""
    requests = []
    now = time.time_ns()
    for start in range(0, records, per_request):
        request = ExportLogsServiceRequest()
        rl = request.resource_logs.add()
        rl.resource.attributes.append(kv("service.name", "bench"))
        sl = rl.scope_logs.add()
        sl.scope.name = "opentelemetry.instrumentation.openai_v2"
        for i in range(start, min(start + per_request, records)):
            record = sl.log_records.add()
            record.time_unix_nano = now + i
            record.trace_id = uuid.uuid4().bytes
            record.span_id = uuid.uuid4().bytes[:8]
            if i % 3 == 0:
                record.event_name = "gen_ai.user.message"
                record.body.kvlist_value.values.append(kv("content", BODY))
            else:
                record.severity_number = 9
                record.body.string_value = f"{BODY} #{i}"
        requests.append(request)
    return requests


@contextmanager
def database(kind: str):
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade

    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_db_engine(f"sqlite:///{tmp}/bench.db")
            upgrade(engine)
            yield engine
            engine.dispose()
        return
    import psycopg

    name = f"agentotel_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = create_db_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(write, engine, requests) -> tuple[float, int]:
    started = time.perf_counter()
    total = sum(write(engine, request) for request in requests)
    return time.perf_counter() - started, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--logs", type=int, default=10_000)
    parser.add_argument("--per-request", type=int, default=1_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    from agentotel.processors.logs import write_logs
    from agentotel.processors.metrics import write_metrics

    metrics = metric_requests(args.points, args.per_request, random.Random(7))
    logs = log_requests(args.logs, args.per_request)
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    for kind in kinds:
        with database(kind) as engine:
            seconds, points = timed(write_metrics, engine, metrics)
            print(f"{kind:10s} write_metrics  {points:7d} points   {seconds:6.2f} s  {points / seconds:9.0f} points/s")
            seconds, _ = timed(write_metrics, engine, metrics)
            print(f"{kind:10s} re-export      {points:7d} points   {seconds:6.2f} s  {points / seconds:9.0f} points/s (no new rows)")
            seconds, records = timed(write_logs, engine, logs)
            print(f"{kind:10s} write_logs     {records:7d} records  {seconds:6.2f} s  {records / seconds:9.0f} records/s")


if __name__ == "__main__":
    main()
