"""OpenLLMetry / Traceloop: OTel keys plus ``traceloop.*``, ``gen_ai.is_streaming``, old ``llm.*`` names."""

from __future__ import annotations

from agentotel.processors.normalize._flat import unflatten
from agentotel.processors.normalize._spec import Dialect, UsageKeys
from agentotel.processors.normalize._values import to_content
from agentotel.processors.records import SpanRecord

PROMPT_PREFIX = "gen_ai.prompt."
COMPLETION_PREFIX = "gen_ai.completion."


def content(record: SpanRecord) -> tuple[str | None, str | None]:
    """Flattened ``gen_ai.prompt.<i>.*`` (<= 0.54), then the decorators' ``traceloop.entity.*``."""
    attrs = record.attributes
    input_text = output_text = None
    if "gen_ai.prompt.0.content" in attrs or "gen_ai.prompt.0.role" in attrs:
        input_text = to_content(unflatten(attrs, PROMPT_PREFIX))
    if "gen_ai.completion.0.content" in attrs or "gen_ai.completion.0.role" in attrs:
        output_text = to_content(unflatten(attrs, COMPLETION_PREFIX))
    if input_text is None:
        input_text = to_content(attrs.get("traceloop.entity.input") or attrs.get("gen_ai.task.input"))
    if output_text is None:
        output_text = to_content(attrs.get("traceloop.entity.output") or attrs.get("gen_ai.task.output"))
    return input_text, output_text


DIALECT = Dialect(
    name="openllmetry",
    finish_reason=("gen_ai.response.finish_reason", "gen_ai.completion.0.finish_reason"),
    streaming=("gen_ai.is_streaming", "llm.is_streaming"),
    usage=UsageKeys(
        family="gen_ai.usage",
        cached=("gen_ai.usage.cache_read_input_tokens",),
        total=("gen_ai.usage.total_tokens", "llm.usage.total_tokens"),
        cache_write=("gen_ai.usage.cache_creation_input_tokens",),
    ),
    content_hook=content,
    content_keys=(
        "gen_ai.prompt.0.content",
        "gen_ai.prompt.0.role",
        "gen_ai.completion.0.content",
        "gen_ai.completion.0.role",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "gen_ai.task.input",
        "gen_ai.task.output",
    ),  # fmt: skip
)
