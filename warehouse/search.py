"""Search shared by the trace, session and call lists: one filter (``SearchFilter``) and full-text search in
captured content (``spans.input`` / ``spans.output``).

Filters: agent and service are case-insensitive substrings (``support`` finds ``support-agent``), as are
model (request or response model), provider and tool; status, latency, cost and token ranges; an attribute
``key=value`` (span or resource attributes of any span of the trace); session and user ids; a window.
Every value is a bind parameter (LIKE patterns escaped); nothing a user types becomes SQL.

Full-text index, kept in step with the rows by the database itself inside the writer's transaction (so the
receiver's span writer, the log-content hook that fills content later, retention and restore all keep it
current without code of their own):

- SQLite: an FTS5 table ``spans_fts`` (contentless: the text is not stored twice; ``unicode61`` tokenizer,
  diacritics folded) whose rowid is the id of the span in ``spans_fts_keys`` (an ``INTEGER PRIMARY KEY``, so a
  ``VACUUM`` cannot renumber it), maintained by triggers on ``spans`` (insert, update of input/output, delete).
- PostgreSQL: ``span_content_index`` stores each span's ``to_tsvector('simple', …)`` of both columns (each cut
  to 50,000 characters, far below PostgreSQL's 1 MB tsvector limit) with its start time, under a GIN index,
  kept in step by a trigger on ``spans`` (``warehouse/fts.py``).

Made by migrations ``explorer_0001`` (SQLite) and ``explorer_0002`` (PostgreSQL). A query is cut into words
(letters and digits); every word must occur, each as a prefix (``refund`` finds ``refunds``), in the input or
the output of one span. How PostgreSQL reads a search depends on how common it is: see ``_hits``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import (
    CTE,
    Connection,
    Engine,
    Select,
    String,
    and_,
    column,
    delete,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
    text,
    tuple_,
)
from sqlalchemy.sql.elements import ColumnElement

from agentotel.core.messages import preview
from agentotel.core.utc import as_utc
from agentotel.warehouse import fts
from agentotel.warehouse.bounds import check_choice
from agentotel.warehouse.models import AgentExecution, LLMCall, Span, ToolCall, span_keys_in
from agentotel.warehouse.types import content_head

SQLITE_FTS_TABLE = "spans_fts"
SQLITE_FTS_KEYS = "spans_fts_keys"
MAX_WORDS = 12
CONTENT_SLACK = timedelta(hours=1)  # spans of a trace may start this long after its root
# PostgreSQL: a content query that the planner expects to match at most this many spans of the window is read
# through the index first (see ``_indexed_hits``); a more common word is tested trace by trace
INDEXED_HITS = 20_000
STATUSES = ("ok", "error")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

_spans = Span.__table__
_llm = LLMCall.__table__
_tools = ToolCall.__table__
_executions = AgentExecution.__table__
_fts_keys = table(SQLITE_FTS_KEYS, column("id"), column("trace_id", String), column("span_id", String))
_content_index = table("span_content_index", column("trace_id", String), column("span_id", String),
                       column("start_time"), column("span_type", String), column("document"))


@dataclass(frozen=True)
class SearchFilter:
    """What the lists are narrowed to; every field is optional (None: not filtered)."""

    start: datetime | None = None
    end: datetime | None = None
    trace_id: str | None = None
    agent: str | None = None
    service: str | None = None
    model: str | None = None
    provider: str | None = None
    tool: str | None = None
    status: str | None = None  # ok | error
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    min_cost: float | None = None
    max_cost: float | None = None
    min_tokens: int | None = None
    max_tokens: int | None = None
    attribute: str | None = None  # "key=value"
    text: str | None = None  # full-text search in captured content
    session: str | None = None  # gen_ai.conversation.id
    user: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> SearchFilter:
        """A filter from a mapping of field names (unknown names are refused; empty strings are None)."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown filter(s): {', '.join(sorted(unknown))}")
        cleaned = {k: (None if isinstance(v, str) and not v.strip() else v) for k, v in values.items()}
        for key in ("agent", "service", "model", "provider", "tool", "attribute", "text", "session", "user",
                    "trace_id"):
            value = cleaned.get(key)
            if isinstance(value, str):
                cleaned[key] = value.strip()
        found = cls(**cleaned)
        found.check()
        return found

    def check(self) -> None:
        check_choice(self.status, STATUSES, "status")
        for lo, hi in (("min_duration_ms", "max_duration_ms"), ("min_cost", "max_cost"), ("min_tokens", "max_tokens")):
            a, b = getattr(self, lo), getattr(self, hi)
            for value in (a, b):
                if value is not None and not isinstance(value, (int, float)):
                    raise ValueError(f"{lo.split('_', 1)[1]} range must be numbers")
            if a is not None and b is not None and a > b:
                raise ValueError(f"the lower {lo.split('_', 1)[1].replace('_', ' ')} bound is above the upper one")
        if self.attribute is not None:
            attribute_pair(self.attribute)
        if self.text is not None and not words(self.text):
            raise ValueError("a content search needs at least one word (letters or digits)")

    @property
    def needs_llm_totals(self) -> bool:
        return any(v is not None for v in (self.min_cost, self.max_cost, self.min_tokens, self.max_tokens))


