"""Recorded agent executions read back for evaluation (``agent_executions`` rows with an input).

``RecordedAgent`` replays them: each becomes a test case whose response is what the agent answered then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from agentotel.warehouse.models import AgentExecution


def recorded_executions(
    engine: Engine,
    agent_name: str,
    agent_version: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
    project: str | None = None,
) -> list[dict[str, Any]]:
    """Recorded agent executions (newest first) of an agent, optionally a version, a time window and a project."""
    t = AgentExecution
    query = select(
        t.id, t.timestamp, t.input, t.output, t.duration_ms, t.success, t.error_message, t.input_tokens,
        t.output_tokens, t.cost_usd, t.trace_id, t.span_id, t.agent_version,
    ).where(t.agent_name == agent_name, t.input.is_not(None))
    if agent_version is not None:
        query = query.where(t.agent_version == agent_version)
    if project is not None:
        query = query.where(t.project_id == project)
    if since is not None:
        query = query.where(t.timestamp >= since)
    if until is not None:
        query = query.where(t.timestamp < until)
    query = query.order_by(t.timestamp.desc(), t.id).limit(limit)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]
