"""Traces and their spans: the trace list (root spans with per-trace tokens, cost, models, call counts,
session and user), a trace's spans as a tree and waterfall (with each span's model, tokens and cost), one
span's captured content. Every value is a bind parameter; sort columns and statuses are whitelisted.

The list reads root spans newest first through ``ix_spans_root_start_time`` and narrows them with
``search.SearchFilter``; the per-trace figures of one page are read by trace id (primary-key prefixes of
``llm_calls``, ``tool_calls``, ``spans`` and the unique key of ``agent_executions``), so a page costs the same
on a large warehouse as on a small one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Select, and_, case, func, select

from agentotel.core.messages import preview
from agentotel.core.utc import as_utc
from agentotel.warehouse.bounds import check_choice, check_limit
from agentotel.warehouse.models import AgentExecution, LLMCall, Span, ToolCall, span_keys_in
from agentotel.warehouse.search import SearchFilter, trace_conditions, trace_totals
from agentotel.warehouse.types import content_head

TRACE_SORTS = {"start_time": "start_time", "duration_ms": "duration_ms", "name": "name", "service_name": "service_name",
               "agent_name": "agent_name", "cost_usd": "cost_usd", "total_tokens": "total_tokens",
               "llm_calls": "llm_calls"}
ROOT_COLUMNS = ("trace_id", "span_id", "name", "service_name", "agent_name", "agent_version", "start_time", "end_time",
                "duration_ms", "status_code")
TRACE_STATUSES = ("ok", "error")
LLM_SORTS = ("cost_usd", "total_tokens", "llm_calls")
RANKED_SORTS = (*LLM_SORTS, "duration_ms")  # every root of the window ranked, not read in index order
PREVIEW_CHARS = 4000  # of a root's input read for its preview
TRACE_COLUMNS = ["trace_id", "span_id", "name", "service_name", "agent_name", "agent_version", "start_time", "end_time",
                 "duration_ms", "status_code", "status", "span_count", "error_count", "llm_calls", "tool_calls",
                 "input_tokens", "output_tokens", "total_tokens", "cost_usd", "models", "session", "user",
                 "input_preview"]

_spans = Span.__table__
_llm = LLMCall.__table__
_tools = ToolCall.__table__
_executions = AgentExecution.__table__


def recent_traces(
    engine: Engine,
    start: datetime | None = None,
    end: datetime | None = None,
    agent: str | None = None,
    service: str | None = None,
    status: str | None = None,
    trace_id: str | None = None,
    sort: str = "start_time",
    descending: bool = True,
    limit: int = 50,
    offset: int = 0,
    search: SearchFilter | None = None,
) -> pd.DataFrame:
    """Traces by their root span (no parent), one row per trace with ``TRACE_COLUMNS``: the root's name,
    service, start, duration; the trace's agent and version (the root's, else its first agent run's),
    ``status`` ('error' when any span failed), span/error counts, LLM and tool call counts, tokens in/out,
    cost, the models it called (response model, ``request→response`` where they differ), its session
    (``gen_ai.conversation.id``), user, and a one-line preview of its input.

    ``agent`` (of the trace: its root's) and ``service`` are case-insensitive substrings; ``search`` narrows
    further (its window, when given, replaces ``start``/``end``). ``status`` is ``ok`` or ``error``; ``sort``
    one of ``TRACE_SORTS`` (by cost, tokens or calls: the root run's totals, ``search.trace_totals``)."""
    check_choice(sort, TRACE_SORTS, "sort")
    check_choice(status, TRACE_STATUSES, "status")
    limit = check_limit(limit)
    if int(offset) < 0:
        raise ValueError("offset must be >= 0")
    flt = search or SearchFilter()
    overrides = {k: v for k, v in (("agent", agent), ("service", service), ("status", status), ("trace_id", trace_id))
                 if v}
    if overrides:
        flt = SearchFilter.from_mapping({**_fields(flt), **overrides})
    if search is None or (search.start is None and search.end is None):
        flt = SearchFilter.from_mapping({**_fields(flt), "start": start, "end": end})
    flt.check()
    root = _spans.alias("r")
    stmt = select(*(root.c[name] for name in ROOT_COLUMNS)).where(root.c.parent_span_id.is_(None))
    if flt.start is not None and not flt.trace_id:
        stmt = stmt.where(root.c.start_time >= as_utc(flt.start))
    if flt.end is not None and not flt.trace_id:
        stmt = stmt.where(root.c.start_time < as_utc(flt.end))
    totals = None
    if sort in LLM_SORTS or flt.needs_llm_totals:
        run, on, totals = trace_totals(root)
        stmt = stmt.select_from(root.outerjoin(run, on))
    with engine.connect() as conn:
        stmt = stmt.where(*trace_conditions(conn, flt, root, totals))
        order = totals[sort] if totals is not None and sort in LLM_SORTS else root.c[TRACE_SORTS[sort]]
        stmt = stmt.order_by(order.desc() if descending else order.asc(), root.c.trace_id)
        stmt = stmt.limit(limit).offset(int(offset))
        if sort in RANKED_SORTS:
            stmt = _page_of_ranked(stmt, root, order, descending)
        result = conn.execute(stmt)
        frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        if frame.empty:
            return pd.DataFrame(columns=TRACE_COLUMNS)
        return _with_trace_figures(conn, frame)[TRACE_COLUMNS]


def _page_of_ranked(ranking: Select, root: Any, order: Any, descending: bool) -> Select:
    """``ranking`` (the list's statement) ranks every root of the window (by duration or its run's totals):
    narrowed to the roots' keys and the rank, PostgreSQL reads them from the covering root index alone
    (explorer_0003), and only the page's rows are then read whole (at 1M spans over 24 h: 250k root rows not
    fetched)."""
    ranked = ranking.with_only_columns(root.c.trace_id, root.c.span_id, order.label("rank_key")).subquery("ranked")
    page = _spans.alias("p")
    rank = ranked.c.rank_key.desc() if descending else ranked.c.rank_key.asc()
    return (select(*(page.c[name] for name in ROOT_COLUMNS))
            .join_from(ranked, page, and_(page.c.trace_id == ranked.c.trace_id, page.c.span_id == ranked.c.span_id))
            .order_by(rank, ranked.c.trace_id))


def _fields(flt: SearchFilter) -> dict[str, Any]:
    return {k: v for k, v in vars(flt).items() if v is not None}


def _with_trace_figures(conn: Connection, frame: pd.DataFrame) -> pd.DataFrame:
    """Per-trace figures of one page of root spans, read by trace id."""
    ids = frame["trace_id"].tolist()
    s, llm, tools, ex = _spans.c, _llm.c, _tools.c, _executions.c
    counts = _frame(conn.execute(
        select(s.trace_id, func.count().label("span_count"),
               func.sum(case((s.status_code == "ERROR", 1), else_=0)).label("error_count"))
        .where(s.trace_id.in_(ids)).group_by(s.trace_id)))
    calls = _frame(conn.execute(
        select(llm.trace_id, func.count().label("llm_calls"),
               func.coalesce(func.sum(llm.input_tokens), 0).label("input_tokens"),
               func.coalesce(func.sum(llm.output_tokens), 0).label("output_tokens"),
               func.coalesce(func.sum(llm.cost_usd), 0.0).label("cost_usd"))
        .where(llm.trace_id.in_(ids)).group_by(llm.trace_id)))
    models = conn.execute(select(llm.trace_id, llm.request_model, llm.response_model).distinct()
                          .where(llm.trace_id.in_(ids))).all()
    tool_counts = _frame(conn.execute(select(tools.trace_id, func.count().label("tool_calls"))
                                      .where(tools.trace_id.in_(ids)).group_by(tools.trace_id)))
    runs = conn.execute(
        select(ex.trace_id, ex.agent_name, ex.agent_version, ex.conversation_id, ex.user_id,
               content_head(ex.input, PREVIEW_CHARS).label("input"))
        .where(ex.trace_id.in_(ids)).order_by(ex.trace_id, ex.timestamp, ex.span_id)).all()
    roots = conn.execute(select(s.trace_id, content_head(s.input, PREVIEW_CHARS).label("input"))
                         .where(span_keys_in(list(zip(ids, frame["span_id"], strict=True))))).all()
    frame = frame.merge(counts, on="trace_id", how="left").merge(calls, on="trace_id", how="left")
    frame = frame.merge(tool_counts, on="trace_id", how="left")
    for column in ("span_count", "error_count", "llm_calls", "input_tokens", "output_tokens", "tool_calls"):
        frame[column] = frame[column].fillna(0).astype(int)
    frame["cost_usd"] = frame["cost_usd"].fillna(0.0).astype(float)
    frame["total_tokens"] = frame["input_tokens"] + frame["output_tokens"]
    frame["status"] = ["error" if e > 0 else "ok" for e in frame["error_count"]]
    by_trace: dict[str, list[str | None]] = {}
    for row in models:
        by_trace.setdefault(row.trace_id, []).append(model_label(row.request_model, row.response_model))
    frame["models"] = [", ".join(sorted({m for m in by_trace.get(t, []) if m})) for t in frame["trace_id"]]
    first_run: dict[str, Any] = {}
    context: dict[str, dict[str, Any]] = {}
    for run in runs:
        first_run.setdefault(run.trace_id, run)
        found = context.setdefault(run.trace_id, {"session": None, "user": None})
        found["session"] = found["session"] or run.conversation_id
        found["user"] = found["user"] or run.user_id
    root_input = {root.trace_id: root.input for root in roots}
    frame["agent_name"] = [a if a else getattr(first_run.get(t), "agent_name", None)
                           for t, a in zip(frame["trace_id"], frame["agent_name"], strict=True)]
    frame["agent_version"] = [v if v else getattr(first_run.get(t), "agent_version", None)
                              for t, v in zip(frame["trace_id"], frame["agent_version"], strict=True)]
    frame["session"] = [context.get(t, {}).get("session") for t in frame["trace_id"]]
    frame["user"] = [context.get(t, {}).get("user") for t in frame["trace_id"]]
    frame["input_preview"] = [preview(root_input.get(t) or getattr(first_run.get(t), "input", None))
                              for t in frame["trace_id"]]
    return frame


def model_label(request_model: str | None, response_model: str | None) -> str | None:
    """The model as ``/metrics`` names it (the response model, else the request model), with the requested
    one in front when they differ: ``gpt-4o→gpt-4o-2024-08-06``."""
    request_model = request_model if isinstance(request_model, str) and request_model else None
    response_model = response_model if isinstance(response_model, str) and response_model else None
    if response_model and request_model and response_model != request_model:
        return f"{request_model}→{response_model}"
    return response_model or request_model


def _frame(result: Any) -> pd.DataFrame:
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


SPAN_COLUMNS = ["trace_id", "span_id", "parent_span_id", "name", "span_type", "kind", "service_name", "agent_name",
                "agent_version", "start_time", "end_time", "duration_ms", "status_code", "status_message", "attributes",
                "events", "execution_id", "depth", "offset_ms", "provider", "request_model", "response_model",
                "model", "input_tokens", "output_tokens", "cached_input_tokens", "cost_usd", "time_to_first_token_ms",
                "finish_reason", "tool_name", "child_count"]


def trace_spans(engine: Engine, trace_id: str) -> pd.DataFrame:
    """All spans of ``trace_id`` in tree order (each span followed by its children, children by start), with
    ``depth`` (0 = root), ``offset_ms`` from the trace's first span, ``child_count``, and the model call's
    provider, models (``model`` as ``model_label`` names it), tokens, cost, time to first token and finish
    reason, or the tool's name: the rows of the span tree and the waterfall."""
    s, llm, tool = _spans.c, _llm.c, _tools.c
    stmt = (
        select(
            s.trace_id, s.span_id, s.parent_span_id, s.name, s.span_type, s.kind, s.service_name, s.agent_name,
            s.agent_version, s.start_time, s.end_time, s.duration_ms, s.status_code, s.status_message, s.attributes,
            s.events, s.execution_id, s.start_time_unix_nano, llm.provider, llm.request_model, llm.response_model,
            llm.input_tokens, llm.output_tokens, llm.cached_input_tokens, llm.cost_usd, llm.time_to_first_token_ms,
            llm.finish_reason, tool.tool_name,
        )
        .select_from(_spans.outerjoin(_llm, (llm.trace_id == s.trace_id) & (llm.span_id == s.span_id))
                     .outerjoin(_tools, (tool.trace_id == s.trace_id) & (tool.span_id == s.span_id)))
        .where(s.trace_id == str(trace_id).lower())
        .order_by(s.start_time_unix_nano, s.span_id)
    )
    with engine.connect() as conn:
        frame = _frame(conn.execute(stmt))
    if frame.empty:
        return pd.DataFrame(columns=SPAN_COLUMNS)
    order, depths, children = tree_order(frame["span_id"].tolist(), frame["parent_span_id"].tolist())
    frame = frame.iloc[order].reset_index(drop=True)
    frame["depth"] = [depths[i] for i in order]
    frame["child_count"] = [children[i] for i in order]
    first = int(frame["start_time_unix_nano"].min())
    frame["offset_ms"] = (frame["start_time_unix_nano"].astype("int64") - first) / 1e6
    frame["model"] = [model_label(r, p) for r, p in zip(frame["request_model"], frame["response_model"], strict=True)]
    return frame[SPAN_COLUMNS]


def tree_order(span_ids: Sequence[str], parents: Sequence[str | None]) -> tuple[list[int], list[int], list[int]]:
    """Positions of spans (given in start order) in depth-first tree order, with each position's depth and
    child count. A span whose parent is unknown (not arrived, or outside the trace) is a root; a cycle of
    parent ids is broken where it is entered."""
    index = {sid: i for i, sid in enumerate(span_ids)}
    kids: dict[int, list[int]] = {}
    roots: list[int] = []
    for i, parent in enumerate(parents):
        p = index.get(parent) if parent is not None else None
        if p is None or p == i:
            roots.append(i)
        else:
            kids.setdefault(p, []).append(i)
    order: list[int] = []
    depth = [0] * len(span_ids)
    seen: set[int] = set()

    def walk(start: int) -> None:
        stack = [(start, 0)]
        while stack:
            node, level = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            order.append(node)
            depth[node] = level
            stack.extend((k, level + 1) for k in reversed(kids.get(node, [])))

    for r in roots:
        walk(r)
    for i in range(len(span_ids)):  # spans on a cycle of parent ids
        if i not in seen:
            walk(i)
    return order, [depth[i] for i in range(len(span_ids))], [len(kids.get(i, [])) for i in range(len(span_ids))]


def span_content(engine: Engine, trace_id: str, span_id: str) -> dict[str, Any]:
    """One span's input/output (captured content), attributes, resource attributes, events, links and
    status message; an empty dict when there is no such span."""
    s = _spans
    stmt = select(
        s.c.trace_id, s.c.span_id, s.c.name, s.c.span_type, s.c.input, s.c.output, s.c.attributes,
        s.c.resource_attributes, s.c.events, s.c.links, s.c.status_code, s.c.status_message, s.c.scope_name,
        s.c.scope_version,
    ).where(s.c.trace_id == str(trace_id).lower(), s.c.span_id == str(span_id).lower())
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    return dict(row._mapping) if row is not None else {}


def trace_executions(engine: Engine, trace_id: str) -> pd.DataFrame:
    """The agent runs of a trace: span_id, agent name and version, totals (tokens, cost, calls), success,
    conversation and user, and their resource use (``metadata``: RSS start/end/peak bytes, thread CPU s)."""
    ex = _executions.c
    stmt = select(
        ex.id, ex.span_id, ex.agent_name, ex.agent_version, ex.timestamp, ex.duration_ms, ex.success, ex.error_message,
        ex.tokens_used, ex.input_tokens, ex.output_tokens, ex.cost_usd, ex.llm_call_count, ex.tool_call_count,
        ex.conversation_id, ex.user_id, ex["metadata"],
    ).where(ex.trace_id == str(trace_id).lower()).order_by(ex.timestamp, ex.span_id)
    with engine.connect() as conn:
        return _frame(conn.execute(stmt))
