"""Revision 0002 (the design document's Core Tables) on a warehouse that already holds rows: the rename of
``agent_executions.duration`` to ``duration_ms`` keeps every value, on SQLite (batch rebuild) and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

from alembic import command
from sqlalchemy import MetaData, Table, inspect, select, update

from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.migrate import alembic_config, current_revisions, upgrade
from agentotel.warehouse.models import AgentExecution, Metric
from tests.warehouse.support import upgrade_to_just_before

EXECUTIONS = AgentExecution.__table__
REVISION = "0002"
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)



def _old_rows(engine) -> None:
    """Rows written as the receiver did before the revision (reflected tables: the old columns)."""
    metadata = MetaData()
    with engine.begin() as conn:
        agents, executions, metrics = (Table(t, metadata, autoload_with=conn) for t in ("agents", "agent_executions", "metrics"))
        agent_id = conn.execute(
            agents.insert().values(name="planner", version="1.0", source="telemetry").returning(agents.c.id)
        ).scalar_one()
        conn.execute(executions.insert(), [
            {"id": f"{i:032x}-{i:016x}", "agent_id": agent_id if i % 2 else None, "timestamp": T0, "input": f"q{i}",
             "output": f"a{i}", "duration": 100.25 * i if i else None, "tokens_used": 10 * i, "success": i != 2,
             "error_message": "boom" if i == 2 else None, "trace_id": f"{i:032x}", "span_id": f"{i:016x}",
             "agent_name": "planner", "agent_version": "1.0", "input_tokens": 7 * i, "output_tokens": 3 * i,
             "cost_usd": 0.5 * i, "llm_call_count": i, "tool_call_count": 1, "is_agent_span": True}
            for i in range(4)
        ])  # fmt: skip
        conn.execute(metrics.insert(), [
            {"execution_id": f"{i:032x}-{i:016x}", "metric_name": "agent.requests", "value": float(i), "timestamp": T0,
             "series_key": f"s{i}"}
            for i in range(4)
        ])  # fmt: skip


def test_upgrade_keeps_the_rows_and_adds_the_seed_columns(empty_url):
    engine = create_db_engine(empty_url)
    try:
        upgrade_to_just_before(engine, REVISION)
        _old_rows(engine)
        upgrade(engine)
        assert REVISION in current_revisions(engine)

        with engine.connect() as conn:
            executions = conn.execute(select(EXECUTIONS).order_by(EXECUTIONS.c.id)).mappings().all()
            points = conn.execute(select(Metric.execution_id, Metric.value).order_by(Metric.value)).all()
        assert [e["duration_ms"] for e in executions] == [None, 100.25, 200.5, 300.75]
        assert [tuple(e[c] for c in ("input", "output", "tokens_used", "success", "error_message", "cost_usd"))
                for e in executions] == [
            (f"q{i}", f"a{i}", 10 * i, i != 2, "boom" if i == 2 else None, 0.5 * i) for i in range(4)
        ]  # fmt: skip
        assert [e["agent_id"] is not None for e in executions] == [False, True, False, True]
        assert all(e["metadata"] is None and e["timestamp"] == T0 for e in executions)
        assert [tuple(p) for p in points] == [(f"{i:032x}-{i:016x}", float(i)) for i in range(4)]

        inspector = inspect(engine)
        assert "duration" not in {c["name"] for c in inspector.get_columns("agent_executions")}
        assert ("agent_id", "timestamp") in {tuple(i["column_names"]) for i in inspector.get_indexes("agent_executions")}
        metric_indexes = {tuple(i["column_names"]) for i in inspector.get_indexes("metrics")}
        assert ("execution_id", "metric_name") in metric_indexes and ("execution_id",) not in metric_indexes

        with engine.begin() as conn:  # the new JSON column stores and returns a document
            conn.execute(update(AgentExecution).where(AgentExecution.duration_ms > 200).values(meta={"run": {"tag": "x"}}))
        with engine.connect() as conn:
            metas = conn.execute(select(AgentExecution.meta).order_by(AgentExecution.id)).scalars().all()
        assert metas == [None, None, {"run": {"tag": "x"}}, {"run": {"tag": "x"}}]
    finally:
        engine.dispose()


def test_downgrade_restores_the_old_column_with_its_values(empty_url):
    engine = create_db_engine(empty_url)
    try:
        upgrade_to_just_before(engine, REVISION)
        _old_rows(engine)
        upgrade(engine)
        cfg = alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, f"{REVISION}-1")
        assert REVISION not in current_revisions(engine)
        with engine.connect() as conn:
            executions = Table("agent_executions", MetaData(), autoload_with=conn)
            durations = conn.execute(select(executions.c.duration).order_by(executions.c.id)).scalars().all()
        assert durations == [None, 100.25, 200.5, 300.75]
        assert {"metadata", "duration_ms"}.isdisjoint(c["name"] for c in inspect(engine).get_columns("agent_executions"))
        assert ("execution_id",) in {tuple(i["column_names"]) for i in inspect(engine).get_indexes("metrics")}
    finally:
        engine.dispose()
