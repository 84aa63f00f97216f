"""The agent graph: from the stored span trees, which agent calls which sub-agents, tools and models, with
call counts, error rate and latency (p50/p95) on each edge.

Edges come from three joins over a window: tool calls and model calls to the run that owns them
(``execution_id``: the nearest agent above the call), and agent spans to their parent span's agent (a span's
``agent_name`` is its owning agent's). Counts and errors are exact (SQL); latency percentiles are computed
from the newest ``SAMPLE_ROWS`` calls of each kind. With ``agent`` (and ``version``) the graph is the part
reachable from that agent in the newest ``RUNS`` traces where it ran in the window (the page says so): its
reads then follow the trace ids (index lookups), not every call of the window — over 30 days at 1M spans
the whole window took 5-11 s on SQLite.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, and_, case, func, select

from agentotel.core.utc import as_utc
from agentotel.warehouse.models import AgentExecution, LLMCall, Span, ToolCall

EDGE_COLUMNS = ["source", "target", "kind", "calls", "errors", "error_rate", "p50_ms", "p95_ms"]
SAMPLE_ROWS = 100_000
RUNS = 2_000
ENTRY = "(entry)"

_ex = AgentExecution.__table__
_llm = LLMCall.__table__
_tools = ToolCall.__table__
_spans = Span.__table__


def agent_graph(engine: Engine, start: datetime, end: datetime, agent: str | None = None,
                version: str | None = None, runs: int = RUNS) -> pd.DataFrame:
    """Edges ``source → target`` (``EDGE_COLUMNS``; ``kind`` is agent, tool or model; the top agents of a
    trace are called by ``(entry)``), most calls first; with ``agent``, from its newest ``runs`` traces."""
    lo, hi = as_utc(start), as_utc(end)
    ex = _ex.c
    scope = None
    if agent:
        where = [ex.agent_name == agent, ex.timestamp >= lo, ex.timestamp < hi]
        if version:
            where.append(ex.agent_version == version)
        scope = select(ex.trace_id).where(*where).order_by(ex.timestamp.desc()).limit(runs)
    with engine.connect() as conn:
        frames = [_tool_edges(conn, lo, hi, scope), _model_edges(conn, lo, hi, scope), _agent_edges(conn, lo, hi, scope)]
    edges = pd.concat([f for f in frames if not f.empty], ignore_index=True) if any(not f.empty for f in frames) \
        else pd.DataFrame(columns=EDGE_COLUMNS)
    if agent and not edges.empty:
        edges = _reachable(edges, agent)
    if edges.empty:
        return pd.DataFrame(columns=EDGE_COLUMNS)
    edges["error_rate"] = edges["errors"] / edges["calls"].where(edges["calls"] > 0)
    return edges.sort_values(["calls", "source", "target"], ascending=[False, True, True]).reset_index(drop=True)[EDGE_COLUMNS]


def _edges(conn: Connection, source: Any, target: Any, duration: Any, ok: Any, time: Any, from_: Any, kind: str,
           lo: datetime, hi: datetime, scope: Any, trace: Any, *extra: Any) -> pd.DataFrame:
    if scope is not None:
        # joined from the runs' trace ids (the runs are in the window): the reads follow them by index, where a
        # time filter too led SQLite to scan the window's spans once per run
        runs = scope.subquery("runs")
        return _edges_of_runs(conn, source, target, duration, ok, runs.join(from_, trace == runs.c.trace_id),
                              list(extra), kind)
    where = [time >= lo, time < hi, *extra]
    counts = conn.execute(
        select(source.label("source"), target.label("target"), func.count().label("calls"),
               func.sum(case((ok, 0), else_=1)).label("errors"))
        .select_from(from_).where(*where).group_by(source, target)).all()
    if not counts:
        return pd.DataFrame(columns=EDGE_COLUMNS)
    frame = _named(pd.DataFrame(counts, columns=["source", "target", "calls", "errors"]))
    sample = conn.execute(
        select(source.label("source"), target.label("target"), duration.label("duration"))
        .select_from(from_).where(*where).order_by(time.desc()).limit(SAMPLE_ROWS)).all()
    durations = _named(pd.DataFrame(sample, columns=["source", "target", "duration"]))
    stats = (durations.groupby(["source", "target"])["duration"]
             .agg(p50_ms=lambda v: _quantile(v, 0.5), p95_ms=lambda v: _quantile(v, 0.95)).reset_index())
    return _typed(frame.merge(stats, on=["source", "target"], how="left"), kind)


def _edges_of_runs(conn: Connection, source: Any, target: Any, duration: Any, ok: Any, from_: Any, where: list,
                   kind: str) -> pd.DataFrame:
    """The edges of a bounded set of runs: their calls read once (a few thousand rows), counted and ranked here
    instead of one statement for the counts and one for the latency sample."""
    rows = conn.execute(select(source.label("source"), target.label("target"), duration.label("duration"),
                               case((ok, 0), else_=1).label("error")).select_from(from_).where(*where)).all()
    if not rows:
        return pd.DataFrame(columns=EDGE_COLUMNS)
    calls = _named(pd.DataFrame(rows, columns=["source", "target", "duration", "error"]))
    frame = (calls.groupby(["source", "target"])
             .agg(calls=("error", "size"), errors=("error", "sum"), p50_ms=("duration", lambda v: _quantile(v, 0.5)),
                  p95_ms=("duration", lambda v: _quantile(v, 0.95))).reset_index())
    return _typed(frame, kind)


def _named(frame: pd.DataFrame) -> pd.DataFrame:
    """A missing source is the trace's entry; a missing target is unknown."""
    frame["source"] = frame["source"].fillna(ENTRY)
    frame["target"] = frame["target"].fillna("(unknown)")
    return frame


