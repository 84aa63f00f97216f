"""Tables of online evaluation (migration branch ``evaluation``).

- ``evaluation_results``: one row per ``gen_ai.evaluation.result`` of a production execution, keyed to
  the execution it judges (``execution_id`` and the evaluated span, ``trace_id``/``span_id``, i.e. the
  event's parent) with the semantic-convention attributes as typed columns (``name`` =
  ``gen_ai.evaluation.name``, ``score_value``, ``score_label``, ``explanation``, ``error_type``) and the
  agent's name and version copied from the execution, so per-version charts, alert rules and the
  promotion gate read one indexed table. Unique on (execution_id, name): an execution is scored once.
- ``evaluation_online_claims``: every production execution the online evaluator has looked at, sampled
  or not, with its status (``claimed`` → ``scored`` | ``failed``; ``skipped`` with the reason): the claim
  that keeps two evaluators (or one restarted) from scoring an execution twice.
- ``evaluation_online_state``: the watermark per evaluator configuration and project: where scanning
  resumes after a restart (minus the configured look-back for executions that arrive late).

Claims and states carry ``project_id`` (revision alerting_0003): a claim the project of its execution
(an execution id belongs to one project, so the claim's key stays the execution id).

Benchmark runs stay in ``evaluation_runs`` (one JSON document per run).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from agentotel.core.projects import DEFAULT_PROJECT
from agentotel.warehouse.models import Base, project_column


class EvaluationResultRecord(Base):
    """A ``gen_ai.evaluation.result`` of one execution (online evaluation)."""

    __tablename__ = "evaluation_results"
    __table_args__ = (
        UniqueConstraint("execution_id", "name"),
        Index(None, "agent_name", "name", "execution_time"),
        Index(None, "execution_time"),
        Index(None, "trace_id", "span_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(49))
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str] = mapped_column(String(16))
    agent_name: Mapped[str | None] = mapped_column(String(255))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    execution_time: Mapped[datetime] = mapped_column()
    evaluated_at: Mapped[datetime] = mapped_column()
    name: Mapped[str] = mapped_column(String(255))  # gen_ai.evaluation.name
    score_value: Mapped[float | None] = mapped_column(Float)  # gen_ai.evaluation.score.value
    score_label: Mapped[str | None] = mapped_column(String(64))  # gen_ai.evaluation.score.label
    explanation: Mapped[str | None] = mapped_column(Text)  # gen_ai.evaluation.explanation
    error_type: Mapped[str | None] = mapped_column(String(255))  # error.type: the evaluation failed
    evaluator: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16), default="online")
    project_id: Mapped[str] = project_column()  # tenancy_0001


class OnlineClaim(Base):
    """An execution the online evaluator has looked at."""

    __tablename__ = "evaluation_online_claims"
    __table_args__ = (Index(None, "execution_time"), Index(None, "status", "claimed_at"))

    execution_id: Mapped[str] = mapped_column(String(49), primary_key=True)
    agent_name: Mapped[str | None] = mapped_column(String(255))
    agent_version: Mapped[str | None] = mapped_column(String(64))
    execution_time: Mapped[datetime] = mapped_column()
    sampled: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))  # claimed | scored | failed | skipped
    worker: Mapped[str] = mapped_column(String(64))
    claimed_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    detail: Mapped[str | None] = mapped_column(Text)
    project_id: Mapped[str] = project_column()  # alerting_0003: the execution's project


class OnlineState(Base):
    """Where an online evaluator configuration resumes scanning, per project (key: name and project)."""

    __tablename__ = "evaluation_online_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True, server_default=DEFAULT_PROJECT)
    watermark: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column()
