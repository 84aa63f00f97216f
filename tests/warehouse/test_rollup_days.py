"""Issue 22: the day level of the rollups answers as the hour rows and the raw rows do, binary sketches
round-trip and merge exactly as the JSON ones did, revision analytics_0003 converts stored sketches and adds
day rows, and the failed-row reads use their partial indexes (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, Table, event, func, select, text

from agentotel.core.utc import as_utc
from agentotel.warehouse import failures, sketch
from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.migrate import alembic_config, upgrade
from agentotel.warehouse.rollup_models import RollupExecution, RollupTool
from agentotel.warehouse.rollups import (
    DAY,
    FAMILIES,
    HOUR,
    TOTAL,
    partials_from_raw,
    raw_frame,
    refresh_rollups,
)
from tests.warehouse.support import generate, load

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=timezone.utc)
DAYS = 3
NOW = T0 + timedelta(days=DAYS, minutes=5)


def test_binary_sketches_round_trip_and_merge_exactly_as_the_dicts():
    rng = np.random.default_rng(7)
    dicts = [sketch.from_values(rng.lognormal(4, 1.2, rng.integers(0, 40))) for _ in range(300)]
    dicts[5] = sketch.from_values([0.0, 0.0, 3.0, 1e7])  # the zero bucket and a large index
    blobs = [sketch.to_bytes(d) for d in dicts]
    assert all(sketch.from_bytes(b) == d for b, d in zip(blobs, dicts, strict=True))
    assert sketch.to_bytes({}) == b"" and sketch.from_bytes(None) == {}
    codes = rng.integers(0, 23, len(dicts))
    merged = sketch.merge_grouped(codes, blobs, 23)
    for g in range(23):
        expected = sketch.merge(d for d, c in zip(dicts, codes, strict=True) if c == g)
        assert sketch.from_bytes(merged[g]) == expected
        for q in (0.5, 0.95, 0.99):
            got = sketch.grouped_quantiles(codes, blobs, 23, (q,))[g, 0]
            want = sketch.quantile(expected, q)
            assert got == pytest.approx(want, rel=1e-12, nan_ok=True)  # np.power vs ** in the last bit
    # merging merged sketches changes nothing (day rows are merges of hour rows)
    again = sketch.merge_grouped(np.zeros(23, dtype=np.int64), merged, 1)[0]
    assert sketch.from_bytes(again) == sketch.merge(dicts)


def test_raw_partials_carry_the_sketch_of_their_values(engine):
    load(engine, generate(120, T0, timedelta(hours=2), seed=3))
    family = FAMILIES["tools"]
    with engine.connect() as conn:
        frame = raw_frame(conn, family, T0, T0 + timedelta(hours=2))
    partials = partials_from_raw(frame, family, HOUR)
    for row in partials.itertuples(index=False):
        cell = frame[(frame["t"].dt.floor("3600s") == row.bucket) & (frame["tool_name"] == row.tool_name)
                     & (frame["agent_name"] == row.agent_name) & (frame["service_name"] == row.service_name)]
        assert sketch.from_bytes(row.duration_sketch) == sketch.from_values(cell["duration"].to_numpy())


@pytest.mark.slow
def test_reads_over_days_equal_reads_over_hours_and_raw_rows(engine):
    data = generate(500, T0, timedelta(days=DAYS), seed=11)
    load(engine, data)
    assert refresh_rollups(engine, now=NOW) > 0
    with engine.connect() as conn:
        days = conn.execute(select(func.count(), func.sum(RollupExecution.count))
                            .where(RollupExecution.width_s == DAY, RollupExecution.agent_name != TOTAL)).one()
        hours = conn.execute(select(func.sum(RollupExecution.count))
                             .where(RollupExecution.width_s == HOUR, RollupExecution.agent_name != TOTAL)).scalar()
    assert days[0] > 0 and days[1] == hours == len(data["agent_executions"])
    widths: list[int] = []

    @event.listens_for(engine, "before_cursor_execute")
    def seen(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if "rollup_" in statement:
            widths.extend(v for v in (parameters.values() if isinstance(parameters, dict) else parameters) if v in (DAY, HOUR))

    raw, rolled = AnalyticsEngine(engine, cache_ttl=0, use_rollups=False), AnalyticsEngine(engine, cache_ttl=0)
    start, end = T0 + timedelta(minutes=7), T0 + timedelta(days=DAYS)  # raw head, minutes, hours, days
    for family, group in (("executions", "agent"), ("llm", "model"), ("tools", "tool")):
        direct = raw.family_summary(family, group, None, start, end, quantiles=())
        summary = rolled.family_summary(family, group, None, start, end, quantiles=(0.5, 0.95, 0.99))
        assert sorted(direct[group]) == sorted(summary[group])
        merged = direct.merge(summary, on=group, suffixes=("_raw", ""))
        assert (merged["count_raw"] == merged["count"]).all() and (merged["error_count_raw"] == merged["error_count"]).all()
        np.testing.assert_allclose(merged["latency_avg"], merged["latency_avg_raw"], rtol=1e-9)
        # the quantiles of the day rows are those of one sketch of the group's raw durations: exact
        frame_all = raw_frame(engine.connect(), FAMILIES[family], start, end)
        column = FAMILIES[family].dims[group]
        for value, cell in frame_all.groupby(column):
            row = summary[summary[group] == value].iloc[0]
            whole = sketch.from_values(cell["duration"].to_numpy())
            assert [row["latency_p50"], row["latency_p95"], row["latency_p99"]] == pytest.approx(
                [sketch.quantile(whole, q) for q in (0.5, 0.95, 0.99)], rel=1e-12)  # the same bucket
        series_raw = raw.get_time_series("tool_calls" if family == "tools" else "executions", T0, end, "6h")
        series = rolled.get_time_series("tool_calls" if family == "tools" else "executions", T0, end, "6h")
        assert series["value"].tolist() == series_raw["value"].tolist()
    assert DAY in widths  # the reads above did go through day rows
    one_day = rolled.family_summary("executions", None, None, T0 + timedelta(days=1), T0 + timedelta(days=2))
    assert one_day["count"].iloc[0] == sum(1 for r in data["agent_executions"]
                                           if T0 + timedelta(days=1) <= r["timestamp"] < T0 + timedelta(days=2))


@pytest.mark.slow
def test_migration_converts_json_sketches_and_adds_day_rows(empty_url):
    """Rollup rows stored before analytics_0003 (JSON sketches, no day rows) read the same after it."""
    engine = create_db_engine(empty_url)
    try:
        script = ScriptDirectory.from_config(alembic_config())
        upgrade(engine, "analytics_0002")
        for head in script.get_heads():
            if "analytics_0003" not in {r.revision for r in script.iterate_revisions(head, "base")}:
                upgrade(engine, head)
        hists = [{"12": 3, "40": 1}, {str(sketch.ZERO_INDEX): 2, "-5": 1, "300": 7}, {}]
        with engine.begin() as conn:
            tools = Table("rollup_tools", MetaData(), autoload_with=conn)
            conn.execute(tools.insert(), [
                {"width_s": HOUR, "bucket": T0 + timedelta(hours=i), "agent_name": "a", "service_name": "s",
                 "tool_name": "search", "count": 4, "success_count": 3, "duration_count": 4, "duration_sum": 10.0,
                 "duration_hist": hist}
                for i, hist in enumerate(hists)
            ])  # fmt: skip
        upgrade(engine)
        with engine.connect() as conn:
            stored = conn.execute(select(RollupTool.bucket, RollupTool.duration_sketch)
                                  .where(RollupTool.width_s == HOUR).order_by(RollupTool.bucket)).all()
            day = conn.execute(select(RollupTool.count, RollupTool.duration_sketch).where(RollupTool.width_s == DAY)).one()
        assert [sketch.from_bytes(row.duration_sketch) for row in stored] == hists
        assert [bytes(row.duration_sketch) for row in stored] == [sketch.to_bytes(h) for h in hists]
        assert day.count == 12 and sketch.from_bytes(day.duration_sketch) == sketch.merge(hists)
        assert json.dumps(sketch.from_bytes(day.duration_sketch), sort_keys=True)  # plain ints and str keys
    finally:
        engine.dispose()


def _plan(engine, stmt) -> str:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET enable_seqscan = off"))  # a tiny table: ask whether the index applies
            compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            return "\n".join(r[0] for r in conn.execute(text(f"EXPLAIN {compiled}")))
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        return "\n".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))


def test_failed_rows_of_one_agent_model_or_tool_are_read_through_their_partial_indexes(engine):
    data = generate(200, T0, timedelta(hours=6), seed=5)
    load(engine, data)
    start, end = T0, T0 + timedelta(hours=6)
    runs = failures.failed_executions(engine, start, end, agent="planner")
    expected = sorted((r["timestamp"] for r in data["agent_executions"] if not r["success"] and r["agent_name"] == "planner"),
                      reverse=True)
    assert [as_utc(t) for t in runs["timestamp"]] == expected and len(expected) > 0
    tools = failures.failed_tool_calls(engine, start, end, tool="browser")
    assert len(tools) == sum(1 for r in data["tool_calls"] if not r["success"] and r["tool_name"] == "browser") > 0
    calls = failures.failed_llm_calls(engine, start, end, model="gpt-4o")
    assert len(calls) == sum(1 for r in data["llm_calls"] if not r["success"] and r["response_model"] == "gpt-4o")
    assert set(calls["model"]) <= {"gpt-4o"}
    assert len(failures.failed_executions(engine, start, end)) == sum(1 for r in data["agent_executions"] if not r["success"])
    from agentotel.warehouse.models import AgentExecution, LLMCall, ToolCall

    e, c, t = AgentExecution.__table__.c, LLMCall.__table__.c, ToolCall.__table__.c
    plans = {
        "ix_agent_executions_failed_agent": select(e.trace_id).where(~e.success, e.agent_name == "planner",
                                                                     e.timestamp >= start, e.timestamp < end),
        "ix_llm_calls_failed_model": select(c.trace_id).where(~c.success, failures.LLM_MODEL == "gpt-4o",
                                                              c.start_time >= start, c.start_time < end),
        "ix_tool_calls_failed_tool": select(t.trace_id).where(~t.success, t.tool_name == "browser",
                                                              t.start_time >= start, t.start_time < end),
    }
    for index, stmt in plans.items():
        assert index in _plan(engine, stmt), index
