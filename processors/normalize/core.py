"""The normalize step: span type, llm_calls / tool_calls fields, agent identity and captured content."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentotel.core import semconv as sc
from agentotel.processors.normalize import frameworks, langfuse, openinference, openlit, openllmetry, otel
from agentotel.processors.normalize._spec import Dialect, Usage, UsageKeys
from agentotel.processors.normalize._values import (
    as_amount,
    as_bool,
    as_count,
    as_text,
    first,
    first_finish_reason,
)
from agentotel.processors.normalize.classify import TOOL_NAME_KEYS, classify, operation_type, request_type
from agentotel.processors.normalize.providers import (
    canonical_provider,
    provider_from_address,
    provider_from_model,
)
from agentotel.processors.records import SpanBatch, SpanRecord

# Field chains run left to right over the dialects in this order (semconv.md 2.3 column order).
DIALECTS: tuple[Dialect, ...] = (
    otel.DIALECT,
    openinference.DIALECT,
    openllmetry.DIALECT,
    openlit.DIALECT,
    langfuse.DIALECT,
    frameworks.DIALECT,
)
# Captured content: first carrier found wins, in this order.
CONTENT_ORDER: tuple[Dialect, ...] = (
    otel.DIALECT,
    openllmetry.DIALECT,
    openinference.DIALECT,
    langfuse.DIALECT,
    frameworks.DIALECT,
)

MODEL_TYPES = ("llm", "embedding")
LLM_FIELDS = (
    "provider", "request_model", "response_model", "operation", "input_tokens", "output_tokens",
    "total_tokens", "cached_input_tokens", "cost_usd", "cost_source", "time_to_first_token_ms",
    "finish_reason", "error_type", "streaming", "success",
)  # fmt: skip

CONVERSATION_KEYS = (
    sc.CONVERSATION_ID, "session.id", "langfuse.session.id",
    "traceloop.association.properties.session_id", "gen_ai.session.id",
)  # fmt: skip
USER_KEYS = (
    "user.id", "langfuse.user.id", "traceloop.association.properties.user_id", "enduser.id", "gen_ai.user.id",
)  # fmt: skip
AGENT_NAME_KEYS = (sc.AGENT_NAME, "agent.name")
TOOL_CALL_ID_KEYS = (sc.TOOL_CALL_ID, "tool.id", "tool_call.id")
WORKFLOW_NAME_KEYS = (sc.WORKFLOW_NAME, "traceloop.workflow.name", "langfuse.trace.name")


def _chain(field: str) -> tuple[str, ...]:
    keys: list[str] = []
    for dialect in DIALECTS:
        for key in getattr(dialect, field):
            if key not in keys:
                keys.append(key)
    return tuple(keys)


PROVIDER_KEYS = _chain("provider")
REQUEST_MODEL_KEYS = _chain("request_model")
RESPONSE_MODEL_KEYS = _chain("response_model")
FINISH_REASON_KEYS = _chain("finish_reason")
STREAMING_KEYS = _chain("streaming")
ERROR_TYPE_KEYS = _chain("error_type")
REPORTED_COST_KEYS = _chain("reported_cost")
TTFT_SECONDS_KEYS = _chain("ttft_seconds")
TTFT_MS_KEYS = _chain("ttft_ms")
FIELD_HOOKS = tuple(d.fields_hook for d in DIALECTS if d.fields_hook is not None)
CONTENT_HOOKS = tuple(d.content_hook for d in CONTENT_ORDER if d.content_hook is not None)
CONTENT_KEYS = frozenset(key for d in CONTENT_ORDER for key in d.content_keys)


def _merge_usage_families() -> tuple[UsageKeys | Any, ...]:
    """Usage sources in dialect order; dialects sharing a family (gen_ai.usage) are merged into one."""
    merged: dict[str, UsageKeys] = {}
    order: list[Any] = []
    for dialect in DIALECTS:
        keys = dialect.usage
        if keys is not None:
            if keys.family in merged:
                old = merged[keys.family]
                merged[keys.family] = UsageKeys(
                    keys.family,
                    old.input + keys.input,
                    old.output + keys.output,
                    old.cached + keys.cached,
                    old.total + keys.total,
                    old.cache_write + keys.cache_write,
                )
            else:
                merged[keys.family] = keys
                order.append(keys.family)
        if dialect.usage_hook is not None:
            order.append(dialect.usage_hook)
    return tuple(merged[item] if isinstance(item, str) else item for item in order)


USAGE_SOURCES = _merge_usage_families()


def _first_count(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = attrs.get(key)
        if value is not None:
            count = as_count(value)
            if count is not None:
                return count
    return None


def usage_of(attrs: Mapping[str, Any]) -> Usage | None:
    """Token counts from the first dialect that reports any, never mixed across dialects."""
    for source in USAGE_SOURCES:
        if isinstance(source, UsageKeys):
            input_tokens = _first_count(attrs, source.input)
            output_tokens = _first_count(attrs, source.output)
            total = _first_count(attrs, source.total)
            if input_tokens is None and output_tokens is None and total is None:
                continue
            usage = Usage(
                input_tokens,
                output_tokens,
                _first_count(attrs, source.cached),
                total,
                _first_count(attrs, source.cache_write),
            )
        else:
            usage = source(attrs)
            if usage is None:
                continue
        return _complete(usage)
    return None


def _complete(usage: Usage) -> Usage:
    """Pitfall 6: cache read + write above the input count means a raw (cache-exclusive) count; add them.
    The total is the span's explicit one, else input + output."""
    input_tokens, output_tokens, cached, total, cache_write = usage
    cache_sum = (cached or 0) + (cache_write or 0)
    if input_tokens is not None and cache_sum > input_tokens:
        input_tokens += cache_sum
    if total is None and (input_tokens is not None or output_tokens is not None):
        total = (input_tokens or 0) + (output_tokens or 0)
    return Usage(input_tokens, output_tokens, cached, total, cache_write)


