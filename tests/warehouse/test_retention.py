"""Retention (RELIABILITY P7): rows older than N days are gone, derived tables stay consistent; on
PostgreSQL with partitioning on, whole partitions are dropped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, inspect, select

from agentotel.core.utc import as_utc
from agentotel.warehouse import schema_manager as sm
from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.manager import DatabaseManager
from agentotel.warehouse.models import AgentExecution, Alert, LLMCall, Span, ToolCall
from agentotel.warehouse.retention import apply_retention
from agentotel.warehouse.rollup_models import RollupExecution, RollupLLM
from agentotel.warehouse.rollups import TOTAL, refresh_rollups
from agentotel.warehouse.upsert import insert_on_conflict
from tests.warehouse.support import generate, load

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
CUTOFF = NOW - timedelta(days=7)


def _count(engine, model, where=None) -> int:
    stmt = select(func.count()).select_from(model.__table__)
    if where is not None:
        stmt = stmt.where(where)
    with engine.connect() as conn:
        return conn.execute(stmt).scalar()


def _seed(engine) -> dict:
    old = generate(40, NOW - timedelta(days=10), timedelta(days=2), seed=21)
    recent = generate(40, NOW - timedelta(days=3), timedelta(days=2), seed=22)
    # an execution that starts 1 s before the cut-off: its children start after it
    boundary = generate(1, CUTOFF - timedelta(seconds=1), timedelta(milliseconds=1), seed=23)
    for data in (old, recent, boundary):
        load(engine, data)
    with engine.begin() as conn:
        conn.execute(insert(Alert.__table__), [
            {"rule_id": "r", "timestamp": NOW - timedelta(days=9), "status": "resolved", "severity": "warning", "message": "", "acknowledged": True},
            {"rule_id": "r", "timestamp": NOW - timedelta(days=9), "status": "firing", "severity": "warning", "message": "", "acknowledged": False},
        ])
    return {"old": old, "recent": recent, "boundary": boundary}


def _check_after(engine, data, removed) -> None:
    recent = data["recent"]
    assert _count(engine, AgentExecution) == len(recent["agent_executions"])
    assert _count(engine, Span) == len(recent["spans"])
    assert _count(engine, LLMCall) == len(recent["llm_calls"])
    assert _count(engine, ToolCall) == len(recent["tool_calls"])
    assert _count(engine, Span, Span.start_time < CUTOFF) == 0
    expected_spans = len(data["old"]["spans"]) + len(data["boundary"]["spans"])
    assert removed["spans"] == expected_spans
    assert removed["agent_executions"] == len(data["old"]["agent_executions"]) + 1
    # alerts: only resolved ones expire
    assert _count(engine, Alert) == 1 and removed["alerts"] == 1
    # rollups agree with what is left
    with engine.connect() as conn:
        rolled = conn.execute(select(func.sum(RollupExecution.count)).where(RollupExecution.width_s == 60, RollupExecution.agent_name != TOTAL)).scalar()
        hourly = conn.execute(select(func.sum(RollupExecution.count)).where(RollupExecution.width_s == 3600, RollupExecution.agent_name != TOTAL)).scalar()
        llm = conn.execute(select(func.sum(RollupLLM.count)).where(RollupLLM.width_s == 60, RollupLLM.agent_name != TOTAL)).scalar()
        daily = conn.execute(select(func.sum(RollupExecution.count)).where(RollupExecution.width_s == 86400, RollupExecution.agent_name != TOTAL)).scalar()
        oldest_day = conn.execute(select(func.min(RollupExecution.bucket)).where(RollupExecution.width_s == 86400)).scalar()
    assert rolled == hourly == daily == len(recent["agent_executions"])  # day rows pruned and re-merged too
    assert as_utc(oldest_day) >= CUTOFF.replace(hour=0)
    assert llm == len(recent["llm_calls"])
    analytics = AnalyticsEngine(engine, cache_ttl=0)
    assert analytics.get_aggregations("executions", start=NOW - timedelta(days=30), end=NOW)["value"].iloc[0] == len(recent["agent_executions"])


def test_retention_deletes_old_rows_and_keeps_derived_tables_consistent(engine):
    data = _seed(engine)
    refresh_rollups(engine, now=NOW)
    removed = apply_retention(engine, timedelta(days=7), now=NOW)
    _check_after(engine, data, removed)
    assert apply_retention(engine, timedelta(days=7), now=NOW)["spans"] == 0  # idempotent


def test_per_table_override_and_validation(engine):
    load(engine, generate(10, NOW - timedelta(days=3), timedelta(hours=1), seed=24))
    removed = apply_retention(engine, timedelta(days=30), tables=["tool_calls", "spans"], overrides={"tool_calls": timedelta(days=1)}, now=NOW)
    assert removed["tool_calls"] == 10 and removed["spans"] == 0
    assert _count(engine, ToolCall) == 0 and _count(engine, AgentExecution) == 10
    with pytest.raises(ValueError):
        apply_retention(engine, timedelta(days=1), tables=["agents_unknown"])
    with pytest.raises(ValueError):
        apply_retention(engine, timedelta(0))


def test_database_manager_cleanup_uses_retention(db_url):
    manager = DatabaseManager(db_url)
    load(manager.engine, generate(5, datetime.now(timezone.utc) - timedelta(days=40), timedelta(hours=1), seed=25))
    load(manager.engine, generate(5, datetime.now(timezone.utc) - timedelta(hours=2), timedelta(hours=1), seed=26))
    removed = manager.cleanup_old_data("30d")
    assert removed["agent_executions"] == 5 and _count(manager.engine, AgentExecution) == 5
    manager.engine.dispose()


def test_partitioning_on_postgres(engine):
    if engine.dialect.name != "postgresql":
        with pytest.raises(ValueError):
            sm.enable_partitioning(engine)
        with engine.connect() as conn:
            assert sm.conflict_keys(conn, "spans") == ("trace_id", "span_id")
        return
    data = _seed(engine)
    refresh_rollups(engine, now=NOW)
    converted = sm.enable_partitioning(engine, days_ahead=2, now=NOW)
    assert sorted(converted) == ["llm_calls", "metrics", "spans", "tool_calls"]
    assert sm.enable_partitioning(engine, now=NOW) == []  # idempotent
    total_spans = sum(len(d["spans"]) for d in data.values())
    assert _count(engine, Span) == total_spans
    assert inspect(engine).get_pk_constraint("spans")["constrained_columns"] == ["trace_id", "span_id", "start_time"]
    indexes = {i["name"] for i in inspect(engine).get_indexes("metrics")} | {i["name"] for i in inspect(engine).get_indexes("spans")}
    assert {"ix_metrics_trace_id_span_id", "ix_metrics_timestamp", "ix_spans_start_time", "ix_spans_execution_id"} <= indexes
    uniques = inspect(engine).get_unique_constraints("metrics")
    assert [u["column_names"] for u in uniques] == [["metric_name", "series_key", "timestamp"]]
    with engine.connect() as conn:
        assert sm.partitioned_tables(conn) >= {"spans", "llm_calls", "tool_calls", "metrics"}
        assert sm.conflict_keys(conn, "spans") == ("trace_id", "span_id", "start_time")
        days = sorted(sm.list_partitions(conn, "spans").values())
    assert days[0] == (NOW - timedelta(days=10)).date() and days[-1] == (NOW + timedelta(days=2)).date()
    # idempotent upserts with the partition-aware conflict target
    with engine.begin() as conn:
        insert_on_conflict(conn, Span.__table__, data["recent"]["spans"][:5], sm.conflict_keys(conn, "spans"))
    assert _count(engine, Span) == total_spans
    # a row beyond the partitions lands in DEFAULT and moves when its day's partition is created
    future = generate(1, NOW + timedelta(days=5), timedelta(minutes=1), seed=27)
    load(engine, {"spans": future["spans"]})
    created = sm.create_partitions_ahead(engine, days=6, now=NOW)
    assert "spans_p20261125" in created
    with engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT count(*) FROM spans_default")).scalar() == 0
        assert conn.execute(text("SELECT count(*) FROM spans_p20261125")).scalar() == len(future["spans"])
    with engine.begin() as conn:
        conn.execute(Span.__table__.delete().where(Span.start_time >= NOW + timedelta(days=4)))
    # retention drops whole partitions
    removed = apply_retention(engine, timedelta(days=7), now=NOW)
    with engine.connect() as conn:
        remaining = sorted(sm.list_partitions(conn, "spans").values())
    assert remaining[0] == CUTOFF.date()  # the boundary day's partition stays (deleted by time)
    _check_after(engine, data, removed)
