"""The warehouse writer: idempotent, and the derived tables do not depend on arrival order."""

from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from agentotel.otlp_receiver.offline_import import ChangedMinutes
from agentotel.processors.records import SpanBatch, SpanRecord
from agentotel.processors.writer import WarehouseWriter
from agentotel.warehouse.models import AgentExecution, LLMCall, Span, ToolCall
from agentotel.warehouse.rollup_models import RollupExecution, RollupLLM, RollupTool
from agentotel.warehouse.rollups import rebuild_rollups, refresh_minutes

T0 = 1_760_000_000_000_000_000
MS = 1_000_000


def record(trace: str, span: str, parent: str | None, span_type: str, start: int, end: int, **kw) -> SpanRecord:
    rec = SpanRecord(
        trace_id=trace, span_id=span, parent_span_id=parent, name=kw.pop("name", span_type), kind="INTERNAL",
        start_ns=T0 + start * MS, end_ns=T0 + end * MS, status_code=kw.pop("status", "UNSET"),
        status_message=kw.pop("message", None), attributes={}, resource_attributes={"service.name": "svc"},
        events=[], links=[], service_name="svc", span_type=span_type,
    )  # fmt: skip
    for key, value in kw.items():
        setattr(rec, key, value)
    return rec


def llm(trace, span, parent, start, end, tokens_in, tokens_out, cost=0.01):
    return record(
        trace, span, parent, "llm", start, end,
        llm={"provider": "openai", "request_model": "gpt-4o", "input_tokens": tokens_in, "output_tokens": tokens_out,
             "total_tokens": tokens_in + tokens_out, "cost_usd": cost, "operation": "chat"},
    )  # fmt: skip


def agent_trace(trace: str) -> list[SpanRecord]:
    """root workflow → agent (→ llm, tool, nested sub-agent → llm), plus a wrapper llm above a provider llm."""
    return [
        record(trace, "0000000000000001", None, "chain", 0, 1000, name="workflow"),
        record(trace, "0000000000000002", "0000000000000001", "agent", 10, 990, agent_name="planner", agent_version="1.0.0"),
        llm(trace, "0000000000000003", "0000000000000002", 20, 200, 100, 20),
        record(trace, "0000000000000004", "0000000000000002", "tool", 210, 300, tool={"tool_name": "search", "success": True}),
        record(trace, "0000000000000005", "0000000000000002", "agent", 310, 800, agent_name="researcher", status="ERROR", message="boom"),
        llm(trace, "0000000000000006", "0000000000000005", 320, 700, 150, 30),
        record(trace, "0000000000000007", "0000000000000002", "llm", 810, 980,
               llm={"provider": "openai", "request_model": "gpt-4o", "input_tokens": 50, "output_tokens": 5, "total_tokens": 55}),
        llm(trace, "0000000000000008", "0000000000000007", 820, 970, 50, 5),
    ]  # fmt: skip


def snapshot(engine) -> dict:
    with engine.connect() as conn:
        return {
            "spans": sorted(conn.execute(select(Span.trace_id, Span.span_id, Span.execution_id, Span.agent_name)).all()),
            "llm": sorted(conn.execute(select(LLMCall.span_id, LLMCall.execution_id, LLMCall.total_tokens, LLMCall.agent_name)).all()),
            "tools": sorted(conn.execute(select(ToolCall.span_id, ToolCall.execution_id, ToolCall.tool_name)).all()),
            "executions": sorted(
                conn.execute(
                    select(AgentExecution.id, AgentExecution.tokens_used, AgentExecution.success, AgentExecution.error_message,
                           AgentExecution.agent_name, AgentExecution.llm_call_count, AgentExecution.tool_call_count,
                           AgentExecution.is_agent_span)
                ).all()
            ),
        }  # fmt: skip