def provider_of(
    attrs: Mapping[str, Any], request_model: str | None, response_model: str | None
) -> str | None:
    """First provider key holding a model provider (frameworks skipped), else server address, else model."""
    for key in PROVIDER_KEYS:
        value = attrs.get(key)
        if value:
            provider = canonical_provider(value)
            if provider is not None:
                return provider
    return (
        provider_from_address(attrs.get("server.address"))
        or provider_from_model(response_model)
        or provider_from_model(request_model)
    )


def _operation(attrs: Mapping[str, Any], span_type: str) -> str:
    operation = attrs.get(sc.OPERATION)
    if isinstance(operation, str) and operation_type(operation) in MODEL_TYPES:
        return operation
    raw = attrs.get("llm.request.type")
    if isinstance(raw, str) and request_type(raw) in MODEL_TYPES:
        return raw
    return span_type


def is_failure(record: SpanRecord) -> bool:
    """Status ERROR in every dialect, or Langfuse level ERROR."""
    return record.status_code == "ERROR" or langfuse.is_error_level(record.attributes)


def llm_fields(record: SpanRecord, span_type: str) -> dict[str, Any]:
    """The llm_calls columns of a model span (no duration; the writer has start/end)."""
    attrs = record.attributes
    request_model = as_text(first(attrs, REQUEST_MODEL_KEYS))
    response_model = as_text(first(attrs, RESPONSE_MODEL_KEYS))
    usage = usage_of(attrs)
    cost = None
    for key in REPORTED_COST_KEYS:
        cost = as_amount(attrs.get(key))
        if cost is not None:
            break
    ttft = None
    for key in TTFT_SECONDS_KEYS:
        seconds = as_amount(attrs.get(key))
        if seconds is not None:
            ttft = seconds * 1000.0
            break
    if ttft is None:
        ttft = as_amount(first(attrs, TTFT_MS_KEYS))
    failed = is_failure(record)
    error_type = as_text(first(attrs, ERROR_TYPE_KEYS))
    llm: dict[str, Any] = {
        "provider": provider_of(attrs, request_model, response_model),
        "request_model": request_model,
        "response_model": response_model,
        "operation": _operation(attrs, span_type),
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "total_tokens": usage.total_tokens if usage else None,
        "cached_input_tokens": usage.cached_input_tokens if usage else None,
        "cost_usd": cost,
        "cost_source": "reported" if cost is not None else None,
        "time_to_first_token_ms": ttft,
        "finish_reason": first_finish_reason(first(attrs, FINISH_REASON_KEYS)),
        "error_type": error_type,
        "streaming": as_bool(first(attrs, STREAMING_KEYS)),
        "success": not failed,
    }
    for hook in FIELD_HOOKS:
        hook(record, llm)
    if failed and llm["error_type"] is None:
        llm["error_type"] = "_OTHER"
    return llm


def _name_after(name: str, prefix: str, suffix: str) -> str | None:
    if name.startswith(prefix) and len(name) > len(prefix):
        return name[len(prefix) :].strip() or None
    if name.endswith(suffix) and len(name) > len(suffix):
        return name[: -len(suffix)] or None
    return None


