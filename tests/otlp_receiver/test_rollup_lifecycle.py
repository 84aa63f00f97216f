"""The receiver's rollups across stops and starts: the final flush always runs on a clean stop, and a start
after an unclean stop catches up in the background (short windows) while reads fall back to raw rows."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.rollup_models import RollupExecution, RollupState
from agentotel.warehouse.rollup_schedule import RollupSchedule
from agentotel.warehouse.rollups import TOTAL, catch_up, refresh_rollups
from tests.support.receiver import start_receiver
from tests.warehouse.support import generate, load

T0 = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(days=1)


def _rolled(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.coalesce(func.sum(RollupExecution.count), 0)).where(
                RollupExecution.width_s == 60, RollupExecution.agent_name != TOTAL
            )
        ).scalar()


def test_the_final_flush_runs_even_when_the_drain_is_still_busy(db_url, tmp_path):
    server = start_receiver(db_url, str(tmp_path / "spool"))
    server.rollups._catch_up.join(30)  # an empty warehouse: nothing to catch up
    data = generate(30, T0, timedelta(minutes=20), seed=21)
    load(server.engine, data)
    server.rollups.minutes_changed({int(r["start_time"].timestamp()) // 60 for r in data["spans"]})
    server.drain.is_alive = lambda: True  # the old stop path skipped the flush here
    server.drain.failures = 1
    server.stop()
    engine = create_db_engine(db_url)
    try:
        assert _rolled(engine) == 30
        assert not server.rollups.pending
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_start_after_an_unclean_stop_catches_up_in_the_background(db_url, tmp_path):
    engine = create_db_engine(db_url)
    try:
        load(engine, generate(200, T0 - timedelta(hours=10), timedelta(hours=10), seed=22))  # never rolled up
        started = time.monotonic()
        server = start_receiver(db_url, str(tmp_path / "spool"))
        try:
            assert time.monotonic() - started < 30
            # reads answer meanwhile: minutes past the watermark come from raw rows
            window = (T0 - timedelta(hours=11), T0 + timedelta(hours=1))
            assert AnalyticsEngine(engine, cache_ttl=0).get_aggregations("executions", start=window[0], end=window[1])[
                "value"
            ].iloc[0] == 200
            server.rollups._catch_up.join(120)
            assert not server.rollups._catch_up.is_alive()
            assert _rolled(engine) == 200
            with engine.connect() as conn:
                assert len(conn.execute(select(RollupState.name)).all()) == 3
        finally:
            server.stop()
    finally:
        engine.dispose()


@pytest.mark.slow
def test_catch_up_equals_refresh_rollups_in_windows(engine):
    load(engine, generate(150, T0 - timedelta(hours=7), timedelta(hours=7), seed=23))
    now = T0 + timedelta(minutes=5)
    assert catch_up(engine, now=now) > 0
    with engine.connect() as conn:
        first = sorted(map(tuple, conn.execute(select(RollupExecution)).all()))
        marks = sorted(map(tuple, conn.execute(select(RollupState.name, RollupState.watermark)).all()))
    refresh_rollups(engine, now=now)
    with engine.connect() as conn:
        assert sorted(map(tuple, conn.execute(select(RollupExecution)).all())) == first
        assert sorted(map(tuple, conn.execute(select(RollupState.name, RollupState.watermark)).all())) == marks
    cancel = threading.Event()
    cancel.set()
    assert catch_up(engine, now=now, cancel=cancel) == 0


def test_a_flush_waits_for_the_refresh_in_progress(engine):
    schedule = RollupSchedule(engine)
    entered, release, calls = threading.Event(), threading.Event(), []

    def slow(_engine, minutes):
        calls.append(set(minutes))
        entered.set()
        release.wait(10)
        return len(minutes)

    schedule.add({1, 2}, now=0.0)
    ticking = threading.Thread(target=schedule.flush, args=(slow,))
    ticking.start()
    assert entered.wait(10)
    schedule.add({3}, now=1.0)
    flushing = threading.Thread(target=schedule.flush, args=(lambda _e, m: calls.append(set(m)) or len(m),))
    flushing.start()
    time.sleep(0.2)
    assert len(calls) == 1  # the flush waits instead of racing the running refresh
    release.set()
    ticking.join(10)
    flushing.join(10)
    assert calls == [{1, 2}, {3}] and not schedule.pending