def test_tokens_roll_up_to_every_agent_above_and_skip_wrappers(engine):
    trace = "a" * 32
    WarehouseWriter(engine).consume(SpanBatch(spans=agent_trace(trace)))
    snap = snapshot(engine)
    executions = {row.id.split("-")[1]: row for row in snap["executions"]}
    assert set(executions) == {"0000000000000002", "0000000000000005"}
    outer, inner = executions["0000000000000002"], executions["0000000000000005"]
    assert outer.tokens_used == 120 + 180 + 55  # the wrapper llm (…07) is not counted again
    assert inner.tokens_used == 180 and not inner.success and inner.error_message == "boom"
    assert outer.tool_call_count == 1 and outer.llm_call_count == 3
    spans = {row.span_id: row for row in snap["spans"]}
    assert spans["0000000000000001"].execution_id is None  # above every agent
    assert spans["0000000000000006"].execution_id.endswith("0000000000000005")
    assert spans["0000000000000004"].agent_name == "planner"
    llm_rows = {row.span_id: row.agent_name for row in snap["llm"]}
    assert llm_rows["0000000000000006"] == "researcher"
    assert "0000000000000007" not in llm_rows  # the wrapper repeats its child's usage: no llm_calls row


def test_arrival_order_and_batching_do_not_change_the_tables(engine, db_url):
    from agentotel.warehouse.engine import create_db_engine

    traces = [f"{i:032x}" for i in range(1, 6)]
    in_order = [s for t in traces for s in agent_trace(t)]
    WarehouseWriter(engine).consume(SpanBatch(spans=in_order))
    expected = snapshot(engine)

    rng = random.Random(7)
    for attempt in range(3):
        with engine.begin() as conn:
            for table in (Span, LLMCall, ToolCall, AgentExecution):
                conn.execute(table.__table__.delete())
        shuffled = [s for t in traces for s in agent_trace(t)]
        rng.shuffle(shuffled)
        writer = WarehouseWriter(create_db_engine(db_url))
        size = rng.randint(1, 5)
        for i in range(0, len(shuffled), size):  # children before parents, spread over many batches
            writer.consume(SpanBatch(spans=shuffled[i : i + size]))
        assert snapshot(engine) == expected, f"attempt {attempt}"


def test_resent_batch_adds_no_rows_and_keeps_first_copy(engine):
    trace = "b" * 32
    writer = WarehouseWriter(engine)
    writer.consume(SpanBatch(spans=agent_trace(trace)))
    first = snapshot(engine)
    changed = agent_trace(trace)
    changed[2].llm["total_tokens"] = 9999  # same ids, different content: the first copy is kept
    writer.consume(SpanBatch(spans=agent_trace(trace) + changed))
    assert snapshot(engine) == first


def test_trace_without_agent_is_one_execution_keyed_by_its_root(engine):
    trace = "c" * 32
    spans = [
        llm(trace, "0000000000000012", "0000000000000011", 5, 50, 10, 2),
        record(trace, "0000000000000011", None, "chain", 0, 100, name="handler"),
        llm(trace, "0000000000000013", "0000000000000011", 60, 90, 20, 3),
    ]
    writer = WarehouseWriter(engine)
    writer.consume(SpanBatch(spans=spans[:1]))  # the child first: a provisional execution keyed by it
    writer.consume(SpanBatch(spans=spans[1:]))
    executions = snapshot(engine)["executions"]
    assert [(e.id, e.tokens_used, e.is_agent_span) for e in executions] == [(f"{trace}-0000000000000011", 35, False)]


@pytest.mark.postgres
def test_writes_stay_idempotent_on_partitioned_postgresql():
    """Partitioning (a PostgreSQL feature) changes the primary keys; the writer's ON CONFLICT follows."""
    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.schema_manager import enable_partitioning
    from tests.conftest import drop_postgres_database, new_postgres_database

    url = new_postgres_database()
    engine = create_db_engine(url)
    try:
        assert "spans" in enable_partitioning(engine)
        WarehouseWriter(engine).consume(SpanBatch(spans=agent_trace("f" * 32)))
        first = snapshot(engine)
        WarehouseWriter(engine).consume(SpanBatch(spans=agent_trace("f" * 32)))
        assert snapshot(engine) == first and len(first["spans"]) == 8
    finally:
        engine.dispose()
        drop_postgres_database(url)


