"""Sessions (``gen_ai.conversation.id``) and users (``user.id``, ``enduser.id`` and the dialects' spellings,
normalized into ``user_id``): lists with their figures, and one session's conversation in order.

Both are read from ``agent_executions``, which carries each run's conversation and user (its own span's,
else its trace's) and is indexed on ``(conversation_id, timestamp)`` and ``(user_id, timestamp)``. Tokens
and cost come from ``llm_calls`` through each call's owning run (``llm_calls.execution_id``), so a call
inside a nested sub-agent counts once. A *turn* is a top-level run: an agent run whose parent span belongs
to no run (a sub-agent's run is part of its caller's turn).

Narrowed by what a trace's spans decide (content, model, tool, attribute, status, ranges), the lists are made
of the runs of the newest ``MATCHING_TRACES`` matching traces of the window: a common word would otherwise
have every trace of the window tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, and_, case, func, select

from agentotel.core.utc import as_utc
from agentotel.warehouse.bounds import check_choice, check_limit
from agentotel.warehouse.models import AgentExecution, LLMCall, Span, ToolCall
from agentotel.warehouse.search import SearchFilter, contains, trace_conditions

MATCHING_TRACES = 500  # a search by content (or model, tool, attribute…) looks at this many newest matching traces
SESSION_SORTS = ("last_time", "first_time", "traces", "runs", "errors")
USER_SORTS = ("last_time", "first_time", "sessions", "traces", "runs", "errors")
SESSION_COLUMNS = ["session", "first_time", "last_time", "traces", "turns", "runs", "errors", "user", "agents",
                   "input_tokens", "output_tokens", "total_tokens", "cost_usd"]
USER_COLUMNS = ["user", "first_time", "last_time", "sessions", "traces", "runs", "errors", "agents", "input_tokens",
                "output_tokens", "total_tokens", "cost_usd"]
TURN_COLUMNS = ["trace_id", "span_id", "agent_name", "agent_version", "start_time", "duration_ms", "success",
                "error_message", "input_tokens", "output_tokens", "cost_usd", "input", "output", "tools", "user"]

_ex = AgentExecution.__table__
_spans = Span.__table__
_llm = LLMCall.__table__
_tools = ToolCall.__table__


def _narrowing(flt: SearchFilter) -> bool:
    """Whether ``flt`` narrows by anything a trace's spans decide (beyond window, agent, user, session)."""
    return any(getattr(flt, k) is not None for k in (
        "trace_id", "service", "model", "provider", "tool", "status", "min_duration_ms", "max_duration_ms",
        "min_cost", "max_cost", "min_tokens", "max_tokens", "attribute", "text"))


def _run_filter(conn: Connection, flt: SearchFilter) -> list[Any]:
    """Conditions on ``agent_executions`` rows for ``flt``."""
    ex = _ex.c
    out: list[Any] = []
    if flt.start is not None:
        out.append(ex.timestamp >= as_utc(flt.start))
    if flt.end is not None:
        out.append(ex.timestamp < as_utc(flt.end))
    if flt.agent:
        out.append(contains(ex.agent_name, flt.agent))
    if flt.user:
        out.append(ex.user_id == flt.user)
    if flt.session:
        out.append(ex.conversation_id == flt.session)
    if _narrowing(flt):  # runs of the newest MATCHING_TRACES traces that match the rest of the filter
        root = _spans.alias("r")
        narrowed = SearchFilter.from_mapping({k: v for k, v in vars(flt).items()
                                              if k not in ("agent", "user", "session") and v is not None})
        traces = select(root.c.trace_id).where(root.c.parent_span_id.is_(None), *trace_conditions(conn, narrowed, root))
        if narrowed.start is not None:
            traces = traces.where(root.c.start_time >= as_utc(narrowed.start))
        if narrowed.end is not None:
            traces = traces.where(root.c.start_time < as_utc(narrowed.end))
        traces = traces.order_by(root.c.start_time.desc()).limit(MATCHING_TRACES)
        out.append(ex.trace_id.in_(traces))
    return out


