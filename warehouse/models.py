"""SQLAlchemy 2 typed models of the warehouse.

The design document's tables (``agents``, ``agent_executions``, ``metrics``, ``evaluation_runs``,
``alerts``) keep their names and columns; the span-level tables (``spans``, ``llm_calls``,
``tool_calls``) are keyed by (trace_id, span_id) so that every write is an idempotent upsert.
Components that need tables of their own (alerting queue, registry versions, rollups, …) declare them
on the same ``Base`` in their own module and add an Alembic revision on their own branch.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    text,
    tuple_,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from agentotel.core.projects import DEFAULT_PROJECT
from agentotel.warehouse.types import ContentJSON, ContentText, JSONType, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    __table__: ClassVar[Table]  # declarative models are always mapped to a Table (for type checkers)
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType, datetime: UtcDateTime}


def project_column() -> Mapped[str]:
    """``project_id``: the project that owns the row (revision tenancy_0001; earlier rows are ``default``)."""
    return mapped_column(String(64), server_default=DEFAULT_PROJECT)


class Agent(Base):
    """An agent as seen in telemetry or registered: one row per (project, name, version)."""

    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("project_id", "name", "version"),)  # tenancy_0003

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(64), default="")
    model_type: Mapped[str | None] = mapped_column(String(255))
    provider: Mapped[str | None] = mapped_column(String(64))
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="telemetry")  # telemetry | registry
    created_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime | None] = mapped_column()
    last_seen_at: Mapped[datetime | None] = mapped_column()
    project_id: Mapped[str] = project_column()  # tenancy_0003


class AgentExecution(Base):
    """One agent run: an agent span (or the root span of a trace that has no agent span)."""

    __tablename__ = "agent_executions"
    __table_args__ = (
        UniqueConstraint("trace_id", "span_id"),
        Index(None, "timestamp"),
        Index(None, "agent_id", "timestamp"),
        Index(None, "agent_name", "timestamp"),
        Index(None, "conversation_id", "timestamp"),  # explorer_0001: sessions
        Index(None, "user_id", "timestamp"),  # explorer_0001: users
    )

    id: Mapped[str] = mapped_column(String(49), primary_key=True)  # "{trace_id}-{span_id}"
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    timestamp: Mapped[datetime] = mapped_column()
    input: Mapped[str | None] = mapped_column(ContentText)
    output: Mapped[str | None] = mapped_column(ContentText)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    tokens_used: Mapped[int] = mapped_column(Integer, default=0)
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    error_message: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    # added columns
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str] = mapped_column(String(16))
    agent_name: Mapped[str | None] = mapped_column(String(255))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    service_name: Mapped[str | None] = mapped_column(String(255))
    end_time: Mapped[datetime | None] = mapped_column()
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    llm_call_count: Mapped[int] = mapped_column(Integer, default=0)
    tool_call_count: Mapped[int] = mapped_column(Integer, default=0)
    conversation_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    is_agent_span: Mapped[bool] = mapped_column(Boolean, default=True)
    project_id: Mapped[str] = project_column()  # tenancy_0001


class Metric(Base):
    """A metric data point (design document), keyed so that a re-exported point adds no row."""

    __tablename__ = "metrics"
    __table_args__ = (
        UniqueConstraint("metric_name", "series_key", "timestamp"),
        Index(None, "timestamp"),
        Index(None, "execution_id", "metric_name"),
        Index(None, "trace_id", "span_id"),  # interop_0001: link points to spans that arrive later
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    # No foreign key to agent_executions: a point may arrive before its execution, and executions are re-keyed
    # as a trace's spans arrive; the writers keep the link (``processors.metrics.link_pending_metrics``).
    execution_id: Mapped[str | None] = mapped_column(String(49))
    metric_name: Mapped[str] = mapped_column(String(255))
    value: Mapped[float | None] = mapped_column(Float)
    timestamp: Mapped[datetime] = mapped_column()
    tags: Mapped[dict[str, Any] | None] = mapped_column()
    # added columns
    series_key: Mapped[str] = mapped_column(String(64), default="")
    metric_type: Mapped[str | None] = mapped_column(String(32))
    unit: Mapped[str | None] = mapped_column(String(64))
    temporality: Mapped[str | None] = mapped_column(String(16))
    start_time: Mapped[datetime | None] = mapped_column()
    count: Mapped[int | None] = mapped_column(BigInteger)
    sum: Mapped[float | None] = mapped_column(Float)
    buckets: Mapped[dict[str, Any] | None] = mapped_column()
    service_name: Mapped[str | None] = mapped_column(String(255))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))
    project_id: Mapped[str] = project_column()  # tenancy_0001


class EvaluationRun(Base):
    """One run of a benchmark suite against an agent (design document)."""

    __tablename__ = "evaluation_runs"
    __table_args__ = (Index(None, "timestamp"), Index(None, "agent_name", "agent_version"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    benchmark_id: Mapped[str] = mapped_column(String(255))
    timestamp: Mapped[datetime] = mapped_column()
    results: Mapped[dict[str, Any] | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="running")
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    # added columns
    agent_name: Mapped[str | None] = mapped_column(String(255))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    completed_at: Mapped[datetime | None] = mapped_column()
    summary: Mapped[dict[str, Any] | None] = mapped_column()
    error_message: Mapped[str | None] = mapped_column(Text)
    project_id: Mapped[str] = project_column()  # tenancy_0001


class Alert(Base):
    """An alert (design document) with its lifecycle."""

    __tablename__ = "alerts"
    __table_args__ = (Index(None, "status", "timestamp"), Index(None, "fingerprint"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(255))
    timestamp: Mapped[datetime] = mapped_column()
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    message: Mapped[str] = mapped_column(Text, default="")
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    # added columns
    status: Mapped[str] = mapped_column(String(16), default="firing")  # pending | firing | resolved
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    labels: Mapped[dict[str, Any] | None] = mapped_column()
    annotations: Mapped[dict[str, Any] | None] = mapped_column()
    value: Mapped[float | None] = mapped_column(Float)
    acknowledged_by: Mapped[str | None] = mapped_column(String(255))
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime | None] = mapped_column()
    # the alert rule set (rules file or namespace) that owns the alert; "" for alerts made through the API
    ruleset: Mapped[str] = mapped_column(String(255), default="", server_default="")
    project_id: Mapped[str] = project_column()  # tenancy_0001


class Span(Base):
    """Every span received, normalized. Primary key (trace_id, span_id)."""

    __tablename__ = "spans"
    __table_args__ = (
        Index(None, "start_time"),
        Index(None, "execution_id"),
        Index(None, "span_type", "start_time"),
        Index(None, "service_name", "start_time"),
        # explorer_0001: the trace list reads root spans newest first; the content index (search.py) is made
        # by that migration (an FTS5 table on SQLite, a GIN expression index on PostgreSQL)
        Index("ix_spans_root_start_time", "start_time", sqlite_where=text("parent_span_id IS NULL"),
              postgresql_where=text("parent_span_id IS NULL"),
              postgresql_include=["trace_id", "span_id", "duration_ms"]),  # explorer_0003: ranking reads no span rows
    )

    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    span_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    parent_span_id: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    span_type: Mapped[str] = mapped_column(String(16))
    service_name: Mapped[str | None] = mapped_column(String(255))
    start_time: Mapped[datetime] = mapped_column()
    end_time: Mapped[datetime] = mapped_column()
    duration_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[str] = mapped_column(String(8))
    status_message: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(ContentJSON)
    resource_attributes: Mapped[dict[str, Any] | None] = mapped_column()
    events: Mapped[list[Any] | None] = mapped_column(ContentJSON)
    execution_id: Mapped[str | None] = mapped_column(String(49))
    # added columns
    start_time_unix_nano: Mapped[int] = mapped_column(BigInteger)
    end_time_unix_nano: Mapped[int] = mapped_column(BigInteger)
    links: Mapped[list[Any] | None] = mapped_column()
    scope_name: Mapped[str | None] = mapped_column(String(255))
    scope_version: Mapped[str | None] = mapped_column(String(64))
    trace_state: Mapped[str | None] = mapped_column(Text)
    flags: Mapped[int | None] = mapped_column(BigInteger)
    dropped_attributes_count: Mapped[int] = mapped_column(Integer, default=0)
    dropped_events_count: Mapped[int] = mapped_column(Integer, default=0)
    dropped_links_count: Mapped[int] = mapped_column(Integer, default=0)
    agent_name: Mapped[str | None] = mapped_column(String(255))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    conversation_id: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255))
    input: Mapped[str | None] = mapped_column(ContentText)  # captured content, normalized and redacted
    output: Mapped[str | None] = mapped_column(ContentText)
    project_id: Mapped[str] = project_column()  # tenancy_0001


class LLMCall(Base):
    """One row per model call: every span typed ``llm`` or ``embedding``."""

    __tablename__ = "llm_calls"
    __table_args__ = (
        Index(None, "start_time"),
        Index(None, "execution_id"),
        Index(None, "request_model", "start_time"),
        Index(None, "provider", "start_time"),
    )

    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    span_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    execution_id: Mapped[str | None] = mapped_column(String(49))
    provider: Mapped[str | None] = mapped_column(String(64))
    request_model: Mapped[str | None] = mapped_column(String(255))
    response_model: Mapped[str | None] = mapped_column(String(255))
    operation: Mapped[str | None] = mapped_column(String(64))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    total_tokens: Mapped[int | None] = mapped_column(Integer)
    cached_input_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    duration_ms: Mapped[float] = mapped_column(Float)
    time_to_first_token_ms: Mapped[float | None] = mapped_column(Float)
    finish_reason: Mapped[str | None] = mapped_column(String(64))
    error_type: Mapped[str | None] = mapped_column(String(255))
    streaming: Mapped[bool | None] = mapped_column(Boolean)
    # added columns
    start_time: Mapped[datetime] = mapped_column()
    service_name: Mapped[str | None] = mapped_column(String(255))
    agent_name: Mapped[str | None] = mapped_column(String(255))
    cost_source: Mapped[str | None] = mapped_column(String(16))  # reported | computed
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    project_id: Mapped[str] = project_column()  # tenancy_0001


class ToolCall(Base):
    """One row per tool execution span."""

    __tablename__ = "tool_calls"
    __table_args__ = (Index(None, "start_time"), Index(None, "execution_id"), Index(None, "tool_name", "start_time"))

    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    span_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    execution_id: Mapped[str | None] = mapped_column(String(49))
    tool_name: Mapped[str | None] = mapped_column(String(255))
    tool_call_id: Mapped[str | None] = mapped_column(String(255))
    duration_ms: Mapped[float] = mapped_column(Float)
    success: Mapped[bool] = mapped_column(Boolean, default=True)
    error_message: Mapped[str | None] = mapped_column(Text)
    # added columns
    start_time: Mapped[datetime] = mapped_column()
    service_name: Mapped[str | None] = mapped_column(String(255))
    agent_name: Mapped[str | None] = mapped_column(String(255))
    project_id: Mapped[str] = project_column()  # tenancy_0001


class LogRecord(Base):
    """OTLP log records that are not GenAI content events (filled by the interop pipeline)."""

    __tablename__ = "logs"
    __table_args__ = (Index(None, "timestamp"), Index(None, "trace_id"))

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # content hash: re-sent records add no row
    timestamp: Mapped[datetime] = mapped_column()
    observed_timestamp: Mapped[datetime | None] = mapped_column()
    severity_number: Mapped[int | None] = mapped_column(Integer)
    severity_text: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str | None] = mapped_column(ContentText)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(ContentJSON)
    resource_attributes: Mapped[dict[str, Any] | None] = mapped_column()
    event_name: Mapped[str | None] = mapped_column(String(255))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16))
    service_name: Mapped[str | None] = mapped_column(String(255))
    scope_name: Mapped[str | None] = mapped_column(String(255))
    # interop_0001: exact order of GenAI content events (time, then position in the export request)
    time_unix_nano: Mapped[int | None] = mapped_column(BigInteger)
    seq: Mapped[int | None] = mapped_column(Integer)
    project_id: Mapped[str] = project_column()  # tenancy_0001


def span_keys_in(keys: Collection[tuple[str, str]]) -> ColumnElement[bool]:
    """Spans whose ``(trace_id, span_id)`` is one of ``keys``, looked up by primary key on both databases:
    SQLite does not use an index for a row-value IN list alone (it scanned every span, ~1 s at 1M spans),
    so the trace ids are given as well."""
    c = Span.__table__.c
    return and_(c.trace_id.in_({trace for trace, _ in keys}), tuple_(c.trace_id, c.span_id).in_(list(keys)))