def test_conversation_and_user_come_from_the_trace_whatever_the_order(engine):
    trace = "9" * 32
    spans = agent_trace(trace)
    spans[2].conversation_id, spans[2].user_id = "conv-7", "user-3"  # only a child LLM span carries them
    writer = WarehouseWriter(engine)
    for span in reversed(spans):  # children first, one span per batch
        writer.consume(SpanBatch(spans=[span]))
    with engine.connect() as conn:
        rows = conn.execute(select(AgentExecution.conversation_id, AgentExecution.user_id)).all()
    assert rows and all(tuple(row) == ("conv-7", "user-3") for row in rows)


def _rollup_rows(engine) -> dict:
    with engine.connect() as conn:
        return {m.__tablename__: sorted(map(tuple, conn.execute(select(m.__table__)).all()), key=repr)
                for m in (RollupExecution, RollupLLM, RollupTool)}  # fmt: skip


@pytest.mark.slow
def test_rollups_of_the_minutes_a_writer_touched_equal_a_full_rebuild(engine):
    """The receiver refreshes exactly the minutes its writes changed: a child arriving late re-assigns rows
    and changes an execution in an earlier minute; a trace 3 hours old lies beyond any lateness window."""
    minute = 60_000  # ms
    edge = minute - (T0 // MS) % minute  # ms from T0 to the next minute
    spans = []
    # the second run's agent starts 5 ms before a minute edge and its children after it
    for i, offset in enumerate((0, edge - 15, 3 * minute + edge - 300, -180 * minute)):
        for s in agent_trace(f"{i + 1:032x}"):
            s.start_ns += offset * MS
            s.end_ns += offset * MS
            spans.append(s)
    random.Random(3).shuffle(spans)
    spans.sort(key=lambda s: (s.span_type == "agent", -s.start_ns if s.span_type == "agent" else 0))  # outer agents last
    changed = ChangedMinutes()
    writer = WarehouseWriter(engine, rollups=changed)
    for span in spans:  # one span per batch: every late child re-assigns what is already stored
        writer.consume(SpanBatch(spans=[span]))
        assert changed.minutes and refresh_minutes(engine, changed.minutes) is not None
        changed.minutes.clear()
    incremental = _rollup_rows(engine)
    assert incremental["rollup_llm"] and incremental["rollup_executions"] and incremental["rollup_tools"]

    start = datetime.fromtimestamp(T0 / 1e9 - 4 * 3600, tz=timezone.utc)
    rebuild_rollups(engine, start, datetime.fromtimestamp(T0 / 1e9 + 3600, tz=timezone.utc))
    assert _rollup_rows(engine) == incremental


def test_agent_span_resources_land_in_execution_metadata_and_survive_later_batches(engine):
    """The instrumentation's per-execution resources (``core.semconv.EXEC_RESOURCE_KEYS``) become
    ``agent_executions.metadata``; a later batch of the same trace (which rebuilds the execution from the
    stored span) keeps them, and OTLP/JSON's string integers are read as numbers."""
    from agentotel.core import semconv as sc

    trace = "7" * 32
    spans = agent_trace(trace)
    spans[1].attributes = {sc.EXEC_RSS_START: "104857600", sc.EXEC_RSS_PEAK: 157286400, sc.EXEC_RSS_END: 125829120,
                           sc.EXEC_THREAD_CPU_TIME: 0.25, "other": 1}  # fmt: skip
    writer = WarehouseWriter(engine)
    writer.consume(SpanBatch(spans=spans[:2]))  # the agents first ...
    writer.consume(SpanBatch(spans=spans[2:]))  # ... their children later: executions rebuilt from stored spans
    with engine.connect() as conn:
        rows = dict(conn.execute(select(AgentExecution.span_id, AgentExecution.meta)).all())
    assert rows["0000000000000002"] == {sc.EXEC_RSS_START: 104857600, sc.EXEC_RSS_PEAK: 157286400,
                                        sc.EXEC_RSS_END: 125829120, sc.EXEC_THREAD_CPU_TIME: 0.25}  # fmt: skip
    assert rows["0000000000000005"] is None  # an agent span without resources has none


@pytest.mark.postgres
@pytest.mark.slow
def test_postgresql_lookups_stay_index_driven_without_planner_statistics():
    """Autovacuum off and never analyzed (issue 22): the writer's per-batch lookups of stored spans, model
    calls and executions are index probes, not full scans, and the writer still reads them right."""
    import json

    from agentotel.processors.writer import PG_EXECUTION_IDS, PG_STRUCTURE, _in_project
    from agentotel.warehouse.engine import create_db_engine
    from tests.conftest import drop_postgres_database, new_postgres_database

    url = new_postgres_database()
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            for table in ("spans", "llm_calls", "agent_executions"):
                conn.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
            conn.exec_driver_sql(
                "INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, span_type, start_time, end_time,"
                " duration_ms, status_code, start_time_unix_nano, end_time_unix_nano, dropped_attributes_count,"
                " dropped_events_count, dropped_links_count) SELECT md5((i / 4)::text), left(md5(i::text), 16), NULL,"
                " 'chat', 'CLIENT', 'llm', now(), now(), 1, 'OK', 0, 0, 0, 0, 0 FROM generate_series(1, 100000) AS i"
            )
            conn.exec_driver_sql(
                "INSERT INTO llm_calls (trace_id, span_id, duration_ms, start_time, success) SELECT trace_id, span_id,"
                " 1, now(), true FROM spans"
            )
        ids = [f"{i:032x}" for i in range(500)]
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL jit = off")
            for template in (PG_STRUCTURE, PG_EXECUTION_IDS):
                query, params = _in_project(template, ids, "default")
                plan = json.dumps(conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + query, params).scalar())
                assert "Seq Scan" not in plan and "Index" in plan, plan
        # the writer reads the stored rows through those queries: a later batch joins an old trace
        writer = WarehouseWriter(engine)
        writer.consume(SpanBatch(spans=[record("a" * 32, "1" * 16, None, "agent", 0, 100, agent_name="bot")]))
        writer.consume(SpanBatch(spans=[llm("a" * 32, "2" * 16, "1" * 16, 10, 50, 7, 3)]))
        with engine.connect() as conn:
            execution = conn.execute(select(AgentExecution.tokens_used, AgentExecution.llm_call_count)).one()
        assert tuple(execution) == (10, 1)
    finally:
        engine.dispose()
        drop_postgres_database(url)


@pytest.mark.slow
def test_large_batches_update_executions_like_row_by_row(engine):
    """≥ 64 executions in a batch go through PostgreSQL's COPY staging table with ON CONFLICT DO UPDATE:
    later children update their runs' totals, and columns the later write does not know (input) are kept."""
    traces = [f"{i:032x}" for i in range(1, 101)]
    writer = WarehouseWriter(engine)
    writer.consume(SpanBatch(spans=[record(t, "a" * 16, None, "agent", 0, 100, agent_name="bot", input="hi")
                                    for t in traces]))  # fmt: skip
    writer.consume(SpanBatch(spans=[llm(t, "b" * 16, "a" * 16, 10, 20, 5, 2) for t in traces]))
    writer.consume(SpanBatch(spans=[llm(t, "c" * 16, "a" * 16, 30, 40, 1, 1) for t in traces]))
    with engine.connect() as conn:
        rows = conn.execute(
            select(AgentExecution.tokens_used, AgentExecution.llm_call_count, AgentExecution.input)
        ).all()
    assert len(rows) == 100
    assert {tuple(row) for row in rows} == {(9, 2, "hi")}
