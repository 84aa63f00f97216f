"""Langfuse SDK (``langfuse.*``): usage and cost as JSON strings, scalars JSON-quoted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from agentotel.processors.normalize._spec import Dialect, Usage
from agentotel.processors.normalize._values import as_amount, as_count, parse_json, to_content, unquote
from agentotel.processors.records import SpanRecord

USAGE_DETAILS = "langfuse.observation.usage_details"
COST_DETAILS = "langfuse.observation.cost_details"
LEVEL = "langfuse.observation.level"
COMPLETION_START = "langfuse.observation.completion_start_time"

_CACHE_READ = (
    "input_cached_tokens",
    "input_cache_read",
    "cache_read_input_tokens",
    "input_cache_read_tokens",
)
_CACHE_WRITE = (
    "input_cache_creation",
    "cache_creation_input_tokens",
    "input_cache_write",
    "input_cache_creation_tokens",
)
_REASONING = ("output_reasoning_tokens", "output_reasoning")


def _count(details: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = as_count(details.get(key))
        if value is not None:
            return value
    return None


def usage(attrs: Mapping[str, Any]) -> Usage | None:
    """Counts from ``usage_details``: OpenAI-native keys are inclusive; Langfuse's ``input`` is not."""
    raw = attrs.get(USAGE_DETAILS)
    if raw is None:
        return None
    details = parse_json(raw)
    if not isinstance(details, dict):
        return None
    cached = _count(details, _CACHE_READ)
    if cached is None:
        for nested in ("prompt_tokens_details", "input_tokens_details"):
            inner = details.get(nested)
            if isinstance(inner, dict) and as_count(inner.get("cached_tokens")) is not None:
                cached = as_count(inner.get("cached_tokens"))
                break
    cache_write = _count(details, _CACHE_WRITE)
    input_tokens = _count(details, ("prompt_tokens", "input_tokens"))
    if input_tokens is None:
        uncached = as_count(details.get("input"))
        if uncached is not None:  # Langfuse-native: the uncached remainder
            input_tokens = uncached + (cached or 0) + (cache_write or 0)
    output_tokens = _count(details, ("completion_tokens", "output_tokens"))
    if output_tokens is None:
        visible = as_count(details.get("output"))
        if visible is not None:  # Langfuse-native: reasoning split into its own bucket
            output_tokens = visible + (_count(details, _REASONING) or 0)
    total = _count(details, ("total", "total_tokens"))
    if input_tokens is None and output_tokens is None and total is None:
        return None
    return Usage(input_tokens, output_tokens, cached, total, cache_write)


def _iso_ns(value: Any) -> int | None:
    value = unquote(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def fields(record: SpanRecord, llm: dict[str, Any]) -> None:
    """Reported cost, time to first token, and level ERROR."""
    attrs = record.attributes
    if llm["cost_usd"] is None and attrs.get(COST_DETAILS) is not None:
        details = parse_json(attrs[COST_DETAILS])
        if isinstance(details, dict):
            total = as_amount(details.get("total"))
            if total is None:
                parts = [as_amount(value) for value in details.values()]
                known = [part for part in parts if part is not None]
                total = sum(known) if known else None
            if total is not None:
                llm["cost_usd"] = total
                llm["cost_source"] = "reported"
    if llm["time_to_first_token_ms"] is None and attrs.get(COMPLETION_START) is not None:
        start_ns = _iso_ns(attrs[COMPLETION_START])
        if start_ns is not None and start_ns >= record.start_ns:
            llm["time_to_first_token_ms"] = (start_ns - record.start_ns) / 1e6
    if unquote(attrs.get(LEVEL)) == "ERROR":
        llm["success"] = False
        if llm["error_type"] is None:
            llm["error_type"] = "_OTHER"


def content(record: SpanRecord) -> tuple[str | None, str | None]:
    attrs = record.attributes
    return to_content(attrs.get("langfuse.observation.input")), to_content(
        attrs.get("langfuse.observation.output")
    )


def is_error_level(attrs: Mapping[str, Any]) -> bool:
    return unquote(attrs.get(LEVEL)) == "ERROR"


DIALECT = Dialect(
    name="langfuse",
    request_model=("langfuse.observation.model.name",),
    response_model=("langfuse.observation.model.name",),
    usage_hook=usage,
    fields_hook=fields,
    content_hook=content,
    content_keys=("langfuse.observation.input", "langfuse.observation.output"),
)
