"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = ("core",)
depends_on = None

# Self-contained: this revision never changes, whatever the models become.
JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:

    op.create_table(
        "agents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("model_type", sa.String(length=255), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("metadata", JSON_TYPE, nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_agents_name_version")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(length=255), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("labels", JSON_TYPE, nullable=True),
        sa.Column("annotations", JSON_TYPE, nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=255), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_fingerprint"), ["fingerprint"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_status_timestamp"), ["status", "timestamp"], unique=False)

    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("benchmark_id", sa.String(length=255), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("results", JSON_TYPE, nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("metadata", JSON_TYPE, nullable=True),
        sa.Column("agent_name", sa.String(length=255), nullable=True),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", JSON_TYPE, nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_runs")),
    )
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluation_runs_agent_name_agent_version"),
            ["agent_name", "agent_version"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_evaluation_runs_timestamp"), ["timestamp"], unique=False)

    op.create_table(
        "llm_calls",
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("execution_id", sa.String(length=49), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("request_model", sa.String(length=255), nullable=True),
        sa.Column("response_model", sa.String(length=255), nullable=True),
        sa.Column("operation", sa.String(length=64), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=True),
        sa.Column("output_tokens", sa.Integer(), nullable=True),
        sa.Column("total_tokens", sa.Integer(), nullable=True),
        sa.Column("cached_input_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("time_to_first_token_ms", sa.Float(), nullable=True),
        sa.Column("finish_reason", sa.String(length=64), nullable=True),
        sa.Column("error_type", sa.String(length=255), nullable=True),
        sa.Column("streaming", sa.Boolean(), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_name", sa.String(length=255), nullable=True),
        sa.Column("agent_name", sa.String(length=255), nullable=True),
        sa.Column("cost_source", sa.String(length=16), nullable=True),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name=op.f("pk_llm_calls")),
    )
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_llm_calls_execution_id"), ["execution_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_llm_calls_provider_start_time"), ["provider", "start_time"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_llm_calls_request_model_start_time"), ["request_model", "start_time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_llm_calls_start_time"), ["start_time"], unique=False)

    op.create_table(
        "logs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed_timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("severity_number", sa.Integer(), nullable=True),
        sa.Column("severity_text", sa.String(length=32), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("attributes", JSON_TYPE, nullable=True),
        sa.Column("resource_attributes", JSON_TYPE, nullable=True),
        sa.Column("event_name", sa.String(length=255), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.Column("service_name", sa.String(length=255), nullable=True),
        sa.Column("scope_name", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logs")),
    )
    with op.batch_alter_table("logs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_logs_timestamp"), ["timestamp"], unique=False)
        batch_op.create_index(batch_op.f("ix_logs_trace_id"), ["trace_id"], unique=False)

    op.create_table(
        "metrics",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("execution_id", sa.String(length=49), nullable=True),
        sa.Column("metric_name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tags", JSON_TYPE, nullable=True),
        sa.Column("series_key", sa.String(length=64), nullable=False),
        sa.Column("metric_type", sa.String(length=32), nullable=True),
        sa.Column("unit", sa.String(length=64), nullable=True),
        sa.Column("temporality", sa.String(length=16), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=True),
        sa.Column("sum", sa.Float(), nullable=True),
        sa.Column("buckets", JSON_TYPE, nullable=True),
        sa.Column("service_name", sa.String(length=255), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("span_id", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics")),
        sa.UniqueConstraint(
            "metric_name", "series_key", "timestamp", name=op.f("uq_metrics_metric_name_series_key_timestamp")
        ),
    )
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_metrics_execution_id"), ["execution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_metrics_timestamp"), ["timestamp"], unique=False)

    op.create_table(
        "spans",
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("parent_span_id", sa.String(length=16), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("span_type", sa.String(length=16), nullable=False),
        sa.Column("service_name", sa.String(length=255), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("status_code", sa.String(length=8), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=True),
        sa.Column("attributes", JSON_TYPE, nullable=True),
        sa.Column("resource_attributes", JSON_TYPE, nullable=True),
        sa.Column("events", JSON_TYPE, nullable=True),
        sa.Column("execution_id", sa.String(length=49), nullable=True),
        sa.Column("start_time_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("end_time_unix_nano", sa.BigInteger(), nullable=False),
        sa.Column("links", JSON_TYPE, nullable=True),
        sa.Column("scope_name", sa.String(length=255), nullable=True),
        sa.Column("scope_version", sa.String(length=64), nullable=True),
        sa.Column("trace_state", sa.Text(), nullable=True),
        sa.Column("flags", sa.BigInteger(), nullable=True),
        sa.Column("dropped_attributes_count", sa.Integer(), nullable=False),
        sa.Column("dropped_events_count", sa.Integer(), nullable=False),
        sa.Column("dropped_links_count", sa.Integer(), nullable=False),
        sa.Column("agent_name", sa.String(length=255), nullable=True),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("conversation_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name=op.f("pk_spans")),
    )
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_spans_execution_id"), ["execution_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_spans_service_name_start_time"), ["service_name", "start_time"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_spans_span_type_start_time"), ["span_type", "start_time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_spans_start_time"), ["start_time"], unique=False)

    op.create_table(
        "tool_calls",
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("execution_id", sa.String(length=49), nullable=True),
        sa.Column("tool_name", sa.String(length=255), nullable=True),
        sa.Column("tool_call_id", sa.String(length=255), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_name", sa.String(length=255), nullable=True),
        sa.Column("agent_name", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("trace_id", "span_id", name=op.f("pk_tool_calls")),
    )
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tool_calls_execution_id"), ["execution_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tool_calls_start_time"), ["start_time"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_tool_calls_tool_name_start_time"), ["tool_name", "start_time"], unique=False
        )

    op.create_table(
        "agent_executions",
        sa.Column("id", sa.String(length=49), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("tokens_used", sa.Integer(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=False),
        sa.Column("span_id", sa.String(length=16), nullable=False),
        sa.Column("agent_name", sa.String(length=255), nullable=True),
        sa.Column("agent_version", sa.String(length=64), nullable=True),
        sa.Column("service_name", sa.String(length=255), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("llm_call_count", sa.Integer(), nullable=False),
        sa.Column("tool_call_count", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=255), nullable=True),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("is_agent_span", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_agent_executions_agent_id_agents"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_executions")),
        sa.UniqueConstraint("trace_id", "span_id", name=op.f("uq_agent_executions_trace_id_span_id")),
    )
    with op.batch_alter_table("agent_executions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agent_executions_agent_name_timestamp"), ["agent_name", "timestamp"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_agent_executions_timestamp"), ["timestamp"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("agent_executions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agent_executions_timestamp"))
        batch_op.drop_index(batch_op.f("ix_agent_executions_agent_name_timestamp"))

    op.drop_table("agent_executions")
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tool_calls_tool_name_start_time"))
        batch_op.drop_index(batch_op.f("ix_tool_calls_start_time"))
        batch_op.drop_index(batch_op.f("ix_tool_calls_execution_id"))

    op.drop_table("tool_calls")
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spans_start_time"))
        batch_op.drop_index(batch_op.f("ix_spans_span_type_start_time"))
        batch_op.drop_index(batch_op.f("ix_spans_service_name_start_time"))
        batch_op.drop_index(batch_op.f("ix_spans_execution_id"))

    op.drop_table("spans")
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_metrics_timestamp"))
        batch_op.drop_index(batch_op.f("ix_metrics_execution_id"))

    op.drop_table("metrics")
    with op.batch_alter_table("logs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_logs_trace_id"))
        batch_op.drop_index(batch_op.f("ix_logs_timestamp"))

    op.drop_table("logs")
    with op.batch_alter_table("llm_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_llm_calls_start_time"))
        batch_op.drop_index(batch_op.f("ix_llm_calls_request_model_start_time"))
        batch_op.drop_index(batch_op.f("ix_llm_calls_provider_start_time"))
        batch_op.drop_index(batch_op.f("ix_llm_calls_execution_id"))

    op.drop_table("llm_calls")
    with op.batch_alter_table("evaluation_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluation_runs_timestamp"))
        batch_op.drop_index(batch_op.f("ix_evaluation_runs_agent_name_agent_version"))

    op.drop_table("evaluation_runs")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_status_timestamp"))
        batch_op.drop_index(batch_op.f("ix_alerts_fingerprint"))

    op.drop_table("alerts")
    op.drop_table("agents")