def _typed(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    frame["kind"] = kind
    frame["errors"] = frame["errors"].fillna(0).astype(int)
    frame["calls"] = frame["calls"].astype(int)
    return frame


def _quantile(values: pd.Series, q: float) -> float:
    array = values.dropna().to_numpy(dtype=float)
    return float(np.quantile(array, q)) if array.size else float("nan")


def _tool_edges(conn: Connection, lo: datetime, hi: datetime, scope: Any) -> pd.DataFrame:
    t, ex = _tools.c, _ex.c
    return _edges(conn, ex.agent_name, t.tool_name, t.duration_ms, t.success, t.start_time,
                  _tools.outerjoin(_ex, ex.id == t.execution_id), "tool", lo, hi, scope, t.trace_id)


def _model_edges(conn: Connection, lo: datetime, hi: datetime, scope: Any) -> pd.DataFrame:
    m, ex = _llm.c, _ex.c
    model = func.coalesce(m.response_model, m.request_model)  # as /metrics names it
    return _edges(conn, ex.agent_name, model, m.duration_ms, m.success, m.start_time,
                  _llm.outerjoin(_ex, ex.id == m.execution_id), "model", lo, hi, scope, m.trace_id)


def _agent_edges(conn: Connection, lo: datetime, hi: datetime, scope: Any) -> pd.DataFrame:
    child = _spans.alias("child")
    parent = _spans.alias("parent")
    c = child.c
    joined = child.outerjoin(parent, and_(parent.c.trace_id == c.trace_id, parent.c.span_id == c.parent_span_id))
    return _edges(conn, parent.c.agent_name, c.agent_name, c.duration_ms, c.status_code != "ERROR", c.start_time,
                  joined, "agent", lo, hi, scope, c.trace_id, c.span_type == "agent")


def _reachable(edges: pd.DataFrame, agent: str) -> pd.DataFrame:
    keep: set[str] = {agent}
    frontier = [agent]
    agent_edges = edges[edges["kind"] == "agent"]
    while frontier:
        node = frontier.pop()
        for target in agent_edges.loc[agent_edges["source"] == node, "target"]:
            if target not in keep:
                keep.add(target)
                frontier.append(target)
    callers = agent_edges[(agent_edges["target"] == agent) & ~agent_edges["source"].isin(keep)]
    inside = edges[edges["source"].isin(keep)]
    return pd.concat([callers, inside], ignore_index=True)
