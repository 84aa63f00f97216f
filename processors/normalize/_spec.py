"""What a dialect module declares: the attribute keys it reads for each ``llm_calls`` field."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from agentotel.processors.records import SpanRecord


class Usage(NamedTuple):
    """Token counts taken from ONE dialect (never summed across dialects)."""

    input_tokens: int | None
    output_tokens: int | None
    cached_input_tokens: int | None
    total_tokens: int | None
    cache_write_tokens: int | None = None


@dataclass(frozen=True)
class UsageKeys:
    """Keys of one usage family; families of the same ``family`` name are merged in dialect order."""

    family: str
    input: tuple[str, ...] = ()
    output: tuple[str, ...] = ()
    cached: tuple[str, ...] = ()
    total: tuple[str, ...] = ()
    cache_write: tuple[str, ...] = ()


# content hooks return (input, output); either may be None
ContentHook = Callable[[SpanRecord], "tuple[str | None, str | None]"]
UsageHook = Callable[[Mapping[str, Any]], "Usage | None"]
FieldsHook = Callable[[SpanRecord, dict], None]


@dataclass(frozen=True)
class Dialect:
    """One GenAI telemetry dialect: key chains per field (first key present wins) and optional hooks."""

    name: str
    provider: tuple[str, ...] = ()
    request_model: tuple[str, ...] = ()
    response_model: tuple[str, ...] = ()
    finish_reason: tuple[str, ...] = ()
    streaming: tuple[str, ...] = ()
    error_type: tuple[str, ...] = ()
    reported_cost: tuple[str, ...] = ()
    ttft_seconds: tuple[str, ...] = ()
    ttft_ms: tuple[str, ...] = ()
    usage: UsageKeys | None = None
    usage_hook: UsageHook | None = None  # for usage that is not a plain key per count (Langfuse JSON)
    fields_hook: FieldsHook | None = None  # fills fields still None after the key chains
    content_hook: ContentHook | None = None
    content_keys: tuple[str, ...] = ()  # attribute keys whose presence means the hook may find content
