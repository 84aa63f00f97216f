"""Attribute extraction from Anthropic Messages API requests and responses (pure functions, no spans).

Responses are read as the SDK's models or as decoded JSON (raw responses), through :func:`get`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings

PROVIDER = "anthropic"
_NUMBERS = (int, float)
# (body key, attribute, cast): request parameters recorded when given; semconv types top_k as a double
REQUEST_PARAMS = (
    ("temperature", sc.REQUEST_TEMPERATURE, float),
    ("top_p", sc.REQUEST_TOP_P, float),
    ("top_k", sc.REQUEST_TOP_K, float),
)
# Anthropic stop reasons → the finish reasons of semconv's output message schema
FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_call",
                  "refusal": "content_filter", "model_context_window_exceeded": "length"}


_MISSING = object()


def get(value: Any, name: str) -> Any:
    """``value.name`` for a model, ``value[name]`` for a mapping, else ``None`` (models first: the hot path)."""
    if value.__class__ is dict:
        return value.get(name)
    found = getattr(value, name, _MISSING)
    if found is not _MISSING:
        return found
    return value.get(name) if isinstance(value, Mapping) else None


def is_messages_call(options: Any) -> bool:
    """Whether the SDK request ``options`` are a Messages API call (``/v1/messages``, beta included;
    ``count_tokens`` and batches are not model calls)."""
    url = getattr(options, "url", None)
    return isinstance(url, str) and (url == "/v1/messages" or url.startswith("/v1/messages?"))


_servers: dict[int, tuple[Any, str | None, int | None]] = {}


def server_of(client: Any) -> tuple[str | None, int | None]:
    """(server.address, server.port) of a client, cached per client while its base URL object stays."""
    base_url = getattr(client, "_base_url", None) or getattr(client, "base_url", None)
    hit = _servers.get(id(client))
    if hit is not None and hit[0] is base_url:
        return hit[1], hit[2]
    host = getattr(base_url, "host", None) or None
    port = getattr(base_url, "port", None)
    if port is None and host:
        port = 443 if getattr(base_url, "scheme", "https") == "https" else 80
    if len(_servers) > 1024:
        _servers.clear()
    _servers[id(client)] = (base_url, host, port)  # the URL object is held: its identity cannot be reused
    return host, port


def request_attributes(body: Mapping[str, Any], attrs: dict[str, Any]) -> None:
    """Request parameters of a Messages call into ``attrs`` (only those the call has)."""
    max_tokens = body.get("max_tokens")
    if type(max_tokens) is int:
        attrs[sc.REQUEST_MAX_TOKENS] = max_tokens
    for key, attr, cast in REQUEST_PARAMS:
        value = body.get(key)
        if value is not None and type(value) in _NUMBERS:
            attrs[attr] = cast(value)
    stop = body.get("stop_sequences")
    if isinstance(stop, (list, tuple)) and stop:
        attrs[sc.REQUEST_STOP] = tuple(str(s) for s in stop)
    if body.get("stream") is True:
        attrs[sc.REQUEST_STREAM] = True


def _int(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


def usage_attributes(usage: Any, attrs: dict[str, Any]) -> tuple[int | None, int | None]:
    """Usage into ``attrs``; returns (input, output) for the token metric.

    Anthropic's ``input_tokens`` leaves out the cache: semconv's input is input + cache read + cache write.
    """
    if usage is None:
        return None, None
    raw_input = get(usage, "input_tokens")
    output = get(usage, "output_tokens")
    cache_read = _int(get(usage, "cache_read_input_tokens"))
    cache_write = _int(get(usage, "cache_creation_input_tokens"))
    input_tokens: int | None = None
    if type(raw_input) is int and raw_input >= 0:
        input_tokens = raw_input + cache_read + cache_write
        attrs[sc.USAGE_INPUT] = input_tokens
    if cache_read:
        attrs[sc.USAGE_CACHE_READ] = cache_read
    if cache_write:
        attrs[sc.USAGE_CACHE_CREATION] = cache_write
    if type(output) is int and output >= 0:
        attrs[sc.USAGE_OUTPUT] = output
    else:
        output = None
    thinking = _int(get(get(usage, "output_tokens_details"), "thinking_tokens"))
    if thinking:
        attrs[sc.USAGE_REASONING] = thinking
    return input_tokens, output


def message_attributes(message: Any, attrs: dict[str, Any], content: ContentSettings
                       ) -> tuple[int | None, int | None]:
    """What a (non-streamed) Message adds: id, model, finish reason, reasoning blocks, usage, output content."""
    response_id = get(message, "id")
    if isinstance(response_id, str):
        attrs[sc.RESPONSE_ID] = response_id
    model = get(message, "model")
    if isinstance(model, str):
        attrs[sc.RESPONSE_MODEL] = model
    stop = get(message, "stop_reason")
    if isinstance(stop, str):
        attrs[sc.RESPONSE_FINISH_REASONS] = (stop,)
    blocks = get(message, "content")
    blocks = blocks if isinstance(blocks, list) else []
    reasoning = sum(1 for b in blocks if get(b, "type") in ("thinking", "redacted_thinking"))
    if reasoning:
        attrs[sc.RESPONSE_REASONING_BLOCKS] = reasoning
    if content.capture:
        attrs[sc.OUTPUT_MESSAGES] = content.dumps([output_message(blocks, stop)])
    return usage_attributes(get(message, "usage"), attrs)


def output_message(blocks: list[Any], stop_reason: Any) -> dict[str, Any]:
    parts = [p for p in (_part(b) for b in blocks) if p is not None]
    reason = FINISH_REASONS.get(stop_reason, stop_reason) if isinstance(stop_reason, str) else None
    return {"role": "assistant", "parts": parts, "finish_reason": reason}


def _part(block: Any) -> dict[str, Any] | None:
    """One semconv message part for a content block (request or response, model or dict)."""
    kind = get(block, "type")
    if kind == "text":
        return {"type": "text", "content": get(block, "text") or ""}
    if kind == "thinking":
        return {"type": "reasoning", "content": get(block, "thinking") or ""}
    if kind == "redacted_thinking":
        return {"type": "reasoning"}  # encrypted: nothing readable to keep
    if kind in ("tool_use", "server_tool_use", "mcp_tool_use"):
        return {"type": "tool_call", "id": get(block, "id"), "name": get(block, "name"),
                "arguments": get(block, "input")}
    if kind == "tool_result":
        result = get(block, "content")
        if isinstance(result, list):
            result = [(_part(b) or {"type": str(get(b, "type"))}) for b in result]
        return {"type": "tool_call_response", "id": get(block, "tool_use_id"), "response": result}
    if kind in ("image", "document"):
        source = get(block, "source") or {}
        modality = "image" if kind == "image" else "document"
        if get(source, "type") == "url":
            return {"type": "uri", "modality": modality, "uri": str(get(source, "url"))[:256]}
        return {"type": "blob", "modality": modality, "mime_type": get(source, "media_type")}
    return {"type": str(kind or "unknown")} if kind else None


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    if isinstance(content, (list, tuple)):
        return [p for p in (_part(b) for b in content) if p is not None]
    return []


def request_content(body: Mapping[str, Any], content: ContentSettings) -> dict[str, str]:
    """Opt-in content attributes of a request: system instructions, input messages, tool definitions."""
    messages = []
    for message in body.get("messages") or ():
        role = get(message, "role") or "user"
        messages.append({"role": role, "parts": _parts(get(message, "content"))})
    out = {sc.INPUT_MESSAGES: content.dumps(messages)}
    system = body.get("system")
    if system:
        out[sc.SYSTEM_INSTRUCTIONS] = content.dumps(_parts(system))
    tools = body.get("tools")
    if isinstance(tools, (list, tuple)) and tools:
        out[sc.TOOL_DEFINITIONS] = content.dumps(list(tools))
    return out


def error_type(exc: BaseException) -> str:
    """``error.type``: the API's error type (``rate_limit_error``, ``overloaded_error``), else the status code,
    else the exception class (as the SDK's own spans do)."""
    kind = getattr(exc, "type", None)
    if not isinstance(kind, str) or not kind:
        kind = get(get(getattr(exc, "body", None), "error"), "type")
    if isinstance(kind, str) and kind:
        return kind
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return str(status)
    return type(exc).__qualname__ or sc.ERROR_OTHER