def attribute_pair(value: str) -> tuple[str, str]:
    """``key=value`` split at the first ``=``; ValueError when there is no key."""
    key, sep, wanted = value.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError("an attribute filter is key=value, e.g. gen_ai.request.model=gpt-4o")
    return key, wanted.strip()


def words(query: str) -> list[str]:
    """The words of a content query (letters and digits; at most ``MAX_WORDS``), lower-cased."""
    return [w.lower() for w in _WORD.findall(query or "")][:MAX_WORDS]


def contains(col: ColumnElement[Any], value: str) -> ColumnElement[bool]:
    """Case-insensitive substring match, ``%`` and ``_`` in ``value`` taken literally."""
    return col.icontains(value, autoescape=True)


# ------------------------------------------------------------------------------------------ full text


def content_match(conn: Connection, query: str, spans: Any = None) -> ColumnElement[bool]:
    """A condition on ``spans`` rows (the table, or the one alias of it in a FROM of its own): their content
    holds every word of ``query``. On SQLite without the FTS table (a schema made without migrations) a LIKE
    per word."""
    terms = words(query)
    if not terms:
        raise ValueError("a content search needs at least one word (letters or digits)")
    s = (spans if spans is not None else _spans).c
    if conn.dialect.name == "postgresql":
        i = _content_index.c
        return exists().where(i.trace_id == s.trace_id, i.span_id == s.span_id, _pg_matches(terms))
    if conn.dialect.name == "sqlite" and has_sqlite_fts(conn):
        return exists().where(_fts_keys.c.id.in_(_fts_rowids(terms)), _fts_keys.c.trace_id == s.trace_id,
                              _fts_keys.c.span_id == s.span_id)
    return and_(*[or_(contains(s.input, t), contains(s.output, t)) for t in terms])


def _fts_rowids(terms: list[str]) -> Select[Any]:
    """The SQLite FTS5 rowids (ids in ``spans_fts_keys``) of the spans whose content holds every term."""
    match = " ".join(f'"{t}"*' for t in terms)  # quoted: FTS5 reads them as plain words
    return select(literal_column("rowid")).select_from(table(SQLITE_FTS_TABLE)).where(
        literal_column(SQLITE_FTS_TABLE).op("MATCH")(match))


def _pg_matches(terms: list[str]) -> ColumnElement[bool]:
    """``span_content_index.document`` holds every word of ``terms`` (each as a prefix)."""
    tsquery = " & ".join(f"{t}:*" for t in terms)  # words are letters and digits only: no tsquery syntax
    return _content_index.c.document.op("@@")(func.to_tsquery(literal_column("'simple'::regconfig"), tsquery))


