"""OpenInference (Arize): ``openinference.span.kind``, ``llm.*``, flattened messages, ``input.value``."""

from __future__ import annotations

from typing import Any

from agentotel.processors.normalize._flat import unflatten, unflatten_many
from agentotel.processors.normalize._spec import Dialect, UsageKeys
from agentotel.processors.normalize._values import as_bool, parse_json, to_content
from agentotel.processors.records import SpanRecord

INPUT_PREFIX = "llm.input_messages."
OUTPUT_PREFIX = "llm.output_messages."
# cheap presence probes before scanning the keys
INPUT_PROBES = ("llm.input_messages.0.message.role", "llm.input_messages.0.message.content")
OUTPUT_PROBES = ("llm.output_messages.0.message.role", "llm.output_messages.0.message.content")
INPUT_CONTENTS_PROBE = "llm.input_messages.0.message.contents.0.message_content.text"
OUTPUT_CONTENTS_PROBE = "llm.output_messages.0.message.contents.0.message_content.text"


def _present(attrs: dict[str, Any], probes: tuple[str, ...]) -> bool:
    return any(key in attrs for key in probes)


def content(record: SpanRecord) -> tuple[str | None, str | None]:
    """Flattened ``llm.{input,output}_messages`` first, then ``llm.prompts``/``llm.choices``, then values."""
    attrs = record.attributes
    input_text = output_text = None
    want_in = _present(attrs, INPUT_PROBES) or INPUT_CONTENTS_PROBE in attrs
    want_out = _present(attrs, OUTPUT_PROBES) or OUTPUT_CONTENTS_PROBE in attrs
    if want_in or want_out:
        messages_in, messages_out = unflatten_many(attrs, (INPUT_PREFIX, OUTPUT_PREFIX))
        input_text = to_content(messages_in) if want_in else None
        output_text = to_content(messages_out) if want_out else None
    if input_text is None and attrs.get("llm.prompts"):  # completions API: a list of prompt strings
        input_text = to_content(attrs["llm.prompts"])
    if input_text is None and ("llm.prompts.0" in attrs or "llm.prompts.0.prompt.text" in attrs):
        input_text = to_content(unflatten(attrs, "llm.prompts."))
    if output_text is None and ("llm.choices.0" in attrs or "llm.choices.0.completion.text" in attrs):
        output_text = to_content(unflatten(attrs, "llm.choices."))
    if input_text is None:
        input_text = to_content(attrs.get("input.value"))
    if output_text is None:
        output_text = to_content(attrs.get("output.value"))
    if input_text is None and "embedding.embeddings.0.embedding.text" in attrs:
        input_text = to_content(unflatten(attrs, "embedding.embeddings."))
    return input_text, output_text


def fields(record: SpanRecord, llm: dict[str, Any]) -> None:
    """``stream`` inside the ``llm.invocation_parameters`` JSON."""
    if llm["streaming"] is None:
        params = record.attributes.get("llm.invocation_parameters")
        if params:
            parsed = parse_json(params)
            if isinstance(parsed, dict) and "stream" in parsed:
                llm["streaming"] = as_bool(parsed["stream"])


DIALECT = Dialect(
    name="openinference",
    provider=("llm.provider", "llm.system"),
    request_model=("llm.request.model_name", "llm.model_name", "embedding.model_name"),
    response_model=("llm.response.model_name", "llm.model_name"),
    finish_reason=("llm.finish_reason",),
    reported_cost=("llm.cost.total",),
    usage=UsageKeys(
        family="openinference",
        input=("llm.token_count.prompt",),
        output=("llm.token_count.completion",),
        cached=("llm.token_count.prompt_details.cache_read",),
        total=("llm.token_count.total",),
        cache_write=("llm.token_count.prompt_details.cache_write",),
    ),
    fields_hook=fields,
    content_hook=content,
    content_keys=(
        *INPUT_PROBES,
        *OUTPUT_PROBES,
        "llm.input_messages.0.message.contents.0.message_content.text",
        "llm.output_messages.0.message.contents.0.message_content.text",
        "llm.prompts",
        "llm.prompts.0",
        "llm.prompts.0.prompt.text",
        "llm.choices.0",
        "llm.choices.0.completion.text",
        "input.value",
        "output.value",
        "embedding.embeddings.0.embedding.text",
    ),  # fmt: skip
)
