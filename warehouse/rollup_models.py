"""Rollup tables: executions, LLM calls and tool calls pre-aggregated per minute (and per hour).

Each row is one (width, bucket start, project, dimensions) cell; ``width_s`` is 60 for minute rows, 600 and 3600 for
10-minute and hour rows (merged from the minute rows) and 86400 for day rows (merged from the hour rows), so
long ranges read far fewer rows. Dimensions that are NULL in the source are stored as ``""`` so that they can
be part of the primary key. Durations are kept as a mergeable sketch (``agentotel.warehouse.sketch``): counts
over fixed log-spaced buckets, stored as packed binary records (``duration_sketch``, revision analytics_0003).
``project_id`` (revision tenancy_0002) is part of each row's key: a project's rows hold only its own source
rows, so row-level security (``row_security``) scopes the rollups like every other project table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from agentotel.core.projects import DEFAULT_PROJECT
from agentotel.warehouse.models import Base


def _project_key() -> Mapped[str]:
    """``project_id`` as part of the primary key (revision tenancy_0002; earlier rows are ``default``)."""
    return mapped_column(String(64), primary_key=True, server_default=DEFAULT_PROJECT)


class RollupExecution(Base):
    """agent_executions per minute, project, agent and service."""

    __tablename__ = "rollup_executions"

    width_s: Mapped[int] = mapped_column(Integer, primary_key=True)  # 60, 600, 3600 or 86400 seconds
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    project_id: Mapped[str] = _project_key()  # tenancy_0002
    agent_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    service_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    success_count: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_count: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    duration_sketch: Mapped[bytes | None] = mapped_column(LargeBinary)


class RollupLLM(Base):
    """llm_calls per minute, project, agent, service, provider and model."""

    __tablename__ = "rollup_llm"

    width_s: Mapped[int] = mapped_column(Integer, primary_key=True)  # 60, 600, 3600 or 86400 seconds
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    project_id: Mapped[str] = _project_key()  # tenancy_0002
    agent_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    service_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    success_count: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_count: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    duration_sketch: Mapped[bytes | None] = mapped_column(LargeBinary)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    total_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)


class RollupTool(Base):
    """tool_calls per minute, project, agent, service and tool."""

    __tablename__ = "rollup_tools"

    width_s: Mapped[int] = mapped_column(Integer, primary_key=True)  # 60, 600, 3600 or 86400 seconds
    bucket: Mapped[datetime] = mapped_column(primary_key=True)
    project_id: Mapped[str] = _project_key()  # tenancy_0002
    agent_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    service_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    tool_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    success_count: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_count: Mapped[int] = mapped_column(BigInteger, default=0)
    duration_sum: Mapped[float] = mapped_column(Float, default=0.0)
    duration_sketch: Mapped[bytes | None] = mapped_column(LargeBinary)


class RollupState(Base):
    """Watermark of each rollup family: the latest source time already rolled up."""

    __tablename__ = "rollup_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime | None] = mapped_column()
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
