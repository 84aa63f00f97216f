"""Dashboard benchmark: server-side render time of every page on a large PostgreSQL warehouse.

Loads ``--spans`` spans (default 1,000,000 = 250,000 executions over the last 24 hours, the generator and
COPY loader of ``benchmarks/analytics.py``) into a fresh PostgreSQL database (dropped afterwards), builds
the rollups, adds registry versions, two evaluation runs and a firing alert, then renders each page with
Streamlit's AppTest (the page script end to end: queries, frames, charts) for the "Last hour" and
"Last 24 hours" ranges. Reported per page: cold (data cache cleared before each run) and warm (cached)
median of ``--repeat`` runs. Target: cold ≤ 1 s per page.

    .venv/bin/python benchmarks/dashboard.py [--spans 1000000] [--repeat 3] [--url URL]

``--url`` renders against an already loaded warehouse instead (nothing is loaded or dropped).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = ("overview", "traces", "llm", "tools", "agents", "evaluations", "alerts", "system", "analytics")
RANGES = ("Last hour", "Last 24 hours")


def render_ms(page: str, time_range: str, repeat: int, cold: bool) -> tuple[float, bool]:
    from streamlit.testing.v1 import AppTest

    samples, clean = [], True
    for _ in range(repeat):
        if cold:
            from agentotel.dashboard import data

            data.clear()
        at = AppTest.from_file(str(ROOT / "dashboard" / "views" / f"{page}.py"), default_timeout=600)
        at.session_state["time_range"] = time_range
        started = time.perf_counter()
        at.run()
        samples.append((time.perf_counter() - started) * 1000)
        errors = [e.value for e in at.error if not e.value.startswith("Regression in")]  # a finding, not a failure
        clean = clean and not at.exception and not errors
    return statistics.median(samples), clean


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", help="an already loaded warehouse to render against (kept)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("streamlit").setLevel(logging.ERROR)

    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.rollups import refresh_rollups
    from benchmarks.analytics import populate
    from tests.conftest import drop_postgres_database, new_postgres_database
    from tests.dashboard.support import seed_components, seed_telemetry

    end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    url = args.url or new_postgres_database(migrated=True)
    try:
        engine = create_db_engine(url)
        if not args.url:
            print(f"loading {args.spans:,} spans into PostgreSQL …", flush=True)
            load_s = populate("postgresql", url, args.spans, end)
            facts = seed_components(engine, seed_telemetry(engine))
            print(f"\nloaded in {load_s:.1f} s; {len(facts.run_ids)} evaluation runs, alert #{facts.alert_id}")
        t = time.perf_counter()
        refresh_rollups(engine, now=datetime.now(timezone.utc) + timedelta(minutes=1))
        print(f"rollups refreshed in {time.perf_counter() - t:.1f} s")
        os.environ["AGENTOTEL_DASHBOARD_DB_URL"] = url
        for name in ("AGENTOTEL_DASHBOARD_USERS", "AGENTOTEL_DASHBOARD_API_KEYS"):
            os.environ.pop(name, None)
        render_ms("overview", RANGES[0], 1, cold=True)  # imports and first connections
        print(f"\n{'page':12s} {'range':14s} {'cold (ms)':>10s} {'warm (ms)':>10s}  ok")
        worst = 0.0
        for page in PAGES:
            for time_range in RANGES:
                cold, ok_cold = render_ms(page, time_range, args.repeat, cold=True)
                warm, ok_warm = render_ms(page, time_range, args.repeat, cold=False)
                worst = max(worst, cold)
                print(f"{page:12s} {time_range:14s} {cold:10.0f} {warm:10.0f}  {'yes' if ok_cold and ok_warm else 'NO'}",
                      flush=True)
        print(f"\nslowest cold render: {worst:.0f} ms (target ≤ 1000 ms)")
        engine.dispose()
    finally:
        from agentotel.dashboard import data

        try:
            data.engine(url).dispose()
        except Exception:  # noqa: BLE001
            pass
        if not args.url:
            drop_postgres_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
