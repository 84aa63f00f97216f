"""Framework SDKs read by the generic rules: Vercel AI SDK (``ai.*``), Google ADK, pydantic-ai."""

from __future__ import annotations

from typing import Any

from agentotel.processors.normalize._spec import Dialect, UsageKeys
from agentotel.processors.normalize._values import first, to_content
from agentotel.processors.records import SpanRecord

INPUT_KEYS = (
    "ai.prompt.messages", "ai.prompt", "ai.toolCall.args", "ai.value", "ai.values",
    "gcp.vertex.agent.tool_call_args", "gcp.vertex.agent.llm_request", "tool_arguments",
    "pydantic_ai.all_messages",
)  # fmt: skip
OUTPUT_KEYS = (
    "ai.response.text", "ai.response.object", "ai.response.toolCalls", "ai.toolCall.result",
    "gcp.vertex.agent.tool_response", "gcp.vertex.agent.llm_response", "tool_response", "final_result",
)  # fmt: skip
_STREAM_OPERATIONS = {
    "ai.streamText": True,
    "ai.streamText.doStream": True,
    "ai.streamObject": True,
    "ai.streamObject.doStream": True,
    "ai.generateText": False,
    "ai.generateText.doGenerate": False,
    "ai.generateObject": False,
    "ai.generateObject.doGenerate": False,
}


def content(record: SpanRecord) -> tuple[str | None, str | None]:
    attrs = record.attributes
    return to_content(first(attrs, INPUT_KEYS)), to_content(first(attrs, OUTPUT_KEYS))


def fields(record: SpanRecord, llm: dict[str, Any]) -> None:
    if llm["streaming"] is None:
        operation = record.attributes.get("ai.operationId")
        if isinstance(operation, str):
            llm["streaming"] = _STREAM_OPERATIONS.get(operation)


DIALECT = Dialect(
    name="frameworks",
    provider=("ai.model.provider",),
    request_model=("ai.model.id",),
    response_model=("ai.response.model",),
    finish_reason=("ai.response.finishReason",),
    ttft_ms=("ai.response.msToFirstChunk", "ai.stream.msToFirstChunk"),
    usage=UsageKeys(
        family="ai.usage",
        input=("ai.usage.inputTokens", "ai.usage.promptTokens"),
        output=("ai.usage.outputTokens", "ai.usage.completionTokens"),
        cached=("ai.usage.cachedInputTokens",),
        total=("ai.usage.totalTokens",),
    ),
    fields_hook=fields,
    content_hook=content,
    content_keys=INPUT_KEYS + OUTPUT_KEYS,
)
