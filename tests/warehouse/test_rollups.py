"""Rollups equal a direct scan, are idempotent, pick up late rows, and merge sketches within the bound."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, event, func, select

from agentotel.core.utc import as_utc
from agentotel.processors.records import SpanBatch, SpanRecord
from agentotel.processors.writer import WarehouseWriter
from agentotel.warehouse import rollups, sketch
from agentotel.warehouse.analytics import METRICS, AnalyticsEngine
from agentotel.warehouse.rollup_models import RollupExecution, RollupLLM, RollupState, RollupTool
from agentotel.warehouse.rollup_schedule import RollupSchedule
from agentotel.warehouse.rollups import (
    FAMILIES,
    TOTAL,
    chunk_ranges,
    merge_ranges,
    minute_ranges,
    rebuild_minutes,
    rebuild_range,
    rebuild_rollups,
    refresh_minutes,
    refresh_rollups,
    segments,
    window_minutes,
)
from tests.warehouse.support import generate, load

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)
SPAN = timedelta(hours=3)
NOW = T0 + SPAN + timedelta(minutes=5)


def _pair(engine) -> tuple[AnalyticsEngine, AnalyticsEngine]:
    return AnalyticsEngine(engine, cache_ttl=0, use_rollups=False), AnalyticsEngine(engine, cache_ttl=0)


def _assert_close(direct: pd.DataFrame, rolled: pd.DataFrame, metric: str) -> None:
    assert list(direct.columns) == list(rolled.columns)
    assert len(direct) == len(rolled) and len(direct) > 0
    pd.testing.assert_frame_equal(direct.drop(columns="value"), rolled.drop(columns="value"))
    a, b = direct["value"].to_numpy(float), rolled["value"].to_numpy(float)
    assert np.array_equal(np.isnan(a), np.isnan(b)), metric
    mask = ~np.isnan(a)
    if METRICS[metric].kind == "quantile":
        assert np.all(np.abs(b[mask] - a[mask]) <= sketch.RELATIVE_ERROR * np.abs(a[mask]) + 1e-9), metric
    else:
        np.testing.assert_allclose(b[mask], a[mask], rtol=1e-9, atol=1e-9, err_msg=metric)


@pytest.mark.slow
def test_rollups_equal_direct_scan(engine):
    load(engine, generate(600, T0, SPAN, seed=1))
    assert refresh_rollups(engine, now=NOW) > 0
    direct, rolled = _pair(engine)
    # an unaligned start exercises raw head + minute rows + hour rows + raw tail
    start, end = T0 + timedelta(minutes=7, seconds=13), T0 + SPAN
    for i, (metric, group) in enumerate([
        ("executions", "agent"), ("success_rate", None), ("error_rate", "service"), ("latency_p95", None),
        ("latency_p50", "agent"), ("llm_calls", "model"), ("llm_error_rate", "provider"), ("llm_latency_p99", None),
        ("tokens", "model"), ("input_tokens", None), ("output_tokens", "agent"), ("cost", "provider"),
        ("tool_calls", "tool"), ("tool_error_rate", "tool"), ("latency_avg", None), ("latency_p95", "agent"),
    ]):
        for granularity in ("5min", "1h")[i % 2 :][:1] if i > 1 else ("5min", "1h"):
            _assert_close(
                direct.get_time_series(metric, start, end, granularity, group_by=group),
                rolled.get_time_series(metric, start, end, granularity, group_by=group),
                metric,
            )
        _assert_close(
            direct.get_aggregations(metric, group, start=start, end=end).sort_values(group or "value").reset_index(drop=True),
            rolled.get_aggregations(metric, group, start=start, end=end).sort_values(group or "value").reset_index(drop=True),
            metric,
        )
    filters = {"agent": ["planner", "coder"], "model": "gpt-4o"}
    _assert_close(
        direct.get_time_series("cost", start, end, "10min", filters=filters),
        rolled.get_time_series("cost", start, end, "10min", filters=filters),
        "cost",
    )


def test_refresh_is_idempotent_and_picks_up_late_rows(engine):
    data = generate(300, T0, SPAN, seed=2)
    late = {k: [r for r in v if r.get("start_time", r.get("timestamp")) >= T0 + SPAN - timedelta(minutes=6)] for k, v in data.items()}
    early = {k: [r for r in v if r not in late[k]] for k, v in data.items()}
    load(engine, early)
    refresh_rollups(engine, now=NOW)
    with engine.connect() as conn:
        before = conn.execute(select(func.count(), func.sum(RollupExecution.count)).where(RollupExecution.width_s == 60, RollupExecution.agent_name != TOTAL)).one()
    refresh_rollups(engine, now=NOW)
    with engine.connect() as conn:
        again = conn.execute(select(func.count(), func.sum(RollupExecution.count)).where(RollupExecution.width_s == 60, RollupExecution.agent_name != TOTAL)).one()
    assert again == before and before[1] == len(early["agent_executions"])
    load(engine, late)  # rows for minutes that were already rolled up
    refresh_rollups(engine, now=NOW)
    with engine.connect() as conn:
        total = conn.execute(select(func.sum(RollupExecution.count)).where(RollupExecution.width_s == 60, RollupExecution.agent_name != TOTAL)).scalar()
        hours = conn.execute(select(func.sum(RollupExecution.count)).where(RollupExecution.width_s == 3600, RollupExecution.agent_name != TOTAL)).scalar()
        calls = conn.execute(select(func.sum(RollupLLM.count)).where(RollupLLM.width_s == 60, RollupLLM.agent_name != TOTAL)).scalar()
        totals = conn.execute(select(func.sum(RollupExecution.count)).where(RollupExecution.agent_name == TOTAL)).scalar()
        tens = conn.execute(select(func.sum(RollupExecution.count)).where(RollupExecution.width_s == 600, RollupExecution.agent_name != TOTAL)).scalar()
    assert total == hours == tens == 300
    assert totals == 4 * 300  # one TOTAL row per minute, 10 minutes, hour and day, equal to the sum of the cells
    assert calls == len(data["llm_calls"])


def test_rebuild_picks_up_backfill_older_than_lateness(engine):
    load(engine, generate(100, T0 + timedelta(hours=2), timedelta(hours=1), seed=3))
    refresh_rollups(engine, now=NOW)
    old = generate(50, T0 - timedelta(days=1), timedelta(hours=1), seed=4)
    load(engine, old)
    refresh_rollups(engine, now=NOW)
    rolled = AnalyticsEngine(engine, cache_ttl=0)
    window = (T0 - timedelta(days=1), T0)
    assert rolled.get_aggregations("executions", start=window[0], end=window[1])["value"].iloc[0] == 0  # outside lateness
    rebuild_rollups(engine, *window)
    assert rolled.get_aggregations("executions", start=window[0], end=window[1])["value"].iloc[0] == 50


def test_rollups_fresh_after_watermark_without_refresh(engine):
    load(engine, generate(100, T0, timedelta(hours=1), seed=5))
    refresh_rollups(engine, now=NOW)
    load(engine, generate(40, T0 + timedelta(hours=1, minutes=30), timedelta(minutes=10), seed=6))
    rolled = AnalyticsEngine(engine, cache_ttl=0)
    assert rolled.get_aggregations("executions", start=T0, end=NOW)["value"].iloc[0] == 140  # raw tail after the watermark


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_sketch_quantile_within_relative_error(q):
    rng = np.random.default_rng(7)
    values = np.concatenate([rng.lognormal(5, 1.5, 5000), [0.0, 0.0]])
    parts = np.array_split(values, 37)
    merged = sketch.merge(sketch.from_values(p) for p in parts)
    assert sum(merged.values()) == len(values)
    exact = np.percentile(values, q * 100, method="inverted_cdf")
    assert abs(sketch.quantile(merged, q) - exact) <= sketch.RELATIVE_ERROR * exact
    assert sketch.quantile({}, q) != sketch.quantile({}, q)  # NaN for an empty sketch


@pytest.mark.parametrize("grid", [True, False], ids=["counted-on-a-grid", "sorted"])
def test_grouped_quantiles_equal_merged_sketch_quantiles(grid, monkeypatch):
    if not grid:  # the path for a (groups × buckets) grid too large to hold
        monkeypatch.setattr(sketch, "DENSE_CELLS", 0)
    rng = np.random.default_rng(8)
    sketches = [sketch.from_values(rng.lognormal(4, 1, rng.integers(0, 30))) for _ in range(200)]
    sketches[3] = {}
    sketches[4] = sketch.from_values([0.0, 0.0, 5.0])
    sketches[5] = sketch.from_values([0.0, 0.0])
    sketches[6] = sketch.from_values([0.004, 0.2, 1e6])  # buckets below 1 ms and far above the rest
    codes = rng.integers(0, 17, len(sketches))
    codes[codes == 16] = 15  # group 16 stays empty
    codes[5] = 14
    codes[codes == 14] = 13
    codes[5] = 14  # group 14 holds zero durations only
    got = sketch.grouped_quantiles(codes, sketches, 17, (0.5, 0.95, 0.99))
    for g in range(17):
        merged = sketch.merge(s for s, c in zip(sketches, codes, strict=True) if c == g)
        for j, q in enumerate((0.5, 0.95, 0.99)):
            expected = sketch.quantile(merged, q)
            assert (np.isnan(expected) and np.isnan(got[g, j])) or got[g, j] == pytest.approx(expected), (g, q)


def test_segments_cover_a_range_with_coarse_rows_in_the_middle():
    lo, hi = datetime(2026, 1, 1, 9, 47, tzinfo=timezone.utc), datetime(2026, 1, 1, 13, 23, tzinfo=timezone.utc)
    parts = segments(lo, hi, (600, 3600))
    assert [(w, a.strftime("%H:%M"), b.strftime("%H:%M")) for w, a, b in parts] == [
        (60, "09:47", "09:50"), (600, "09:50", "10:00"), (3600, "10:00", "13:00"), (600, "13:00", "13:20"), (60, "13:20", "13:23"),
    ]
    assert segments(lo, hi, ()) == [(60, lo, hi)]


def test_rollup_schedule_rebuilds_a_minute_once_it_stops_changing_or_has_waited(engine):
    schedule = RollupSchedule(engine, max_delay=60.0)
    schedule.add({100, 101}, now=0.0)
    schedule.tick(now=0.0)
    assert set(schedule.pending) == {100, 101}  # both still being written
    schedule.add({101}, now=5.0)
    schedule.tick(now=5.0)
    assert set(schedule.pending) == {101}  # 100 stopped changing: rebuilt
    schedule.add({101}, now=61.0)
    schedule.tick(now=61.0)
    assert not schedule.pending  # 101 kept changing but waited 60 s: rebuilt
    schedule.add({102}, now=62.0)
    schedule.flush()
    assert not schedule.pending


def test_the_span_writer_reports_its_minutes_to_the_schedule(engine):
    schedule = RollupSchedule(engine, full_interval=float("inf"))
    start = int(T0.timestamp()) * 10**9
    span = SpanRecord(trace_id="1" * 32, span_id="2" * 16, parent_span_id=None, name="invoke_agent a", kind="INTERNAL",
                      start_ns=start, end_ns=start + 10**9, status_code="OK", status_message=None, attributes={},
                      resource_attributes={}, events=[], links=[], span_type="agent", agent_name="a")  # fmt: skip
    WarehouseWriter(engine, rollups=schedule).consume(SpanBatch(spans=[span]))
    assert set(schedule.pending) == {start // (60 * 10**9)}
    schedule.flush()
    assert not schedule.pending
    with engine.connect() as conn:
        rows = conn.execute(select(RollupExecution.agent_name, RollupExecution.count)
                            .where(RollupExecution.width_s == 60)).all()  # fmt: skip
    assert sorted(map(tuple, rows)) == sorted([("a", 1), (TOTAL, 1)])


def test_a_minute_dirtied_while_it_is_refreshed_stays_pending(engine):
    schedule = RollupSchedule(engine)

    def refresh(_engine, minutes):  # a writer reports minute 7 again while the refresh runs
        schedule.minutes_changed({7})
        return len(minutes)

    schedule.add({7, 8}, now=0.0)
    schedule.flush(refresh)
    assert set(schedule.pending) == {7}
    schedule.flush(lambda _engine, minutes: None)  # another refresher holds the lock: nothing is dropped
    assert set(schedule.pending) == {7}


def test_rebuild_minutes_leaves_the_watermark(engine):
    load(engine, generate(200, T0, SPAN, seed=5))
    refresh_rollups(engine, now=NOW)
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(RollupExecution.__table__)).scalar()
        state = conn.execute(select(RollupState.watermark)).scalars().all()
    minute = int(T0.timestamp()) // 60
    assert rebuild_minutes(engine, {minute, minute + 1, minute + 30}) > 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RollupExecution.__table__)).scalar() == before
        assert conn.execute(select(RollupState.watermark)).scalars().all() == state


def _rollup_rows(engine) -> dict[str, list[tuple]]:
    out = {}
    with engine.connect() as conn:
        for table in (RollupExecution.__table__, RollupLLM.__table__, RollupTool.__table__):
            rows = conn.execute(select(table)).all()
            out[table.name] = sorted(
                tuple(round(v, 6) if isinstance(v, float) else (sorted(v.items()) if isinstance(v, dict) else v) for v in row)
                for row in rows
            )
    return out


def test_merged_ranges_are_cut_into_hour_aligned_windows():
    assert merge_ranges([(0, 2), (10, 12), (200, 201)], gap=30) == [(0, 12), (200, 201)]
    day = 24 * 60
    chunks = chunk_ranges([(5, 3 * day)], span=120)
    assert len(chunks) == 36 and chunks[0] == [(5, 120)] and chunks[-1] == [(3 * day - 120, 3 * day)]
    assert chunk_ranges([(0, 1), (100, 101), (130, 131)], span=120) == [[(0, 1), (100, 120)], [(120, 131)]]


def test_a_sparse_window_is_rebuilt_in_one_pass_and_equals_a_full_rebuild(engine):
    """Sparse minutes (a few rows each, hours apart at night): each day-wide window rebuilds its whole extent
    once (one read of the source rows per family), not one query and one pandas pass per run of minutes,
    and the rows equal a rebuild of everything."""
    data = generate(300, T0 - timedelta(days=2), timedelta(days=2), seed=13)
    load(engine, data)
    minutes = {int(r["start_time"].timestamp()) // 60 for r in data["spans"]}
    assert len(merge_ranges(minute_ranges(minutes))) > 10  # many separate runs
    source_read = re.compile(r"\bAS duration\b.*\bFROM agent_executions\b", re.S)  # rollups.raw_frame's select
    reads = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: reads.append(statement) if source_read.search(statement) else None)
    assert refresh_minutes(engine, minutes, now=NOW) > 0
    assert 1 <= len(reads) <= 3  # one pass per day window (2 days: 2 or 3 windows)
    windowed = _rollup_rows(engine)
    with engine.begin() as conn:
        for table in (RollupExecution.__table__, RollupLLM.__table__, RollupTool.__table__):
            conn.execute(delete(table))
    assert rebuild_rollups(engine, T0 - timedelta(days=3), T0 + timedelta(hours=1)) > 0
    assert _rollup_rows(engine) == windowed


@pytest.mark.slow
def test_a_sparse_backfill_refreshed_in_windows_equals_a_full_rebuild(engine, monkeypatch):
    """Sparse minutes over two days (many runs, merged and cut into windows, one transaction each) give
    exactly the rows of one rebuild of the whole range, and the watermark moves to the newest row. At this
    density a window is a day; held to a few rows per window, the same back-fill takes 2-hour windows."""
    data = generate(400, T0 - timedelta(days=2), timedelta(days=2), seed=12)
    load(engine, data)
    minutes = {int(r["start_time"].timestamp()) // 60 for r in data["spans"]}
    assert window_minutes(engine, minute_ranges(minutes)) == 1440
    monkeypatch.setattr(rollups, "WINDOW_ROWS", 10)
    assert window_minutes(engine, minute_ranges(minutes)) == 120
    commits = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    assert refresh_minutes(engine, minutes, now=NOW) > 0
    assert len(commits) > 10  # one short transaction per 2-hour window, not one for everything
    windowed = _rollup_rows(engine)
    with engine.connect() as conn:
        marks = dict(conn.execute(select(RollupState.name, RollupState.watermark)).all())
    newest = max(r["start_time"] for r in data["spans"])
    assert all(as_utc(mark) <= newest for mark in marks.values()) and as_utc(marks["llm"]) > newest - timedelta(minutes=5)
    with engine.begin() as conn:
        for table in (RollupExecution.__table__, RollupLLM.__table__, RollupTool.__table__):
            conn.execute(delete(table))
    with engine.connect() as conn:
        conn.info["write"] = True
        with conn.begin():
            for family in FAMILIES.values():
                rebuild_range(conn, family, T0 - timedelta(days=3), T0 + timedelta(hours=1))
    assert _rollup_rows(engine) == windowed
    assert rebuild_rollups(engine, T0 - timedelta(days=3), T0 + timedelta(hours=1)) > 0  # windowed again: unchanged
    assert _rollup_rows(engine) == windowed