def tool_fields(record: SpanRecord) -> dict[str, Any]:
    """The tool_calls columns of a tool span."""
    attrs = record.attributes
    name = as_text(first(attrs, TOOL_NAME_KEYS))
    if name is None and attrs.get("traceloop.span.kind") == "tool":
        name = as_text(attrs.get("traceloop.entity.name"))
    if name is None:
        name = _name_after(record.name, "execute_tool ", ".tool")
    if name is None and record.name != "execute_tool":
        name = record.name or None
    success = not is_failure(record)
    error_message = None
    if not success:
        error_message = record.status_message or None
        if error_message is None:
            for event in record.events:
                if event.get("name") == "exception":
                    error_message = as_text((event.get("attributes") or {}).get("exception.message"))
                    if error_message:
                        break
        if error_message is None:
            error_message = as_text(langfuse.unquote(attrs.get("langfuse.observation.status_message")))
    return {
        "tool_name": name,
        "tool_call_id": as_text(first(attrs, TOOL_CALL_ID_KEYS)),
        "success": success,
        "error_message": error_message,
    }


def agent_name_of(record: SpanRecord) -> str | None:
    attrs = record.attributes
    name = as_text(first(attrs, AGENT_NAME_KEYS))
    if name is None:
        name = as_text(attrs.get("traceloop.entity.name"))
    if name is None:
        name = _name_after(record.name, "invoke_agent ", ".agent")
    if name is None and record.name != "invoke_agent":
        name = record.name or None
    return name


def workflow_name_of(attrs: Mapping[str, Any]) -> str | None:
    """Workflow name carried by a span (semconv.md 2.4); the root span's name is the caller's fallback."""
    return as_text(first(attrs, WORKFLOW_NAME_KEYS))


def content_of(record: SpanRecord) -> tuple[str | None, str | None]:
    """(input, output) from the first carrier of each, over every dialect's span carriers."""
    if not record.events and CONTENT_KEYS.isdisjoint(record.attributes):
        return None, None
    input_text = output_text = None
    for hook in CONTENT_HOOKS:
        found_in, found_out = hook(record)
        if input_text is None:
            input_text = found_in
        if output_text is None:
            output_text = found_out
        if input_text is not None and output_text is not None:
            break
    return input_text, output_text


def normalize_span(record: SpanRecord) -> None:
    """Fill the normalized fields of one span in place."""
    attrs = record.attributes
    span_type = classify(attrs, record.name, record.scope_name)
    record.span_type = span_type
    record.conversation_id = as_text(first(attrs, CONVERSATION_KEYS))
    record.user_id = as_text(first(attrs, USER_KEYS))
    if span_type == "agent":
        record.agent_name = agent_name_of(record)
        record.agent_version = as_text(attrs.get(sc.AGENT_VERSION)) or as_text(
            record.resource_attributes.get("service.version")
        )
    else:
        record.agent_name = record.agent_version = None
    record.input, record.output = content_of(record)
    record.llm = llm_fields(record, span_type) if span_type in MODEL_TYPES else None
    record.tool = tool_fields(record) if span_type == "tool" else None


def drop_wrapper_rows(spans: Sequence[SpanRecord]) -> int:
    """Model spans with a model span below them (framework/SDK wrappers repeating their children's usage)
    get no llm_calls row. Needs the tree: only what this batch holds is seen here. Returns the count."""
    index = {(span.trace_id, span.span_id): span for span in spans}
    dropped = 0
    for span in spans:
        if span.span_type not in MODEL_TYPES or not span.parent_span_id:
            continue
        seen = {span.span_id}
        parent = index.get((span.trace_id, span.parent_span_id))
        while parent is not None and parent.span_id not in seen:  # parent-id cycles end here
            seen.add(parent.span_id)
            if parent.span_type in MODEL_TYPES and parent.llm is not None:
                parent.llm = None
                dropped += 1
            parent = index.get((span.trace_id, parent.parent_span_id)) if parent.parent_span_id else None
    return dropped


class Normalize:
    """Processor: normalizes every GenAI dialect of the spans in a batch (pure, no database)."""

    def __init__(self, drop_wrappers: bool = True) -> None:
        self.drop_wrappers = drop_wrappers
        self.wrapper_rows_dropped = 0  # llm rows withheld from wrapper spans so far

    def process(self, batch: SpanBatch) -> SpanBatch:
        for record in batch.spans:
            normalize_span(record)
        if self.drop_wrappers:
            self.wrapper_rows_dropped += drop_wrapper_rows(batch.spans)
        return batch
