"""OTel GenAI semantic conventions, current (v1.37+) and older (<= 1.36) names."""

from __future__ import annotations

from typing import Any

from agentotel.core import semconv as sc
from agentotel.processors.normalize._spec import Dialect, UsageKeys
from agentotel.processors.normalize._values import (
    as_text,
    first_finish_reason,
    parse_json,
    to_content,
)
from agentotel.processors.records import SpanRecord

INPUT_MESSAGES = sc.INPUT_MESSAGES
OUTPUT_MESSAGES = sc.OUTPUT_MESSAGES
SYSTEM_INSTRUCTIONS = sc.SYSTEM_INSTRUCTIONS
DETAILS_EVENT = sc.EVENT_INFERENCE_DETAILS
# deprecated spellings this dialect still reads (semconv before v1.37)
DEPRECATED_PROMPT = "gen_ai.prompt"
DEPRECATED_COMPLETION = "gen_ai.completion"
DEPRECATED_PROVIDER = sc.DEPRECATED_PROVIDER
MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
PROMPT_EVENT = "gen_ai.content.prompt"
COMPLETION_EVENT = "gen_ai.content.completion"
EXCEPTION_EVENT = "exception"
INPUT_REFS = (
    "gen_ai.input.messages_ref",
    "gen_ai.input.messages.ref",
    "gen_ai.system_instructions_ref",
    "gen_ai.system_instructions.ref",
)
OUTPUT_REFS = ("gen_ai.output.messages_ref", "gen_ai.output.messages.ref")
# every attribute of this dialect that carries captured content or free text (redacted before storage)
CONTENT_ATTRIBUTES = frozenset((
    *sc.CONTENT_KEYS, DEPRECATED_PROMPT, DEPRECATED_COMPLETION, sc.TOOL_CALL_ARGUMENTS, sc.TOOL_CALL_RESULT,
    sc.EVALUATION_EXPLANATION,
))  # fmt: skip


def _instruction_parts(value: Any) -> list[Any]:
    parsed = parse_json(value)
    if isinstance(parsed, list):
        return parsed
    if isinstance(parsed, dict):
        return [parsed]
    return [{"type": "text", "content": value if isinstance(value, str) else to_content(value)}]


def messages_with_instructions(messages: Any, instructions: Any) -> str | None:
    """Input messages as text; system instructions (parts only) become a leading system message."""
    if instructions is None or instructions == "":
        return to_content(messages)
    system = {"role": "system", "parts": _instruction_parts(instructions)}
    if messages is None or messages == "":
        return to_content([system])
    parsed = parse_json(messages)
    if not isinstance(parsed, list):
        return to_content(messages)
    return to_content([system, *parsed])


def _event_content(attrs: dict[str, Any]) -> Any:
    for key in ("content", "body", "message"):
        value = attrs.get(key)
        if value not in (None, ""):
            return parse_json(value) or value
    return None


def _from_events(events: list[dict[str, Any]]) -> tuple[str | None, str | None]:
    details_in = details_out = details_system = None
    prompt = completion = None
    messages: list[dict[str, Any]] = []
    choices: list[dict[str, Any]] = []
    for event in events:
        name = event.get("name")
        attrs = event.get("attributes") or {}
        if name == DETAILS_EVENT:
            details_in = attrs.get(INPUT_MESSAGES, details_in)
            details_out = attrs.get(OUTPUT_MESSAGES, details_out)
            details_system = attrs.get(SYSTEM_INSTRUCTIONS, details_system)
        elif name in MESSAGE_EVENTS:
            message: dict[str, Any] = {"role": attrs.get("role") or MESSAGE_EVENTS[name]}
            content = _event_content(attrs)
            if content is not None:
                message["content"] = content
            if attrs.get("tool_calls") is not None:
                message["tool_calls"] = parse_json(attrs["tool_calls"]) or attrs["tool_calls"]
            if attrs.get("id") is not None:
                message["id"] = attrs["id"]
            messages.append(message)
        elif name == CHOICE_EVENT:
            choice = {key: value for key, value in attrs.items() if key not in ("message", "body")}
            message_value = attrs.get("message", attrs.get("body"))
            if message_value is not None:
                choice["message"] = parse_json(message_value) or message_value
            choices.append(choice)
        elif name == PROMPT_EVENT:
            prompt = attrs.get(DEPRECATED_PROMPT, prompt)
        elif name == COMPLETION_EVENT:
            completion = attrs.get(DEPRECATED_COMPLETION, completion)
    input_text = None
    if details_in is not None or details_system is not None:
        input_text = messages_with_instructions(details_in, details_system)
    elif messages:
        input_text = to_content(messages)
    elif prompt is not None:
        input_text = to_content(prompt)
    output_text = None
    if details_out is not None:
        output_text = to_content(details_out)
    elif choices:
        output_text = to_content(choices)
    elif completion is not None:
        output_text = to_content(completion)
    return input_text, output_text


