"""What projects cost ingest (issue 20): the receiver's stamp and the drain's write path, in process.

For the same OTLP requests (``benchmarks/ingest.py``'s GenAI traces, 512 spans per request), three
variants, interleaved ``--repeat`` times on a fresh migrated warehouse each (SQLite and PostgreSQL):

- ``off``: as before projects — no stamp, and the writer neither filters by project nor writes project_id
  (the column takes its server default), nor sets ``agentotel.project``;
- ``default``: a static key (project ``default``): the receiver only checks the resources for a client's
  ``agentotel.project``; the writer scopes its reads, stamps rows, sets the setting on PostgreSQL;
- ``project``: a project key: the receiver adds the attribute to every resource and re-encodes the
  request; decode reads it; the writer as for ``default``.

Each run times, per span: the receiver's stamp (decode is left out: the same for all), and the drain's
write (parse → decode → pipeline → writer, committed). CPU seconds of this process (the database server's
are not counted on PostgreSQL) and wall time; medians over the repeats; the load average before and after.

    .venv/bin/python benchmarks/tenancy_cost.py [--spans 20000] [--repeat 3] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentotel.core.settings import ReceiverSettings  # noqa: E402
from agentotel.otlp_receiver.codec import TRACES, decode_proto  # noqa: E402
from agentotel.otlp_receiver.ingest import build_request_writer  # noqa: E402
from agentotel.otlp_receiver.tenancy import stamp_project  # noqa: E402
from agentotel.warehouse.engine import create_db_engine  # noqa: E402
from agentotel.warehouse.migrate import upgrade  # noqa: E402
from benchmarks.ingest import PG_ADMIN, build_requests  # noqa: E402

VARIANTS = ("off", "default", "project")
TIME_LIMIT_S = 600


def fresh(kind: str) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        directory = Path(tempfile.mkdtemp(prefix="agentotel-tenancy-"))
        url = f"sqlite:///{directory}/bench.db"
        cleanup = lambda: shutil.rmtree(directory, ignore_errors=True)  # noqa: E731
    else:
        import psycopg

        name = f"agentotel_tenancy_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"

        def cleanup() -> None:
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()
    return url, cleanup


def run(kind: str, variant: str, bodies: list[bytes], spans: int) -> dict[str, float]:
    url, cleanup = fresh(kind)
    engine = create_db_engine(url)
    try:
        writer = build_request_writer(engine, ReceiverSettings())
        if variant == "off":
            writer.pipeline.consumer._projects = False  # the writer as before projects
        project = "alpha" if variant == "project" else "default"
        # the receiver: its stamp on each decoded request (and the re-encoding it makes necessary)
        stamped: list[bytes] = []
        stamp_cpu = 0.0
        for body in bodies:
            if variant == "off":
                stamped.append(body)
                continue
            request = decode_proto(TRACES, body)  # the same for every variant: not timed
            started = time.process_time()
            changed = stamp_project(request, "traces", project)
            stamped.append(request.SerializeToString() if changed else body)
            stamp_cpu += time.process_time() - started
        # the drain: parse back, decode, pipeline, write (one commit per request of 512 spans)
        cpu1, wall1 = time.process_time(), time.perf_counter()
        deadline = time.monotonic() + TIME_LIMIT_S
        for body in stamped:
            request = TRACES.request_type()
            request.ParseFromString(body)
            writer.write([(TRACES, request)])
            if time.monotonic() > deadline:
                raise SystemExit("time limit reached")
        write_cpu, write_wall = time.process_time() - cpu1, time.perf_counter() - wall1
        return {"stamp_us": stamp_cpu / spans * 1e6, "write_cpu_us": write_cpu / spans * 1e6,
                "spans_per_s": spans / write_wall}  # fmt: skip
    finally:
        engine.dispose()
        cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    bodies = build_requests(args.spans, 512, random.Random(7))
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    print(f"tenancy cost: {args.spans} spans, requests of 512, {args.repeat} interleaved repeats, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")  # fmt: skip
    print(f"{'db':<11}{'variant':<9}{'stamp µs/span':>14}{'write CPU µs/span':>19}{'write spans/s':>15}  (medians)")
    for kind in kinds:
        results: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
        for _ in range(args.repeat):
            for variant in VARIANTS:
                results[variant].append(run(kind, variant, bodies, args.spans))
        base = statistics.median(r["write_cpu_us"] for r in results["off"])
        for variant in VARIANTS:
            rows = results[variant]
            stamp = statistics.median(r["stamp_us"] for r in rows)
            cpu = statistics.median(r["write_cpu_us"] for r in rows)
            rate = statistics.median(r["spans_per_s"] for r in rows)
            print(f"{kind:<11}{variant:<9}{stamp:>14.2f}{cpu:>19.1f}{rate:>15.0f}  "
                  f"CPU {100 * ((cpu + stamp) / base - 1):+.1f}% vs off", flush=True)  # fmt: skip
    print(f"load after: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
