"""Rollup refresh after a sparse 7-day back-fill: the old single-transaction per-range refresh vs
``refresh_minutes`` (merged ranges, 2-hour windows, one short transaction each).

Prints total seconds and the longest write transaction (how long other writers wait) for each.
Small scale by design (a few thousand executions): it measures the per-range and per-transaction cost.

    .venv/bin/python benchmarks/rollup_backfill.py [--executions 2000] [--days 7] [--db sqlite|URL]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import event

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from agentotel.warehouse.engine import create_db_engine  # noqa: E402
from agentotel.warehouse.migrate import upgrade  # noqa: E402
from agentotel.warehouse.rollups import FAMILIES, _minute_time, minute_ranges, rebuild_range, refresh_minutes  # noqa: E402
from tests.warehouse.support import generate, load  # noqa: E402


def legacy_refresh(engine, minutes) -> int:
    """The refresh before merging/chunking: every run of minutes, every family, one transaction."""
    written = 0
    with engine.connect() as conn:
        conn.info["write"] = True
        with conn.begin():
            for family in FAMILIES.values():
                for lo, hi in minute_ranges(minutes):
                    written += rebuild_range(conn, family, _minute_time(lo), _minute_time(hi))
    return written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--executions", type=int, default=2000)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--db", default="sqlite", help="sqlite, or a migrated empty PostgreSQL URL")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    url = f"sqlite:///{tmp}/bench.db" if args.db == "sqlite" else args.db
    engine = create_db_engine(url)
    upgrade(engine)
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    data = generate(args.executions, start, timedelta(days=args.days), seed=11)
    load(engine, data)
    minutes = {int(r["start_time"].timestamp()) // 60 for r in data["spans"]}
    print(f"{args.executions} executions, {len(data['spans'])} spans over {args.days} days: "
          f"{len(minutes)} minutes in {len(minute_ranges(minutes))} runs; {os.getloadavg()[0]:.2f} load")  # fmt: skip
    spans: list[float] = []
    opened: dict[int, float] = {}
    event.listen(engine, "begin", lambda conn: opened.__setitem__(id(conn), time.perf_counter()))
    event.listen(engine, "commit", lambda conn: spans.append(time.perf_counter() - opened.pop(id(conn), time.perf_counter())))
    for name, run in (("before (one transaction per call, per run)", legacy_refresh), ("after (merged, 2 h windows)", refresh_minutes)):
        spans.clear()
        t0 = time.perf_counter()
        written = run(engine, minutes)
        elapsed = time.perf_counter() - t0
        print(f"{name}: {elapsed:.2f} s, {written} rows, {len(spans)} transactions, longest {max(spans):.2f} s")
    engine.dispose()


if __name__ == "__main__":
    main()
