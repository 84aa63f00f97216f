"""The pipeline's consumer: one transaction per batch into spans, llm_calls, tool_calls,
agent_executions and agents; idempotent (keep the first copy of a span) and order-independent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, bindparam, inspect, select, update

from agentotel.core import semconv as sc
from agentotel.core.projects import DEFAULT_PROJECT
from agentotel.processors.executions import Node, compute_trace_executions
from agentotel.processors.records import SpanBatch, SpanRecord
from agentotel.warehouse.bulk import (
    driver_time,
    driver_time_ns,
    dumps_json,
    fast_insert,
    ns_to_datetime,
    storable,
    storable_int,
)
from agentotel.warehouse.engine import write_transaction
from agentotel.warehouse.errors import classified
from agentotel.warehouse.locks import lock_traces
from agentotel.warehouse.models import Agent, AgentExecution, LLMCall, Span, ToolCall
from agentotel.warehouse.row_security import write_as
from agentotel.warehouse.schema_manager import conflict_keys
from agentotel.warehouse.upsert import insert_on_conflict

logger = logging.getLogger(__name__)

SPANS = Span.__table__
LLM_CALLS = LLMCall.__table__
TOOL_CALLS = ToolCall.__table__
EXECUTIONS = AgentExecution.__table__
AGENTS = Agent.__table__
ID_CHUNK = 500

EXECUTION_UPDATE_COLUMNS = (
    "agent_id", "timestamp", "input", "output", "duration_ms", "tokens_used", "success", "error_message",
    "agent_name", "agent_version", "service_name", "end_time", "input_tokens", "output_tokens", "cost_usd",
    "llm_call_count", "tool_call_count", "conversation_id", "user_id", "is_agent_span", "metadata",
)  # fmt: skip
LLM_COLUMNS = (
    "provider", "request_model", "response_model", "operation", "input_tokens", "output_tokens",
    "total_tokens", "cached_input_tokens", "cost_usd", "time_to_first_token_ms", "finish_reason",
    "error_type", "streaming", "cost_source",
)  # fmt: skip

LLM_TEXT_LIMITS = {"provider": 64, "request_model": 255, "response_model": 255, "operation": 64,
                   "finish_reason": 64, "error_type": 255, "cost_source": 16}  # fmt: skip
EXECUTION_TEXT_LIMITS = (("input", None), ("output", None), ("error_message", None), ("service_name", 255),
                         ("conversation_id", 255), ("user_id", 255))  # fmt: skip
LLM_INT_COLUMNS = ("input_tokens", "output_tokens", "total_tokens", "cached_input_tokens")

BatchObserver = Callable[[SpanBatch], None]
SpanKeysHook = Callable[[Connection, list[tuple[str, str]]], None]


class RollupMaintainer(Protocol):
    """Keeps the per-minute rollups current (``warehouse.rollup_schedule.RollupSchedule``). The writer calls
    ``minutes_changed`` after each commit with the minutes (Unix ns // 60e9) whose rows it wrote, updated or
    deleted; it must not raise."""

    def minutes_changed(self, minutes: set[int]) -> None: ...


_MISSING = object()
NS_PER_MINUTE = 60 * 10**9


def execution_id(trace_id: str, span_id: str) -> str:
    return f"{trace_id}-{span_id}"


class WarehouseWriter:
    """Writes normalized span batches. After each commit, ``rollups`` is told the minutes that changed and
    ``observers`` see the newly stored spans; ``after_insert`` hooks run inside the transaction."""

    def __init__(
        self,
        engine: Engine,
        observers: Sequence[BatchObserver] = (),
        after_insert: Sequence[SpanKeysHook] = (),
        rollups: RollupMaintainer | None = None,
    ) -> None:
        self.engine = engine
        self.observers = list(observers)
        self.after_insert = list(after_insert)
        self.rollups = rollups
        self._agent_ids: dict[tuple[str, str, str], int] = {}  # (project, name, version) -> id
        self._conflict_keys: dict[str, tuple[str, ...]] = {}
        self._agents_key: tuple[str, ...] | None = None
        self._projects: bool | None = None  # whether the schema has project_id (revision tenancy_0001)

    def _keys(self, conn: Connection, table: str) -> tuple[str, ...]:
        """The ON CONFLICT target: (trace_id, span_id), plus the partition key once partitioning is on."""
        if table not in self._conflict_keys:
            self._conflict_keys[table] = conflict_keys(conn, table)
        return self._conflict_keys[table]

    def _agent_key(self, conn: Connection) -> tuple[str, ...]:
        """The unique key of ``agents`` in this schema: per project since tenancy_0003 (a row without a
        project takes the column's default, ``default``)."""
        if self._agents_key is None:
            per_project = "project_id" in {c["name"] for c in inspect(conn).get_columns("agents")}
            self._agents_key = ("project_id", "name", "version") if per_project else ("name", "version")
        return self._agents_key

    def _has_projects(self, conn: Connection) -> bool:
        if self._projects is None:
            self._projects = "project_id" in {c["name"] for c in inspect(conn).get_columns("spans")}
        return self._projects

    def consume(self, batch: SpanBatch) -> None:
        """Write ``batch`` in one transaction per project; raises ``warehouse.errors.StorageError`` if the
        database fails."""
        projects = {s.project_id for s in batch.spans}
        if len(projects) > 1:  # e.g. a sampler released spans of several projects together
            for project in sorted(projects):
                self.consume(SpanBatch(spans=[s for s in batch.spans if s.project_id == project]))
            return
        self._new_agent_ids: dict[tuple[str, str, str], int] = {}
        self._touched: set[int] = set()
        with classified(), write_transaction(self.engine) as conn:
            new_spans = self._write(conn, batch)
        self._agent_ids.update(self._new_agent_ids)  # only ids that were committed are cached
        if self._touched and self.rollups is not None:
            self.rollups.minutes_changed(self._touched)
        if new_spans and self.observers:
            stored = SpanBatch(spans=new_spans)
            for observer in self.observers:
                try:
                    observer(stored)
                except Exception:  # an observer must never fail a committed write
                    logger.exception("batch observer %r failed", observer)

    # -- the transaction ------------------------------------------------------------------------
    def _write(self, conn: Connection, batch: SpanBatch) -> list[SpanRecord]:
        for span in batch.spans:
            span.agent_name, span.agent_version = storable(span.agent_name, 255), storable(span.agent_version, 64)
            if span.llm is not None:  # counts beyond 32 bits are a producer's bug: unknown, not a poison pill
                for column in LLM_INT_COLUMNS:
                    span.llm[column] = storable_int(span.llm.get(column))
        trace_ids = sorted({s.trace_id for s in batch.spans})
        lock_traces(conn, trace_ids)  # first, so that our hooks and other receivers' writers cannot deadlock us
        # the project's own rows only: a trace that spans projects is one tree per project, and another
        # project's rows are never re-keyed or deleted from here
        project = batch.spans[0].project_id if batch.spans else DEFAULT_PROJECT
        scope = project if self._has_projects(conn) else None
        if scope is not None:  # on PostgreSQL as the writer role: row-level security binds it to the project
            write_as(conn, [scope])
        stored = _fetch_structure(conn, trace_ids, scope)
        stored_keys = {(row.trace_id, row.span_id) for rows in stored.values() for row in rows}

        new_spans: list[SpanRecord] = []
        seen: set[tuple[str, str]] = set()
        for span in batch.spans:
            span_key = (span.trace_id, span.span_id)
            if span_key in stored_keys or span_key in seen:
                continue  # keep the first copy of a span (RELIABILITY I3)
            seen.add(span_key)
            new_spans.append(span)
        if not new_spans:
            return []

        new_by_trace: dict[str, list[SpanRecord]] = {}
        touched = self._touched  # minutes of every row written, updated or deleted below (for the rollups)
        for span in new_spans:
            new_by_trace.setdefault(span.trace_id, []).append(span)
            touched.add(span.start_ns // NS_PER_MINUTE)

        agent_ids = self._agent_ids_for(conn, new_spans, scope)
        execution_rows: list[dict[str, Any]] = []
        reassign: list[dict[str, Any]] = []
        stale_executions: list[str] = []
        stale_llm_rows: list[dict[str, Any]] = []
        existing_exec = _fetch_execution_ids(conn, list(new_by_trace), scope)
        for trace_id, spans in new_by_trace.items():
            old_rows = {row.span_id: row for row in stored.get(trace_id, [])}
            nodes: dict[str, Node] = {sid: _node_from_row(row) for sid, row in old_rows.items()}
            fresh = {s.span_id: s for s in spans}
            for span in spans:
                nodes[span.span_id] = _node_from_record(span)
            result = compute_trace_executions(nodes)
            owner_agent = {
                key: (fresh[key].agent_name if key in fresh else old_rows[key].agent_name) for key in result.executions
            }
            for span in spans:
                owner = result.owner.get(span.span_id)
                span.execution_id = execution_id(trace_id, owner) if owner else None
                if span.span_id in result.wrappers:
                    span.llm = None  # repeats its children's usage (semconv.md 2.3): no llm_calls row
                if span.span_type != "agent" and owner is not None:
                    span.agent_name = owner_agent.get(owner)
            for sid, row in old_rows.items():
                owner = result.owner.get(sid)
                new_exec = execution_id(trace_id, owner) if owner else None
                name = row.agent_name if row.span_type == "agent" else (owner_agent.get(owner) if owner else None)
                if new_exec != row.execution_id or name != row.agent_name:
                    reassign.append({"t": trace_id, "s": sid, "e": new_exec, "a": name})
                    touched.add(row.start_time_unix_nano // NS_PER_MINUTE)
                if sid in result.wrappers and row.llm_row is not None:
                    stale_llm_rows.append({"t": trace_id, "s": sid})
                    touched.add(row.start_time_unix_nano // NS_PER_MINUTE)
            wanted = {execution_id(trace_id, key) for key in result.executions}
            for eid in existing_exec.get(trace_id, ()):
                if eid not in wanted:
                    stale_executions.append(eid)
                    old = old_rows.get(eid[len(trace_id) + 1 :])
                    if old is not None:
                        touched.add(old.start_time_unix_nano // NS_PER_MINUTE)
            context = _trace_context(spans, old_rows.values())
            for key, totals in result.executions.items():
                source = fresh.get(key)
                row = _execution_row(trace_id, key, totals, source, old_rows.get(key))
                touched.add((source.start_ns if source is not None else old_rows[key].start_time_unix_nano) // NS_PER_MINUTE)
                # the conversation and user of a run: its own span's, else the trace's (semconv.md 2.4)
                row["conversation_id"] = row["conversation_id"] or context[0]
                row["user_id"] = row["user_id"] or context[1]
                row["agent_id"] = agent_ids.get((row["agent_name"] or "", row["agent_version"] or "")) if row["agent_name"] else None
                execution_rows.append(row)

        dialect = conn.dialect.name
        resources: dict[int, str | None] = {}  # spans of one resource share its attribute dict: encode it once
        span_rows = [_span_row(s, dialect, resources) for s in new_spans]
        llm_rows = [_llm_row(s, dialect) for s in new_spans if s.llm is not None]
        tool_rows = [_tool_row(s, dialect) for s in new_spans if s.tool is not None]
        if scope is not None:  # the sending key's project (decode: the receiver's stamp), never the span's own
            for rows in (span_rows, llm_rows, tool_rows, execution_rows):
                for row in rows:
                    row["project_id"] = scope
        fast_insert(conn, SPANS, span_rows, self._keys(conn, "spans"))
        fast_insert(conn, LLM_CALLS, llm_rows, self._keys(conn, "llm_calls"))
        fast_insert(conn, TOOL_CALLS, tool_rows, self._keys(conn, "tool_calls"))
        if reassign:
            for table in (SPANS, LLM_CALLS, TOOL_CALLS):
                conn.execute(
                    update(table)
                    .where(table.c.trace_id == bindparam("t"), table.c.span_id == bindparam("s"))
                    .values(execution_id=bindparam("e"), agent_name=bindparam("a")),
                    reassign,
                )
        if stale_llm_rows:
            conn.execute(
                LLM_CALLS.delete().where(LLM_CALLS.c.trace_id == bindparam("t"), LLM_CALLS.c.span_id == bindparam("s")),
                stale_llm_rows,
            )
        if stale_executions:
            conn.execute(EXECUTIONS.delete().where(EXECUTIONS.c.id.in_(stale_executions)))
        if scope is not None and dialect == "postgresql" and execution_rows:
            execution_rows = _runs_of_held_spans(conn, execution_rows)
        for row in execution_rows:
            for column, limit in EXECUTION_TEXT_LIMITS:
                row[column] = storable(row[column], limit)
            row["timestamp"] = driver_time(row["timestamp"], dialect)
            row["end_time"] = driver_time(row["end_time"], dialect)
        fast_insert(
            conn,
            EXECUTIONS,
            execution_rows,
            ("id",),
            update_columns=EXECUTION_UPDATE_COLUMNS,
            coalesce_columns=("input", "output", "agent_id", "metadata"),
            guard="project_id" if scope is not None else None,  # another project's run is never overwritten
        )
        keys = [(s.trace_id, s.span_id) for s in new_spans]
        for hook in self.after_insert:
            hook(conn, keys)
        return new_spans

    def _agent_ids_for(self, conn: Connection, spans: Iterable[SpanRecord], scope: str | None) -> dict[tuple[str, str], int]:
        """The agent ids (by name and version) of ``spans``' agent spans in project ``scope`` (agents are per
        project since tenancy_0003; ``None``: a schema without projects), inserting the missing agents."""
        project = scope or DEFAULT_PROJECT
        wanted = {(s.agent_name, s.agent_version or "") for s in spans if s.span_type == "agent" and s.agent_name}
        cached = self._agent_ids
        missing = [key for key in wanted if (project, *key) not in cached]
        found: dict[tuple[str, str], int] = {}
        if missing:
            now = datetime.now(timezone.utc)
            new_rows = [{"name": n, "version": v, "source": "telemetry", "created_at": now, "updated_at": now,
                         "last_seen_at": now} for n, v in missing]  # fmt: skip
            names = sorted({n for n, _ in missing})
            query = select(AGENTS.c.id, AGENTS.c.name, AGENTS.c.version).where(AGENTS.c.name.in_(names))
            key = self._agent_key(conn)
            if "project_id" in key:
                for new_row in new_rows:
                    new_row["project_id"] = project
                query = query.where(AGENTS.c.project_id == project)
            insert_on_conflict(conn, AGENTS, new_rows, key)
            for row in conn.execute(query):
                found[(row.name, row.version)] = row.id
            self._new_agent_ids.update({(project, *key): id_ for key, id_ in found.items()})
        return {key: found[key] if key in found else cached[(project, *key)] for key in wanted
                if key in found or (project, *key) in cached}  # fmt: skip


# -- reads --------------------------------------------------------------------------------------------
def _chunks(items: list[str], size: int = ID_CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


STRUCTURE_COLUMNS = (
    "trace_id", "span_id", "parent_span_id", "span_type", "start_time_unix_nano", "end_time_unix_nano",
    "status_code", "status_message", "agent_name", "agent_version", "service_name", "execution_id",
    "conversation_id", "user_id",
)  # fmt: skip
# PostgreSQL: one index probe per trace id, whatever the planner's statistics say. Without them
# (autovacuum off, or a table that grew faster than autovacuum) the planner estimated the plain
# ``trace_id IN (…)`` join as a large share of the table and read spans and llm_calls whole (a full
# scan per batch: ~300 spans/s at 480k spans). A correlated LATERAL subquery fenced by OFFSET 0 cannot
# be flattened into a hash join, so each id is an index lookup (pk_spans, pk_llm_calls, the executions'
# unique (trace_id, span_id)); ``jit`` is off for the writer's transaction, whose large cost estimates
# would otherwise pay hundreds of milliseconds of compilation for a few milliseconds of lookups.
PG_STRUCTURE = (
    "SELECT " + ", ".join(f"s.{c}" for c in STRUCTURE_COLUMNS) + ", l.input_tokens, l.output_tokens, "  # noqa: S608 - constant column names
    "l.total_tokens, l.cost_usd, l.span_id AS llm_row "
    "FROM unnest(%s::varchar[]) AS t(id) "
    "CROSS JOIN LATERAL (SELECT " + ", ".join(STRUCTURE_COLUMNS) + " FROM spans WHERE spans.trace_id = t.id "
    "{project}OFFSET 0) AS s "
    "LEFT JOIN LATERAL (SELECT span_id, input_tokens, output_tokens, total_tokens, cost_usd FROM llm_calls "
    "WHERE llm_calls.trace_id = s.trace_id AND llm_calls.span_id = s.span_id OFFSET 0) AS l ON true"
)
PG_EXECUTION_IDS = (
    "SELECT e.trace_id, e.id FROM unnest(%s::varchar[]) AS t(id) CROSS JOIN LATERAL "
    "(SELECT trace_id, id FROM agent_executions WHERE agent_executions.trace_id = t.id {project}OFFSET 0) AS e"
)
PG_HELD_SPANS = (
    "SELECT s.trace_id, s.span_id FROM unnest(%s::varchar[], %s::varchar[]) AS k(trace_id, span_id) CROSS JOIN LATERAL "
    "(SELECT trace_id, span_id FROM spans WHERE spans.trace_id = k.trace_id AND spans.span_id = k.span_id OFFSET 0) AS s"
)
IN_PROJECT = "AND project_id = %s "  # tenancy: the writer's project only (else all rows: a schema before it)


def _runs_of_held_spans(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PostgreSQL, as the writer role: the runs whose own span this project holds. Span ids are global and the
    first copy is kept: a span another project stored first was dropped from our insert and is invisible to
    us, and its run is that project's (row-level security would refuse an upsert onto it)."""
    params = ([r["trace_id"] for r in rows], [r["span_id"] for r in rows])
    held = {(t, s) for t, s in conn.exec_driver_sql(PG_HELD_SPANS, params)}
    return [r for r in rows if (r["trace_id"], r["span_id"]) in held]


def _in_project(template: str, trace_ids: list[str], project: str | None) -> tuple[str, tuple[Any, ...]]:
    if project is None:
        return template.format(project=""), (trace_ids,)
    return template.format(project=IN_PROJECT), (trace_ids, project)


def _fetch_structure(conn: Connection, trace_ids: list[str], project: str | None = None) -> dict[str, list[Any]]:
    """Already-stored spans of these traces (of ``project``, when given): the columns the execution tree needs."""
    out: dict[str, list[Any]] = {}
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
        sql, params = _in_project(PG_STRUCTURE, trace_ids, project)
        for row in conn.exec_driver_sql(sql, params):
            out.setdefault(row.trace_id, []).append(row)
        return out
    s, llm = SPANS.c, LLM_CALLS.c
    for chunk in _chunks(trace_ids):
        query = (
            select(
                s.trace_id, s.span_id, s.parent_span_id, s.span_type, s.start_time_unix_nano,
                s.end_time_unix_nano, s.status_code, s.status_message, s.agent_name, s.agent_version,
                s.service_name, s.execution_id, s.conversation_id, s.user_id,
                llm.input_tokens, llm.output_tokens, llm.total_tokens, llm.cost_usd, llm.span_id.label("llm_row"),
            )  # fmt: skip
            .select_from(SPANS.outerjoin(LLM_CALLS, (llm.trace_id == s.trace_id) & (llm.span_id == s.span_id)))
            .where(s.trace_id.in_(chunk))
        )
        if project is not None:
            query = query.where(s.project_id == project)
        for row in conn.execute(query):
            out.setdefault(row.trace_id, []).append(row)
    return out


def _fetch_execution_ids(conn: Connection, trace_ids: list[str], project: str | None = None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if conn.dialect.name == "postgresql":
        sql, params = _in_project(PG_EXECUTION_IDS, trace_ids, project)
        for row in conn.exec_driver_sql(sql, params):
            out.setdefault(row.trace_id, []).append(row.id)
        return out
    for chunk in _chunks(trace_ids):
        query = select(EXECUTIONS.c.trace_id, EXECUTIONS.c.id).where(EXECUTIONS.c.trace_id.in_(chunk))
        if project is not None:
            query = query.where(EXECUTIONS.c.project_id == project)
        for row in conn.execute(query):
            out.setdefault(row.trace_id, []).append(row.id)
    return out


# -- rows ---------------------------------------------------------------------------------------------
def _node_from_row(row: Any) -> Node:
    return Node(row.span_id, row.parent_span_id, row.span_type, row.start_time_unix_nano,
                row.input_tokens, row.output_tokens, row.total_tokens, row.cost_usd)  # fmt: skip


def _node_from_record(span: SpanRecord) -> Node:
    llm = span.llm
    if llm is None:
        return Node(span.span_id, span.parent_span_id, span.span_type, span.start_ns)
    return Node(span.span_id, span.parent_span_id, span.span_type, span.start_ns, llm.get("input_tokens"),
                llm.get("output_tokens"), llm.get("total_tokens"), llm.get("cost_usd"))  # fmt: skip


def _trace_context(fresh: Iterable[SpanRecord], stored: Iterable[Any]) -> tuple[str | None, str | None]:
    """(conversation id, user id) of a trace: from its earliest span that carries each (order-independent)."""
    candidates = [(s.start_ns, s.span_id, s.conversation_id, s.user_id) for s in fresh]
    candidates += [(r.start_time_unix_nano, r.span_id, r.conversation_id, r.user_id) for r in stored]
    candidates.sort(key=lambda c: (c[0], c[1]))
    conversation = next((c[2] for c in candidates if c[2]), None)
    user = next((c[3] for c in candidates if c[3]), None)
    return conversation, user


def _execution_row(trace_id: str, key: str, totals: Any, span: SpanRecord | None, row: Any) -> dict[str, Any]:
    if span is not None:
        start, end, status, message = span.start_ns, span.end_ns, span.status_code, span.status_message
        agent_name, agent_version, service = span.agent_name, span.agent_version, span.service_name
        conversation, user, text_in, text_out = span.conversation_id, span.user_id, span.input, span.output
        resources = execution_metadata(span.attributes)
        metadata = dumps_json(resources) if resources else None
    else:
        start, end, status, message = row.start_time_unix_nano, row.end_time_unix_nano, row.status_code, row.status_message
        agent_name, agent_version, service = row.agent_name, row.agent_version, row.service_name
        conversation, user, text_in, text_out = row.conversation_id, row.user_id, None, None
        metadata = None  # kept from the stored row (the upsert coalesces)
    success = status != "ERROR"
    return {
        "id": execution_id(trace_id, key),
        "trace_id": trace_id,
        "span_id": key,
        "agent_id": None,
        "timestamp": ns_to_datetime(start),
        "end_time": ns_to_datetime(end),
        "duration_ms": (end - start) / 1e6,
        "success": success,
        "error_message": None if success else (message or "error"),
        "agent_name": agent_name,
        "agent_version": agent_version or ("" if agent_name else None),
        "service_name": service,
        "input": text_in,
        "output": text_out,
        "tokens_used": totals.tokens_used,
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
        "cost_usd": totals.cost_usd,
        "llm_call_count": totals.llm_call_count,
        "tool_call_count": totals.tool_call_count,
        "conversation_id": conversation,
        "user_id": user,
        "is_agent_span": totals.is_agent_span,
        "metadata": metadata,
    }


def execution_metadata(attributes: dict[str, Any]) -> dict[str, Any]:
    """``agent_executions.metadata`` from the agent span: its resource use (bytes and CPU seconds)."""
    out: dict[str, Any] = {}
    for key in sc.EXEC_RESOURCE_KEYS:
        value = attributes.get(key)
        if isinstance(value, str):  # OTLP/JSON sends 64-bit integers as strings
            try:
                value = float(value) if "." in value else int(value)
            except ValueError:
                continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = value
    return out


def _json_list(value: list[Any]) -> str | None:
    return "[]" if not value else dumps_json(value)


def _span_row(span: SpanRecord, dialect: str, resources: dict[int, str | None]) -> dict[str, Any]:
    resource = resources.get(id(span.resource_attributes), _MISSING)
    if resource is _MISSING:
        resource = resources[id(span.resource_attributes)] = dumps_json(span.resource_attributes)
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "span_type": span.span_type,
        "service_name": storable(span.service_name, 255),
        "start_time": driver_time_ns(span.start_ns, dialect),
        "end_time": driver_time_ns(span.end_ns, dialect),
        "duration_ms": span.duration_ms,
        "status_code": span.status_code,
        "status_message": span.status_message,
        "attributes": dumps_json(span.attributes),
        "resource_attributes": resource,
        "events": _json_list(span.events),
        "execution_id": span.execution_id,
        "start_time_unix_nano": span.start_ns,
        "end_time_unix_nano": span.end_ns,
        "links": _json_list(span.links),
        "scope_name": storable(span.scope_name, 255),
        "scope_version": storable(span.scope_version, 64),
        "trace_state": storable(span.trace_state),
        "flags": span.flags,
        "dropped_attributes_count": span.dropped_attributes_count,
        "dropped_events_count": span.dropped_events_count,
        "dropped_links_count": span.dropped_links_count,
        "agent_name": span.agent_name,
        "agent_version": span.agent_version,
        "conversation_id": storable(span.conversation_id, 255),
        "user_id": storable(span.user_id, 255),
        "input": storable(span.input),
        "output": storable(span.output),
    }


def _llm_row(span: SpanRecord, dialect: str) -> dict[str, Any]:
    llm = span.llm or {}
    row = {column: storable(llm.get(column), LLM_TEXT_LIMITS.get(column)) for column in LLM_COLUMNS}
    row.update(
        trace_id=span.trace_id,
        span_id=span.span_id,
        execution_id=span.execution_id,
        duration_ms=span.duration_ms,
        start_time=driver_time_ns(span.start_ns, dialect),
        service_name=storable(span.service_name, 255),
        agent_name=span.agent_name,
        success=bool(llm.get("success", not span.is_error)),
    )
    if row["total_tokens"] is None and (row["input_tokens"] is not None or row["output_tokens"] is not None):
        row["total_tokens"] = (row["input_tokens"] or 0) + (row["output_tokens"] or 0)
    return row


def _tool_row(span: SpanRecord, dialect: str) -> dict[str, Any]:
    tool = span.tool or {}
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "execution_id": span.execution_id,
        "tool_name": storable(tool.get("tool_name"), 255),
        "tool_call_id": storable(tool.get("tool_call_id"), 255),
        "duration_ms": span.duration_ms,
        "success": bool(tool.get("success", not span.is_error)),
        "error_message": storable(tool.get("error_message")),
        "start_time": driver_time_ns(span.start_ns, dialect),
        "service_name": storable(span.service_name, 255),
        "agent_name": span.agent_name,
    }