def sessions(engine: Engine, search: SearchFilter | None = None, sort: str = "last_time", descending: bool = True,
             limit: int = 100) -> pd.DataFrame:
    """Sessions with a run in the window of ``search`` that matches the rest of it, one row each with
    ``SESSION_COLUMNS`` over the whole session: first and last time, traces, turns, runs, failed runs
    (``errors``), user, agents, tokens and cost. ``sort`` (one of ``SESSION_SORTS``) orders by the matching
    runs."""
    check_choice(sort, SESSION_SORTS, "sort")
    limit = check_limit(limit)
    flt = search or SearchFilter()
    ex = _ex.c
    last = func.max(func.coalesce(ex.end_time, ex.timestamp)).label("last_time")
    columns = {
        "first_time": func.min(ex.timestamp).label("first_time"), "last_time": last,
        "traces": func.count(func.distinct(ex.trace_id)).label("traces"), "runs": func.count().label("runs"),
        "errors": func.sum(case((ex.success.is_(False), 1), else_=0)).label("errors"),
    }
    with engine.connect() as conn:
        # the sessions with a matching run (ordered by their matching runs), then each one's figures over all
        # of its runs: a session is shown whole
        stmt = (select(ex.conversation_id.label("session"), columns[sort])
                .where(ex.conversation_id.is_not(None), *_run_filter(conn, flt))
                .group_by(ex.conversation_id))
        order = columns[sort]
        stmt = stmt.order_by(order.desc() if descending else order.asc(), ex.conversation_id).limit(limit)
        picked = [row.session for row in conn.execute(stmt)]
        if not picked:
            return pd.DataFrame(columns=SESSION_COLUMNS)
        whole = (select(ex.conversation_id.label("session"), *columns.values(), func.max(ex.user_id).label("user"))
                 .where(ex.conversation_id.in_(picked)).group_by(ex.conversation_id))
        frame = _frame(conn.execute(whole)).set_index("session").loc[picked].reset_index()
        ids = frame["session"].tolist()
        frame = frame.merge(_llm_totals(conn, ex.conversation_id, ids, "session"), on="session", how="left")
        frame = frame.merge(_agents(conn, ex.conversation_id, ids, "session"), on="session", how="left")
        turns = _turns(conn, ex.conversation_id.in_(ids))
        frame["turns"] = [int((turns["group"] == sid).sum()) for sid in frame["session"]] if not turns.empty else 0
    return _finish(frame, SESSION_COLUMNS)


def users(engine: Engine, search: SearchFilter | None = None, sort: str = "last_time", descending: bool = True,
          limit: int = 100) -> pd.DataFrame:
    """Users with a run in the window of ``search``, one row each with ``USER_COLUMNS``: first and last
    time, sessions, traces, runs, failed runs, agents, tokens and cost. ``sort`` is one of ``USER_SORTS``."""
    check_choice(sort, USER_SORTS, "sort")
    limit = check_limit(limit)
    flt = search or SearchFilter()
    ex = _ex.c
    columns = {
        "first_time": func.min(ex.timestamp).label("first_time"),
        "last_time": func.max(func.coalesce(ex.end_time, ex.timestamp)).label("last_time"),
        "sessions": func.count(func.distinct(ex.conversation_id)).label("sessions"),
        "traces": func.count(func.distinct(ex.trace_id)).label("traces"), "runs": func.count().label("runs"),
        "errors": func.sum(case((ex.success.is_(False), 1), else_=0)).label("errors"),
    }
    with engine.connect() as conn:
        # the users ranked by the sort's figure alone, then all figures of those: the distinct counts of a day's
        # runs (a sort of 250k rows at 1M spans, 0.8 s) are then computed for the page's users only
        where = [ex.user_id.is_not(None), *_run_filter(conn, flt)]
        order = columns[sort]
        ranked = (select(ex.user_id.label("user"), order).where(*where).group_by(ex.user_id)
                  .order_by(order.desc() if descending else order.asc(), ex.user_id).limit(limit))
        picked = [row.user for row in conn.execute(ranked)]
        if not picked:
            return pd.DataFrame(columns=USER_COLUMNS)
        figures = (select(ex.user_id.label("user"), *columns.values())
                   .where(*where, ex.user_id.in_(picked)).group_by(ex.user_id))
        frame = _frame(conn.execute(figures)).set_index("user").loc[picked].reset_index()
        ids = frame["user"].tolist()
        frame = frame.merge(_llm_totals(conn, ex.user_id, ids, "user", flt), on="user", how="left")
        frame = frame.merge(_agents(conn, ex.user_id, ids, "user", flt), on="user", how="left")
    return _finish(frame, USER_COLUMNS)


def _llm_totals(conn: Connection, key: Any, ids: Sequence[str], name: str, flt: SearchFilter | None = None) -> pd.DataFrame:
    ex, llm = _ex.c, _llm.c
    where = [key.in_(ids)]
    if flt is not None:  # a user's figures over the window only (a session's over its whole life)
        if flt.start is not None:
            where.append(ex.timestamp >= as_utc(flt.start))
        if flt.end is not None:
            where.append(ex.timestamp < as_utc(flt.end))
    stmt = (select(key.label(name), func.coalesce(func.sum(llm.input_tokens), 0).label("input_tokens"),
                   func.coalesce(func.sum(llm.output_tokens), 0).label("output_tokens"),
                   func.coalesce(func.sum(llm.cost_usd), 0.0).label("cost_usd"))
            .select_from(_llm.join(_ex, ex.id == llm.execution_id)).where(*where).group_by(key))
    return _frame(conn.execute(stmt), [name, "input_tokens", "output_tokens", "cost_usd"])


