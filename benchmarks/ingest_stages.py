"""Where ingest time goes, in process: µs per span for each pipeline step, and the database's own floor.

Runs the receiver's pipeline (decode → normalize → cost → redact → sample → writer) on the traces of
``benchmarks/ingest.py`` into a fresh SQLite database, timing each step. Then it replays the exact
``executemany`` statements the writer issued into another fresh database, timing only the driver calls
and commits: the cost SQLite itself needs for these rows, which no Python change can remove.

    .venv/bin/python benchmarks/ingest_stages.py [--spans 32768]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentotel.processors.decode import DecodeLimits, decode_request  # noqa: E402
from agentotel.processors.pipeline import build_trace_pipeline  # noqa: E402
from agentotel.processors.records import SpanBatch  # noqa: E402
from agentotel.warehouse.engine import create_db_engine  # noqa: E402
from agentotel.warehouse.migrate import upgrade  # noqa: E402
from benchmarks.ingest import build_requests  # noqa: E402

REQUESTS_PER_BATCH = 16  # 8,192 spans: what the drain hands the writer under load


def run_pipeline(url: str, requests: list[bytes]) -> tuple[dict[str, float], list[tuple[str, list]]]:
    """Seconds per step, and every ``executemany`` (statement, rows) the writer issued."""
    engine = create_db_engine(url)
    upgrade(engine)
    statements: list[tuple[str, list]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(conn, cursor, statement, parameters, context, executemany) -> None:
        if executemany:
            statements.append((statement, list(parameters)))

    pipeline = build_trace_pipeline(engine)
    limits = DecodeLimits()
    seconds: dict[str, float] = {}

    def timed(name: str, step):
        started = time.perf_counter()
        result = step()
        seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - started
        return result

    def decode(body: bytes) -> list:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        return decode_request(request, limits).spans

    for i in range(0, len(requests), REQUESTS_PER_BATCH):
        batch = SpanBatch()
        for body in requests[i : i + REQUESTS_PER_BATCH]:
            batch.spans.extend(timed("decode", lambda body=body: decode(body)))
        for stage in pipeline.stages:
            batch = timed(type(stage).__name__.lower(), lambda stage=stage, batch=batch: stage.process(batch))
        timed("write (all)", lambda batch=batch: pipeline.consumer.consume(batch))
    engine.dispose()
    return seconds, statements


def replay(path: Path, schema: list[str], statements: list[tuple[str, list]]) -> float:
    """Seconds SQLite needs for the writer's statements alone (fresh file, the receiver's pragmas)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA page_size=16384")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for sql in schema:
        conn.execute(sql)
    started = time.perf_counter()
    for sql, rows in statements:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=32_768)
    args = parser.parse_args()
    requests = build_requests(args.spans, 512, random.Random(1))
    workdir = Path(tempfile.mkdtemp(prefix="agentotel-stages-"))
    try:
        seconds, statements = run_pipeline(f"sqlite:///{workdir}/pipeline.db", requests)
        with sqlite3.connect(workdir / "pipeline.db") as source:
            schema = [row[0] for row in source.execute(
                "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type != 'table'")]  # fmt: skip
        floor = replay(workdir / "replay.db", schema, statements)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    n = args.spans
    total = sum(seconds.values())
    print(f"ingest stages: {n} spans in process, SQLite, batches of {REQUESTS_PER_BATCH * 512} spans")
    for name, value in seconds.items():
        print(f"  {name:<14}{value / n * 1e6:8.1f} µs/span")
    print(f"  {'total':<14}{total / n * 1e6:8.1f} µs/span  -> {n / total:,.0f} spans/s on one core")
    print(f"  SQLite alone (the writer's executemany + commit, replayed): {floor / n * 1e6:.1f} µs/span "
          f"-> at most {n / floor:,.0f} spans/s even with no Python work at all")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
