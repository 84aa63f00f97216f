"""Attribute extraction from OpenAI requests and responses (pure functions, no span handling)."""

from __future__ import annotations

from typing import Any

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings, openai_input_messages, text_parts

_NUMBERS = (int, float)
# (kwarg, attribute): numeric request parameters recorded when given
CHAT_PARAMS = (
    ("temperature", sc.REQUEST_TEMPERATURE),
    ("top_p", sc.REQUEST_TOP_P),
    ("frequency_penalty", sc.REQUEST_FREQUENCY_PENALTY),
    ("presence_penalty", sc.REQUEST_PRESENCE_PENALTY),
    ("seed", sc.REQUEST_SEED),
)
RESPONSES_PARAMS = (("temperature", sc.REQUEST_TEMPERATURE), ("top_p", sc.REQUEST_TOP_P))

_server_cache: dict[int, tuple[Any, str | None, int | None, str]] = {}


def server_of(instance: Any) -> tuple[str | None, int | None, str]:
    """(server.address, server.port, provider) of the client behind a resource ``instance``."""
    client = getattr(instance, "_client", None)
    base_url = getattr(client, "_base_url", None)  # the property would re-validate it on every call
    key = id(client)
    hit = _server_cache.get(key)
    if hit is not None and hit[0] is base_url:
        return hit[1], hit[2], hit[3]
    if base_url is None:
        base_url = getattr(client, "base_url", None)
    if base_url is None:
        return None, None, "openai"
    host = getattr(base_url, "host", None) or None
    port = getattr(base_url, "port", None)
    if port is None:
        scheme = getattr(base_url, "scheme", "https")
        port = 443 if scheme == "https" else 80
    provider = "azure.ai.openai" if host and host.endswith(".openai.azure.com") else "openai"
    if len(_server_cache) > 1024:
        _server_cache.clear()
    _server_cache[key] = (getattr(client, "_base_url", base_url), host, port, provider)
    return host, port, provider


_templates: dict[tuple[int, str | None, str], tuple[Any, dict[str, Any], str]] = {}


def call_template(instance: Any, model: str | None, operation: str) -> tuple[dict[str, Any], str]:
    """(metric attributes, span name) shared by every call of ``operation`` on ``model`` through one client.

    Cached per (client, model, operation) and checked against the client's base URL object (held, so its
    identity cannot be reused); callers copy the dict.
    """
    client = getattr(instance, "_client", None)
    base_url = getattr(client, "_base_url", None)
    key = (id(client), model, operation)
    hit = _templates.get(key)
    if hit is not None and hit[0] is base_url and base_url is not None:
        return hit[1], hit[2]
    address, port, provider = server_of(instance)
    template: dict[str, Any] = {sc.OPERATION: operation, sc.PROVIDER: provider}
    if model:
        template[sc.REQUEST_MODEL] = model
    if address:
        template[sc.SERVER_ADDRESS] = address
        template[sc.SERVER_PORT] = port
    name = f"{operation} {model}" if model else operation
    if len(_templates) > 1024:
        _templates.clear()
    _templates[key] = (base_url, template, name)
    return template, name


_CHAT_NUMERIC = dict(CHAT_PARAMS)
_CHAT_OTHER = frozenset({"max_completion_tokens", "max_tokens", "stop", "n", "stream"})