def _agents(conn: Connection, key: Any, ids: Sequence[str], name: str, flt: SearchFilter | None = None) -> pd.DataFrame:
    ex = _ex.c
    where = [key.in_(ids), ex.agent_name.is_not(None)]
    if flt is not None:
        if flt.start is not None:
            where.append(ex.timestamp >= as_utc(flt.start))
        if flt.end is not None:
            where.append(ex.timestamp < as_utc(flt.end))
    rows = conn.execute(select(key.label(name), ex.agent_name).distinct().where(*where)).all()
    found: dict[str, set[str]] = {}
    for row in rows:
        found.setdefault(row[0], set()).add(row[1])
    return pd.DataFrame({name: list(found), "agents": [", ".join(sorted(v)) for v in found.values()]},
                        columns=[name, "agents"])


def _turns(conn: Connection, condition: Any) -> pd.DataFrame:
    """Top-level runs matching ``condition`` (on ``agent_executions``): group (conversation), trace, span."""
    ex = _ex.c
    own = _spans.alias("own")
    parent = _spans.alias("parent")
    stmt = (
        select(ex.conversation_id.label("group"), ex.trace_id, ex.span_id)
        .select_from(
            _ex.join(own, and_(own.c.trace_id == ex.trace_id, own.c.span_id == ex.span_id))
            .outerjoin(parent, and_(parent.c.trace_id == own.c.trace_id, parent.c.span_id == own.c.parent_span_id)))
        .where(condition, parent.c.execution_id.is_(None))
    )
    return _frame(conn.execute(stmt), ["group", "trace_id", "span_id"])


def session_turns(engine: Engine, session: str) -> pd.DataFrame:
    """The turns of one session in order (``TURN_COLUMNS``): each top-level run's trace, agent, start,
    duration, outcome, tokens and cost (its own and its sub-agents'), input and output (captured content;
    the trace's first model call's input and last model call's output when the run itself has none), the
    tools it called (``name`` or ``name (failed)``, in order) and the user."""
    ex, s, tools = _ex.c, _spans.c, _tools.c
    with engine.connect() as conn:
        top = _turns(conn, ex.conversation_id == session)
        if top.empty:
            return pd.DataFrame(columns=TURN_COLUMNS)
        keys = set(zip(top["trace_id"], top["span_id"], strict=True))
        trace_ids = sorted({t for t, _ in keys})
        runs = _frame(conn.execute(
            select(ex.trace_id, ex.span_id, ex.agent_name, ex.agent_version, ex.timestamp.label("start_time"),
                   ex.duration_ms, ex.success, ex.error_message, ex.input_tokens, ex.output_tokens, ex.cost_usd,
                   ex.input, ex.output, ex.user_id.label("user"))
            .where(ex.conversation_id == session, ex.trace_id.in_(trace_ids))
            .order_by(ex.timestamp, ex.trace_id, ex.span_id)))
        runs = runs[[(t, sp) in keys for t, sp in zip(runs["trace_id"], runs["span_id"], strict=True)]]
        missing = sorted(set(runs.loc[runs["input"].isna() | runs["output"].isna(), "trace_id"]))
        fallback: dict[str, tuple[str | None, str | None]] = {}
        if missing:
            calls = conn.execute(
                select(s.trace_id, s.input, s.output).where(s.trace_id.in_(missing), s.span_type == "llm")
                .order_by(s.trace_id, s.start_time_unix_nano)).all()
            for row in calls:
                first_in, _ = fallback.get(row.trace_id, (None, None))
                fallback[row.trace_id] = (first_in or row.input, row.output or fallback.get(row.trace_id, (None, None))[1])
        used = conn.execute(
            select(tools.trace_id, tools.tool_name, tools.success).where(tools.trace_id.in_(trace_ids))
            .order_by(tools.trace_id, tools.start_time)).all()
    called: dict[str, list[str]] = {}
    for row in used:
        called.setdefault(row.trace_id, []).append(f"{row.tool_name}" + ("" if row.success else " (failed)"))
    runs = runs.reset_index(drop=True)
    runs["input"] = [i if isinstance(i, str) else fallback.get(t, (None, None))[0]
                     for t, i in zip(runs["trace_id"], runs["input"], strict=True)]
    runs["output"] = [o if isinstance(o, str) else fallback.get(t, (None, None))[1]
                      for t, o in zip(runs["trace_id"], runs["output"], strict=True)]
    runs["tools"] = [", ".join(called.get(t, [])) for t in runs["trace_id"]]
    return runs[TURN_COLUMNS]


def _frame(result: Any, columns: Sequence[str] | None = None) -> pd.DataFrame:
    return pd.DataFrame(result.fetchall(), columns=list(columns) if columns is not None else list(result.keys()))


def _finish(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    for column in ("input_tokens", "output_tokens", "errors", "runs", "traces"):
        if column in frame:
            frame[column] = frame[column].fillna(0).astype(int)
    frame["cost_usd"] = frame["cost_usd"].fillna(0.0).astype(float)
    frame["total_tokens"] = frame["input_tokens"] + frame["output_tokens"]
    frame["agents"] = frame["agents"].fillna("")
    return frame[list(columns)].reset_index(drop=True)