def has_sqlite_fts(conn: Connection) -> bool:
    """Whether this SQLite database has the content index (migration explorer_0001)."""
    found = conn.execute(
        text("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (:a, :b)"),
        {"a": SQLITE_FTS_TABLE, "b": SQLITE_FTS_KEYS},
    ).scalar()
    return found == 2


def content_hits(engine: Engine, query: str, start: datetime | None = None, end: datetime | None = None,
                 limit: int = 200) -> list[tuple[str, str]]:
    """(trace_id, span_id) of spans whose captured content holds every word of ``query``, newest first."""
    s = _spans.c
    with engine.connect() as conn:
        stmt: Select[Any] = select(s.trace_id, s.span_id).where(content_match(conn, query))
        if start is not None:
            stmt = stmt.where(s.start_time >= as_utc(start))
        if end is not None:
            stmt = stmt.where(s.start_time < as_utc(end))
        stmt = stmt.order_by(s.start_time.desc()).limit(int(limit))
        return [(r.trace_id, r.span_id) for r in conn.execute(stmt)]


def rebuild_content_index(engine: Engine) -> int:
    """Re-index every span's content from scratch, with the triggers that keep it in step: after a
    ``spans`` table rebuild that dropped them, or to repair. Returns the spans indexed."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            return fts.create_sqlite_fts(conn, rebuild=True)
        if conn.dialect.name != "postgresql":
            return 0
        fts.create_pg_content_index(conn, backfill=False)
        conn.execute(delete(_content_index))
        conn.exec_driver_sql(fts.PG_BACKFILL)
        return int(conn.execute(select(func.count()).select_from(_content_index)).scalar() or 0)


# ------------------------------------------------------------------------------------------ trace filter


def trace_totals(root: Any) -> tuple[Any, Any, dict[str, Any]]:
    """(run table, join condition, expressions) of a trace's cost, tokens and model calls for its root-span
    row ``root``: the totals of the root's own run (``agent_executions`` keyed by the root span; they cover
    every model call beneath it), else, for a root that is no run's (an HTTP span above the agents), a sum
    over the trace's ``llm_calls``. The caller outer-joins the run table on the condition: one indexed
    lookup per root instead of a sum over its calls."""
    run = _executions.alias("tr")
    on = and_(run.c.trace_id == root.c.trace_id, run.c.span_id == root.c.span_id)
    llm = _llm.alias("tl")

    def summed(value: Any) -> Any:
        return select(value).where(llm.c.trace_id == root.c.trace_id).scalar_subquery()

    tokens = func.coalesce(llm.c.input_tokens, 0) + func.coalesce(llm.c.output_tokens, 0)
    return run, on, {
        "cost_usd": func.coalesce(run.c.cost_usd, summed(func.coalesce(func.sum(llm.c.cost_usd), 0.0))),
        "total_tokens": func.coalesce(run.c.input_tokens + run.c.output_tokens,
                                      summed(func.coalesce(func.sum(tokens), 0))),
        "llm_calls": func.coalesce(run.c.llm_call_count, summed(func.count())),
    }


def trace_conditions(conn: Connection, flt: SearchFilter, root: Any, totals: dict[str, Any] | None = None
                     ) -> list[ColumnElement[bool]]:
    """Conditions on a root-span row ``root`` (a ``spans`` alias) for ``flt``, window excluded; cost and
    token ranges read ``totals`` (the expressions of ``trace_totals``, its run table joined by the caller)
    when given, else a correlated sum per root."""
    trace_id = root.c.trace_id
    out: list[ColumnElement[bool]] = []
    if flt.trace_id:
        out.append(trace_id == flt.trace_id.lower())
    if flt.agent:  # the trace's agent: its root's, else (a root that is no agent's) that of a run in it
        e = _executions.alias("fe")
        out.append(or_(contains(root.c.agent_name, flt.agent),
                       and_(root.c.agent_name.is_(None),
                            exists().where(e.c.trace_id == trace_id, contains(e.c.agent_name, flt.agent)))))
    if flt.service:
        out.append(contains(root.c.service_name, flt.service))
    if flt.status:
        inner = _spans.alias("fs")
        failed = exists().where(inner.c.trace_id == trace_id, inner.c.status_code == "ERROR")
        out.append(failed if flt.status == "error" else ~failed)
    if flt.min_duration_ms is not None:
        out.append(root.c.duration_ms >= float(flt.min_duration_ms))
    if flt.max_duration_ms is not None:
        out.append(root.c.duration_ms <= float(flt.max_duration_ms))
    if flt.model or flt.provider:
        llm = _llm.alias("fl")
        where = [llm.c.trace_id == trace_id]
        if flt.model:
            where.append(or_(contains(llm.c.request_model, flt.model), contains(llm.c.response_model, flt.model)))
        if flt.provider:
            where.append(contains(llm.c.provider, flt.provider))
        out.append(exists().where(*where))
    if flt.tool:
        tool = _tools.alias("ft")
        out.append(exists().where(tool.c.trace_id == trace_id, contains(tool.c.tool_name, flt.tool)))
    if flt.needs_llm_totals:
        cost: Any
        tokens: Any
        if totals is not None:
            cost, tokens = totals["cost_usd"], totals["total_tokens"]
        else:
            llm = _llm.alias("fc")
            cost = select(func.coalesce(func.sum(llm.c.cost_usd), 0.0)).where(llm.c.trace_id == trace_id).scalar_subquery()
            tokens = (select(func.coalesce(func.sum(func.coalesce(llm.c.input_tokens, 0) + func.coalesce(llm.c.output_tokens, 0)), 0))
                      .where(llm.c.trace_id == trace_id).scalar_subquery())
        if flt.min_cost is not None:
            out.append(cost >= float(flt.min_cost))
        if flt.max_cost is not None:
            out.append(cost <= float(flt.max_cost))
        if flt.min_tokens is not None:
            out.append(tokens >= int(flt.min_tokens))
        if flt.max_tokens is not None:
            out.append(tokens <= int(flt.max_tokens))
    if flt.attribute:
        out.append(_attribute_condition(conn, flt.attribute, trace_id))
    if flt.session or flt.user:
        e = _executions.alias("fx")
        where = [e.c.trace_id == trace_id]
        if flt.session:
            where.append(e.c.conversation_id == flt.session)
        if flt.user:
            where.append(e.c.user_id == flt.user)
        out.append(exists().where(*where))
    if flt.text:
        out.append(_trace_has_content(conn, flt, trace_id))
    return out


def _attribute_condition(conn: Connection, attribute: str, trace_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """Some span of the trace has ``key`` = ``value`` among its attributes or its resource's (compared as
    text, and as a number or a boolean when the value reads as one)."""
    key, wanted = attribute_pair(attribute)
    a = _spans.alias("fa")
    values: list[ColumnElement[bool]] = []
    for source in (a.c.attributes, a.c.resource_attributes):
        values.append(source[key].as_string() == wanted)  # PostgreSQL: ->> gives numbers and booleans as text
        if conn.dialect.name != "sqlite":
            continue  # (a cast there would fail on another span's non-numeric value)
        if wanted.lower() in ("true", "false"):  # SQLite: json_extract gives typed values
            values.append(source[key].as_boolean() == (wanted.lower() == "true"))
        else:
            try:
                values.append(source[key].as_float() == float(wanted))
            except ValueError:
                pass
    return exists().where(a.c.trace_id == trace_id, or_(*values))


def _trace_has_content(conn: Connection, flt: SearchFilter, trace_id: ColumnElement[Any]) -> ColumnElement[bool]:
    """Some span of the trace matches the content query (within the window, with an hour of slack for
    spans that started after their root)."""
    assert flt.text is not None
    if conn.dialect.name == "sqlite" and has_sqlite_fts(conn):
        # the traces of the FTS hits, read from the key table alone: testing each span of the window against
        # the hits took 0.7 s for a common word at 200k spans (this: 0.24 s; a rare word 0.3 s -> 1 ms). Every
        # caller keeps the roots to its window, so a hit's own start time is not tested
        terms = words(flt.text)
        if not terms:
            raise ValueError("a content search needs at least one word (letters or digits)")
        return trace_id.in_(select(_fts_keys.c.trace_id).where(_fts_keys.c.id.in_(_fts_rowids(terms))))
    hits = _hits(conn, flt.text, flt.start, flt.end, with_span=False)
    return trace_id.in_(select(hits.c.trace_id)) if isinstance(hits, CTE) else trace_id.in_(hits)


def _hits(conn: Connection, query: str, start: datetime | None, end: datetime | None, with_span: bool,
          span_types: tuple[str, ...] = ()) -> Any:
    """The window's spans (of ``span_types``, when given) whose content matches: a query of
    (trace_id[, span_id]); on PostgreSQL a materialized CTE when the planner expects few enough of them
    (``_indexed_hits``), and always for tool calls: their arguments and results share few words with prompts,
    while PostgreSQL estimates a word's tool hits as if words and span types were independent, so a word
    common in prompts and rare in tool calls would have every tool call of the window tested (the GIN and
    (span_type, start_time) indexes find them together in well under a second at 1M spans)."""
    if conn.dialect.name == "postgresql":  # straight from the index table (its own start time and type)
        i = _content_index.c
        indexed: Select[Any] = select(*([i.trace_id, i.span_id] if with_span else [i.trace_id])).where(
            _pg_matches(words(query)))
        if span_types:  # one kind of call: the GIN and (span_type, start_time) indexes together find its hits
            indexed = indexed.where(or_(*[i.span_type == kind for kind in span_types]))
        if start is not None:
            indexed = indexed.where(i.start_time >= as_utc(start))
        if end is not None:
            indexed = indexed.where(i.start_time < as_utc(end) + CONTENT_SLACK)
        # tool calls: always by the index (see above); model calls and traces: by the planner's estimate
        few = span_types == ("tool",) or _indexed_hits(conn, indexed)
        return indexed.cte("content_hits").prefix_with("MATERIALIZED") if few else indexed
    s = _spans.c
    columns = [s.trace_id, s.span_id] if with_span else [s.trace_id]
    stmt: Select[Any] = select(*columns).where(content_match(conn, query))
    if span_types:
        stmt = stmt.where(s.span_type.in_(span_types))
    if start is not None:
        stmt = stmt.where(s.start_time >= as_utc(start))
    if end is not None:
        stmt = stmt.where(s.start_time < as_utc(end) + CONTENT_SLACK)
    return stmt


def _indexed_hits(conn: Connection, stmt: Select[Any]) -> bool:
    """Whether PostgreSQL expects ``stmt`` (a content match over a window) to find at most ``INDEXED_HITS``
    spans, by its own estimate (``EXPLAIN``, no execution).

    Such hits are read first, through the GIN index, and the list is narrowed to them: left to itself,
    PostgreSQL walks the list's index newest first and tests every trace until it has a page of matches,
    which for a rare word is every trace of the window. A very common word fills a page after a few traces,
    so that walk stays for it (the index would hand over most of the window's spans)."""
    compiled = stmt.compile(conn)  # bind parameters stay parameters: no value enters the statement's text
    plan = conn.exec_driver_sql("".join(("EXPLAIN (FORMAT JSON) ", str(compiled))), compiled.params).scalar()
    document: Any = json.loads(plan) if isinstance(plan, str) else plan
    try:
        rows = float(document[0]["Plan"]["Plan Rows"])
    except (KeyError, IndexError, TypeError, ValueError):
        return True
    return rows <= INDEXED_HITS


# ------------------------------------------------------------------------------------------ call lists


def call_row_conditions(flt: SearchFilter, calls: Any) -> list[ColumnElement[bool]]:
    """Conditions on a call table's own columns that ``llm_calls`` and ``tool_calls`` share: the window, the
    trace, agent and service (substring, any case), the status and the latency range."""
    c = calls.c
    out: list[ColumnElement[bool]] = []
    if flt.start is not None:
        out.append(c.start_time >= as_utc(flt.start))
    if flt.end is not None:
        out.append(c.start_time < as_utc(flt.end))
    if flt.trace_id:
        out.append(c.trace_id == flt.trace_id.lower())
    if flt.agent:
        out.append(contains(c.agent_name, flt.agent))
    if flt.service:
        out.append(contains(c.service_name, flt.service))
    if flt.status:
        out.append(c.success.is_(flt.status == "ok"))
    if flt.min_duration_ms is not None:
        out.append(c.duration_ms >= float(flt.min_duration_ms))
    if flt.max_duration_ms is not None:
        out.append(c.duration_ms <= float(flt.max_duration_ms))
    return out


def call_conditions(conn: Connection, flt: SearchFilter, calls: Any) -> list[ColumnElement[bool]]:
    """Conditions on rows of a call table (``llm_calls`` or ``tool_calls``) for the parts of ``flt`` that
    other tables decide: an attribute or content of the call's own span, the session or user of its run,
    a tool used in its trace (for model calls)."""
    c = calls.c
    out: list[ColumnElement[bool]] = []
    kinds = ("tool",) if "tool_name" in c else ("llm", "embedding")
    hits = _hits(conn, flt.text, flt.start, flt.end, with_span=True, span_types=kinds) if flt.text else None
    if isinstance(hits, CTE):  # few hits (PostgreSQL): the calls of those spans
        out.append(tuple_(c.trace_id, c.span_id).in_(select(hits.c.trace_id, hits.c.span_id)))
    if flt.text and not isinstance(hits, CTE):
        # a common word: each call's own span is tested as the calls are read newest first (PostgreSQL: its
        # stored tsvector, by primary key; a scalar subquery, not EXISTS, which PostgreSQL would turn into a
        # semi-join testing every span of the window first)
        if conn.dialect.name == "postgresql":
            i = _content_index.c
            out.append(select(_pg_matches(words(flt.text))).where(i.trace_id == c.trace_id, i.span_id == c.span_id)
                       .scalar_subquery().is_(True))
        else:
            own = _spans.alias("co")
            out.append(exists().where(own.c.trace_id == c.trace_id, own.c.span_id == c.span_id,
                                      content_match(conn, flt.text, own)))
    if flt.attribute:
        own = _spans
        where: list[ColumnElement[bool]] = [own.c.trace_id == c.trace_id, own.c.span_id == c.span_id]
        if flt.attribute:
            key, wanted = attribute_pair(flt.attribute)
            values: list[ColumnElement[bool]] = []
            for source in (own.c.attributes, own.c.resource_attributes):
                values.append(source[key].as_string() == wanted)
                if conn.dialect.name == "sqlite":
                    try:
                        values.append(source[key].as_float() == float(wanted))
                    except ValueError:
                        pass
            where.append(or_(*values))
        out.append(exists().where(*where))
    if flt.session or flt.user:
        e = _executions.alias("cx")
        where = [e.c.id == c.execution_id]
        if flt.session:
            where.append(e.c.conversation_id == flt.session)
        if flt.user:
            where.append(e.c.user_id == flt.user)
        out.append(exists().where(*where))
    if flt.tool and "tool_name" not in c:
        tool = _tools.alias("ct")
        out.append(exists().where(tool.c.trace_id == c.trace_id, contains(tool.c.tool_name, flt.tool)))
    return out


def frame_of(result: Any) -> pd.DataFrame:
    """A result as a DataFrame with its column names."""
    return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


def previews(conn: Connection, frame: Any, column: str, chars: int = 4000) -> list[str]:
    """One-line previews of the ``column`` (input or output) content of the spans of ``frame`` (rows with
    trace_id and span_id), read by primary key."""
    s = _spans.c
    keys = list(zip(frame["trace_id"], frame["span_id"], strict=True))
    rows = conn.execute(select(s.trace_id, s.span_id, content_head(s[column], chars).label("content"))
                        .where(span_keys_in(keys))).all()
    found = {(r.trace_id, r.span_id): r.content for r in rows}
    return [preview(found.get(k)) for k in keys]
