"""Failed executions, model calls and tool calls of one agent, model or tool in a window, newest first.

Each read is served by a partial index on the failed rows only (revision analytics_0004): its cost follows
the failures it returns, not the traffic of the window.

- ``failed_executions(agent=…)``: ``agent_executions (agent_name, timestamp) WHERE NOT success``;
  without an agent: ``agent_executions (timestamp) WHERE NOT success``;
- ``failed_llm_calls(model=…)``: ``llm_calls (coalesce(response_model, request_model), start_time) WHERE NOT
  success`` (a model named as the rollups and ``/metrics`` name it);
- ``failed_tool_calls(tool=…)``: ``tool_calls (tool_name, start_time) WHERE NOT success``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select

from agentotel.core.utc import as_utc
from agentotel.warehouse.bounds import check_limit
from agentotel.warehouse.models import AgentExecution, LLMCall, ToolCall
from agentotel.warehouse.search import frame_of

_ex = AgentExecution.__table__
_llm = LLMCall.__table__
_tools = ToolCall.__table__

LLM_MODEL = func.coalesce(_llm.c.response_model, _llm.c.request_model)  # the indexed expression


def failed_executions(engine: Engine, start: datetime, end: datetime, agent: str | None = None,
                      limit: int = 100) -> pd.DataFrame:
    """Failed runs in ``[start, end)`` (of ``agent`` when given), newest first."""
    e = _ex.c
    stmt = select(e.timestamp, e.trace_id, e.span_id, e.agent_name, e.agent_version, e.service_name, e.duration_ms,
                  e.error_message).where(~e.success, e.timestamp >= as_utc(start), e.timestamp < as_utc(end))
    if agent is not None:
        stmt = stmt.where(e.agent_name == agent)
    return _read(engine, stmt.order_by(e.timestamp.desc()).limit(check_limit(limit)))


def failed_llm_calls(engine: Engine, start: datetime, end: datetime, model: str | None = None,
                     limit: int = 100) -> pd.DataFrame:
    """Failed model calls in ``[start, end)`` (of ``model``: the response model, else the request model),
    newest first."""
    c = _llm.c
    stmt = select(c.start_time, c.trace_id, c.span_id, c.agent_name, c.provider, LLM_MODEL.label("model"),
                  c.duration_ms, c.error_type).where(~c.success, c.start_time >= as_utc(start), c.start_time < as_utc(end))
    if model is not None:
        stmt = stmt.where(LLM_MODEL == model)
    return _read(engine, stmt.order_by(c.start_time.desc()).limit(check_limit(limit)))


def failed_tool_calls(engine: Engine, start: datetime, end: datetime, tool: str | None = None,
                      limit: int = 100) -> pd.DataFrame:
    """Failed tool calls in ``[start, end)`` (of ``tool`` when given), newest first."""
    c = _tools.c
    stmt = select(c.start_time, c.trace_id, c.span_id, c.agent_name, c.tool_name, c.duration_ms,
                  c.error_message).where(~c.success, c.start_time >= as_utc(start), c.start_time < as_utc(end))
    if tool is not None:
        stmt = stmt.where(c.tool_name == tool)
    return _read(engine, stmt.order_by(c.start_time.desc()).limit(check_limit(limit)))


def _read(engine: Engine, stmt: Any) -> pd.DataFrame:
    with engine.connect() as conn:
        return frame_of(conn.execute(stmt))
