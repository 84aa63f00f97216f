"""Revision tenancy_0003 on a filled warehouse, SQLite (a rebuild of ``agents``, which executions and the
registry reference) and PostgreSQL: the agents and environments keep their rows and ids as ``default``'s, no
reference is lost (an execution's agent, the registry's RESTRICT rows), the keys become per project, and a
downgrade restores the old keys."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from alembic import command
from sqlalchemy import MetaData, Table, insert, inspect, select
from sqlalchemy.exc import IntegrityError

from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.migrate import alembic_config, current_revisions, upgrade
from tests.warehouse.support import upgrade_to_just_before

REVISION = "tenancy_0003"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)



def _old_rows(engine) -> dict[str, int]:
    """Two agents (one registered, promoted to dev), an execution of each; returns the agent ids by name."""
    metadata = MetaData()
    with engine.begin() as conn:
        agents, executions, deployments, environments = (Table(t, metadata, autoload_with=conn) for t in (
            "agents", "agent_executions", "registry_deployments", "registry_environments"))  # fmt: skip
        ids = {name: conn.execute(insert(agents).values(name=name, version="1.0", source=source, created_at=T0)
                                  .returning(agents.c.id)).scalar_one()
               for name, source in (("planner", "telemetry"), ("bot", "registry"))}  # fmt: skip
        conn.execute(insert(executions), [
            {"id": f"{i:032x}-{i:016x}", "agent_id": agent_id, "timestamp": T0, "trace_id": f"{i:032x}",
             "span_id": f"{i:016x}", "agent_name": name, "agent_version": "1.0", "success": True, "tokens_used": 1,
             "duration_ms": 1.0, "input_tokens": 1, "output_tokens": 0, "cost_usd": 0.0, "llm_call_count": 1,
             "tool_call_count": 0, "is_agent_span": True}
            for i, (name, agent_id) in enumerate(ids.items())
        ])  # fmt: skip
        deployment = conn.execute(insert(deployments).values(
            agent_name="bot", environment="dev", version="1.0", agent_id=ids["bot"], action="promote", actor="ana",
            created_at=T0).returning(deployments.c.id)).scalar_one()  # fmt: skip
        conn.execute(insert(environments).values(
            agent_name="bot", environment="dev", version="1.0", agent_id=ids["bot"], deployment_id=deployment,
            revision=1, updated_at=T0, updated_by="ana"))  # fmt: skip
    return ids


def _state(engine) -> tuple[list, list, list]:
    metadata = MetaData()
    with engine.connect() as conn:
        agents, executions, environments = (Table(t, metadata, autoload_with=conn) for t in (
            "agents", "agent_executions", "registry_environments"))  # fmt: skip
        return (
            sorted(conn.execute(select(agents.c.id, agents.c.name, agents.c.source)).all()),
            sorted(conn.execute(select(executions.c.agent_name, executions.c.agent_id)).all()),
            sorted(conn.execute(select(environments.c.agent_name, environments.c.environment, environments.c.agent_id,
                                       environments.c.project_id)).all()),  # fmt: skip
        )


def _unique_keys(engine, table: str) -> set[tuple[str, ...]]:
    return {tuple(u["column_names"]) for u in inspect(engine).get_unique_constraints(table)}


def test_upgrade_keeps_the_agents_as_default_and_downgrade_restores_the_keys(empty_url):
    engine = create_db_engine(empty_url)
    try:
        upgrade_to_just_before(engine, REVISION)
        ids = _old_rows(engine)
        before = _state(engine)
        upgrade(engine)
        assert REVISION in current_revisions(engine)
        assert _state(engine) == before  # ids, executions' agent ids and the registry's rows all kept
        assert before[1] == sorted((name, agent_id) for name, agent_id in ids.items())
        with engine.connect() as conn:
            agents = Table("agents", MetaData(), autoload_with=conn)
            assert set(conn.execute(select(agents.c.project_id)).scalars()) == {"default"}
        assert _unique_keys(engine, "agents") == {("project_id", "name", "version")}
        assert _unique_keys(engine, "registry_environments") == {("project_id", "agent_name", "environment")}
        with engine.begin() as conn:  # the same version in another project is another agent; in its own, refused
            conn.execute(insert(agents).values(name="planner", version="1.0", source="telemetry", project_id="alpha"))
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert(agents).values(name="planner", version="1.0", source="telemetry"))
        with engine.begin() as conn:
            conn.execute(agents.delete().where(agents.c.project_id == "alpha"))

        cfg = alembic_config(engine)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, f"{REVISION}-1")
        assert REVISION not in current_revisions(engine)
        assert "project_id" not in {c["name"] for c in inspect(engine).get_columns("agents")}
        assert _unique_keys(engine, "agents") == {("name", "version")}
        assert _unique_keys(engine, "registry_environments") == {("agent_name", "environment")}
        with engine.connect() as conn:
            executions = Table("agent_executions", MetaData(), autoload_with=conn)
            assert sorted(conn.execute(select(executions.c.agent_name, executions.c.agent_id)).all()) == before[1]
    finally:
        engine.dispose()