def content(record: SpanRecord) -> tuple[str | None, str | None]:
    """Span attributes, then span events (details event, per-message events, ≤1.27 content events)."""
    attrs = record.attributes
    instructions = attrs.get(SYSTEM_INSTRUCTIONS)
    input_text = messages_with_instructions(attrs.get(INPUT_MESSAGES), instructions)
    output_text = to_content(attrs.get(OUTPUT_MESSAGES))
    if record.events and (input_text is None or output_text is None):
        event_in, event_out = _from_events(record.events)
        input_text = input_text or event_in
        output_text = output_text or event_out
    if input_text is None:
        input_text = to_content(attrs.get(DEPRECATED_PROMPT))
    if output_text is None:
        output_text = to_content(attrs.get(DEPRECATED_COMPLETION))
    if input_text is None:
        input_text = to_content(attrs.get(sc.TOOL_CALL_ARGUMENTS))
    if output_text is None:
        output_text = to_content(attrs.get(sc.TOOL_CALL_RESULT))
    if input_text is None:
        for key in INPUT_REFS:
            if attrs.get(key):
                input_text = to_content(attrs[key])
                break
    if output_text is None:
        for key in OUTPUT_REFS:
            if attrs.get(key):
                output_text = to_content(attrs[key])
                break
    return input_text, output_text


def fields(record: SpanRecord, llm: dict[str, Any]) -> None:
    """Finish reason and error type carried by span events."""
    if not record.events or (llm["finish_reason"] is not None and llm["error_type"] is not None):
        return
    for event in record.events:
        name = event.get("name")
        attrs = event.get("attributes") or {}
        if llm["finish_reason"] is None:
            if name == DETAILS_EVENT:
                llm["finish_reason"] = first_finish_reason(attrs.get(sc.RESPONSE_FINISH_REASONS))
            elif name == CHOICE_EVENT:
                llm["finish_reason"] = as_text(attrs.get("finish_reason"))
        if llm["error_type"] is None and name == EXCEPTION_EVENT:
            llm["error_type"] = as_text(attrs.get("exception.type"))


DIALECT = Dialect(
    name="otel",
    provider=(sc.PROVIDER, DEPRECATED_PROVIDER),
    request_model=(sc.REQUEST_MODEL,),
    response_model=(sc.RESPONSE_MODEL,),
    finish_reason=(sc.RESPONSE_FINISH_REASONS,),
    streaming=(sc.REQUEST_STREAM,),
    error_type=("error.type",),
    ttft_seconds=(sc.RESPONSE_TIME_TO_FIRST_CHUNK,),
    usage=UsageKeys(
        family="gen_ai.usage",
        input=(sc.USAGE_INPUT, "gen_ai.usage.prompt_tokens"),
        output=(sc.USAGE_OUTPUT, "gen_ai.usage.completion_tokens"),
        cached=(sc.USAGE_CACHE_READ,),
        cache_write=(sc.USAGE_CACHE_CREATION, "gen_ai.usage.cache_write.input_tokens"),
    ),
    fields_hook=fields,
    content_hook=content,
    content_keys=(
        INPUT_MESSAGES,
        OUTPUT_MESSAGES,
        SYSTEM_INSTRUCTIONS,
        DEPRECATED_PROMPT,
        DEPRECATED_COMPLETION,
        sc.TOOL_CALL_ARGUMENTS,
        sc.TOOL_CALL_RESULT,
        *INPUT_REFS,
        *OUTPUT_REFS,
    ),  # fmt: skip
)