def chat_request_attributes(kwargs: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Request parameters of ``chat.completions.create`` into ``attrs`` (only the keys the call has)."""
    other = False
    for key, value in kwargs.items():
        attr = _CHAT_NUMERIC.get(key)
        if attr is not None:
            if value is not None and type(value) in _NUMBERS:
                attrs[attr] = value
        elif key in _CHAT_OTHER:
            other = True
    if not other:
        return
    max_tokens = kwargs.get("max_completion_tokens") or kwargs.get("max_tokens")
    if type(max_tokens) is int:
        attrs[sc.REQUEST_MAX_TOKENS] = max_tokens
    stop = kwargs.get("stop")
    if stop:
        if isinstance(stop, str):
            attrs[sc.REQUEST_STOP] = (stop,)
        elif isinstance(stop, (list, tuple)):
            attrs[sc.REQUEST_STOP] = tuple(str(s) for s in stop)
    n = kwargs.get("n")
    if type(n) is int and n != 1:
        attrs[sc.REQUEST_CHOICE_COUNT] = n
    if kwargs.get("stream") is True:
        attrs[sc.REQUEST_STREAM] = True


def chat_request_content(kwargs: dict[str, Any], content: ContentSettings) -> dict[str, str]:
    """Opt-in content attributes of a chat request."""
    system, messages = openai_input_messages(kwargs.get("messages"))
    out = {sc.INPUT_MESSAGES: content.dumps(messages)}
    if system:
        out[sc.SYSTEM_INSTRUCTIONS] = content.dumps(system)
    tools = kwargs.get("tools")
    if isinstance(tools, (list, tuple)) and tools:
        out[sc.TOOL_DEFINITIONS] = content.dumps(list(tools))
    return out


def usage_attributes(usage: Any, attrs: dict[str, Any]) -> tuple[int | None, int | None]:
    """Usage of a chat/embeddings/responses result into ``attrs``; returns (input, output)."""
    if usage is None:
        return None, None
    input_tokens = getattr(usage, "prompt_tokens", None)
    if input_tokens is None:
        input_tokens = getattr(usage, "input_tokens", None)
    output_tokens = getattr(usage, "completion_tokens", None)
    if output_tokens is None:
        output_tokens = getattr(usage, "output_tokens", None)
    if type(input_tokens) is int and input_tokens >= 0:
        attrs[sc.USAGE_INPUT] = input_tokens
    else:
        input_tokens = None
    if type(output_tokens) is int and output_tokens >= 0:
        attrs[sc.USAGE_OUTPUT] = output_tokens
    else:
        output_tokens = None
    details = getattr(usage, "prompt_tokens_details", None) or getattr(usage, "input_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    if type(cached) is int and cached:
        attrs[sc.USAGE_CACHE_READ] = cached
    details = getattr(usage, "completion_tokens_details", None) or getattr(usage, "output_tokens_details", None)
    reasoning = getattr(details, "reasoning_tokens", None) if details is not None else None
    if type(reasoning) is int and reasoning:
        attrs[sc.USAGE_REASONING] = reasoning
    return input_tokens, output_tokens


def chat_output_messages(choices: Any) -> list[dict[str, Any]]:
    """Semconv output messages of chat ``choices`` (non-streamed)."""
    out = []
    for choice in choices or []:
        message = getattr(choice, "message", None)
        parts = text_parts(getattr(message, "content", None))
        for call in getattr(message, "tool_calls", None) or []:
            fn = getattr(call, "function", None)
            parts.append({"type": "tool_call", "id": getattr(call, "id", None),
                          "name": getattr(fn, "name", None), "arguments": getattr(fn, "arguments", None)})
        out.append({"role": "assistant", "parts": parts, "finish_reason": getattr(choice, "finish_reason", None)})
    return out


def responses_request_attributes(kwargs: dict[str, Any], attrs: dict[str, Any]) -> None:
    for key, attr in RESPONSES_PARAMS:
        value = kwargs.get(key)
        if value is not None and type(value) in _NUMBERS:
            attrs[attr] = value
    max_tokens = kwargs.get("max_output_tokens")
    if type(max_tokens) is int:
        attrs[sc.REQUEST_MAX_TOKENS] = max_tokens
    if kwargs.get("stream") is True:
        attrs[sc.REQUEST_STREAM] = True


def responses_request_content(kwargs: dict[str, Any], content: ContentSettings) -> dict[str, str]:
    raw = kwargs.get("input")
    if isinstance(raw, str):
        messages = [{"role": "user", "parts": [{"type": "text", "content": raw}]}]
    else:
        _, messages = openai_input_messages(raw if isinstance(raw, list) else [])
    out = {sc.INPUT_MESSAGES: content.dumps(messages)}
    instructions = kwargs.get("instructions")
    if isinstance(instructions, str):
        out[sc.SYSTEM_INSTRUCTIONS] = content.dumps([{"type": "text", "content": instructions}])
    return out


_RESPONSE_STATUS = {"completed": "stop", "failed": "error", "cancelled": "cancelled"}


def responses_finish_reason(response: Any) -> str | None:
    """One finish reason for a Responses API ``response``."""
    for item in getattr(response, "output", None) or []:
        if getattr(item, "type", None) == "function_call":
            return "tool_calls"
    status = getattr(response, "status", None)
    if status == "incomplete":
        details = getattr(response, "incomplete_details", None)
        reason = getattr(details, "reason", None)
        return "length" if reason == "max_output_tokens" else (reason or "incomplete")
    return _RESPONSE_STATUS.get(status, status) if status else None


def responses_output_messages(response: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in getattr(response, "output", None) or []:
        kind = getattr(item, "type", None)
        if kind == "message":
            for piece in getattr(item, "content", None) or []:
                if getattr(piece, "type", None) == "output_text":
                    parts.append({"type": "text", "content": getattr(piece, "text", "")})
        elif kind == "function_call":
            parts.append({"type": "tool_call", "id": getattr(item, "call_id", None),
                          "name": getattr(item, "name", None), "arguments": getattr(item, "arguments", None)})
    return [{"role": "assistant", "parts": parts, "finish_reason": responses_finish_reason(response)}]
