"""Plain records that flow through the processor chain (decoded once, mutated by each step)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentotel.core.projects import DEFAULT_PROJECT

SPAN_TYPES = ("agent", "llm", "tool", "chain", "retriever", "embedding", "other")


@dataclass(slots=True)
class SpanRecord:
    """One decoded span. Ids are lowercase hex; times are exact Unix nanoseconds."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str  # INTERNAL | SERVER | CLIENT | PRODUCER | CONSUMER | UNSPECIFIED
    start_ns: int
    end_ns: int
    status_code: str  # UNSET | OK | ERROR
    status_message: str | None
    attributes: dict[str, Any]
    resource_attributes: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[dict[str, Any]]
    scope_name: str | None = None
    scope_version: str | None = None
    scope_schema_url: str | None = None
    service_name: str | None = None
    trace_state: str | None = None
    flags: int | None = None
    dropped_attributes_count: int = 0
    dropped_events_count: int = 0
    dropped_links_count: int = 0
    # filled by the normalize step
    span_type: str = "other"
    agent_name: str | None = None
    agent_version: str | None = None
    conversation_id: str | None = None
    user_id: str | None = None
    input: str | None = None  # captured content (JSON text or plain text), redacted before storage
    output: str | None = None
    llm: dict[str, Any] | None = None  # llm_calls columns (provider, request_model, …) for llm/embedding spans
    tool: dict[str, Any] | None = None  # tool_calls columns (tool_name, tool_call_id, success, error_message)
    # filled by the writer
    execution_id: str | None = None
    # the project of the API key that sent the span (the receiver's stamp; never the span's own attributes)
    project_id: str = DEFAULT_PROJECT

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6

    @property
    def is_error(self) -> bool:
        return self.status_code == "ERROR"


@dataclass(slots=True)
class SpanBatch:
    """The unit every processor takes and returns."""

    spans: list[SpanRecord] = field(default_factory=list)
    # per-batch notes for observability (e.g. how many spans a step dropped)
    dropped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.spans)
