"""Attribute extraction from Google GenAI (Gemini API / Vertex AI) requests and responses (pure functions).

Requests may hold the SDK's pydantic types or plain dicts (snake_case or camelCase keys); :func:`get`
reads both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings

OP_GENERATE_CONTENT = "generate_content"
_NUMBERS = (int, float)
# (config field, attribute): numeric request parameters; semconv types top_k as a double
CONFIG_PARAMS = (
    ("temperature", sc.REQUEST_TEMPERATURE, float),
    ("top_p", sc.REQUEST_TOP_P, float),
    ("top_k", sc.REQUEST_TOP_K, float),
    ("frequency_penalty", sc.REQUEST_FREQUENCY_PENALTY, float),
    ("presence_penalty", sc.REQUEST_PRESENCE_PENALTY, float),
    ("seed", sc.REQUEST_SEED, int),
    ("max_output_tokens", sc.REQUEST_MAX_TOKENS, int),
)
# Gemini finish reasons → the finish reasons of semconv's output message schema
FINISH_REASONS = {"stop": "stop", "max_tokens": "length", "safety": "content_filter", "recitation": "content_filter",
                  "blocklist": "content_filter", "prohibited_content": "content_filter", "spii": "content_filter",
                  "malformed_function_call": "error"}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


_MISSING = object()


def get(value: Any, name: str) -> Any:
    """Field ``name`` of a pydantic model, or of a dict under its snake_case or camelCase key (models first:
    the hot path)."""
    if value is None:
        return None
    if value.__class__ is not dict:
        found = getattr(value, name, _MISSING)
        if found is not _MISSING:
            return found
        if not isinstance(value, Mapping):
            return None
    found = value.get(name)
    return value.get(_camel(name)) if found is None else found


_servers: dict[int, tuple[Any, str, str | None, int | None]] = {}


def server_of(api_client: Any) -> tuple[str, str | None, int | None]:
    """(provider, server.address, server.port) of a client's ``_api_client`` (cached per client)."""
    options = getattr(api_client, "_http_options", None)
    base_url = getattr(options, "base_url", None)
    hit = _servers.get(id(api_client))
    if hit is not None and hit[0] == base_url:
        return hit[1], hit[2], hit[3]
    provider = "gcp.vertex_ai" if getattr(api_client, "vertexai", False) else "gcp.gemini"
    host = port = None
    if isinstance(base_url, str) and base_url:
        parts = urlsplit(base_url)
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
    if len(_servers) > 1024:
        _servers.clear()
    _servers[id(api_client)] = (base_url, provider, host, port)
    return provider, host, port


def model_name(model: Any) -> str | None:
    """The model id without the resource prefix (``models/gemini-2.5-flash`` → ``gemini-2.5-flash``)."""
    if not isinstance(model, str) or not model:
        return None
    return model.rsplit("/", 1)[-1] if "/" in model else model


def request_attributes(config: Any, attrs: dict[str, Any]) -> None:
    """Request parameters of a ``GenerateContentConfig`` (model or dict) into ``attrs``."""
    if config is None:
        return
    for field, attr, cast in CONFIG_PARAMS:
        value = get(config, field)
        if value is not None and type(value) in _NUMBERS:
            attrs[attr] = cast(value)
    stop = get(config, "stop_sequences")
    if isinstance(stop, (list, tuple)) and stop:
        attrs[sc.REQUEST_STOP] = tuple(str(s) for s in stop)
    count = get(config, "candidate_count")
    if type(count) is int and count != 1:
        attrs[sc.REQUEST_CHOICE_COUNT] = count


def _int(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


def usage_attributes(usage: Any, attrs: dict[str, Any]) -> tuple[int | None, int | None]:
    """``usageMetadata`` into ``attrs``; returns (input, output).

    Input = prompt + tool-use prompt tokens (the cached ones are inside the prompt count); output =
    candidates + thoughts (semconv's output includes reasoning).
    """
    if usage is None:
        return None, None
    prompt = get(usage, "prompt_token_count")
    candidates = get(usage, "candidates_token_count")
    thoughts = _int(get(usage, "thoughts_token_count"))
    input_tokens = output_tokens = None
    if type(prompt) is int and prompt >= 0:
        input_tokens = prompt + _int(get(usage, "tool_use_prompt_token_count"))
        attrs[sc.USAGE_INPUT] = input_tokens
    if (type(candidates) is int and candidates >= 0) or thoughts:
        output_tokens = _int(candidates) + thoughts
        attrs[sc.USAGE_OUTPUT] = output_tokens
    cached = _int(get(usage, "cached_content_token_count"))
    if cached:
        attrs[sc.USAGE_CACHE_READ] = cached
    if thoughts:
        attrs[sc.USAGE_REASONING] = thoughts
    return input_tokens, output_tokens


def finish_reason(candidate: Any) -> str | None:
    reason = get(candidate, "finish_reason")
    if reason is None:
        return None
    name = getattr(reason, "name", None) or str(reason)
    return name.lower() if name else None


def response_attributes(response: Any, attrs: dict[str, Any], content: ContentSettings
                        ) -> tuple[int | None, int | None]:
    """What a ``GenerateContentResponse`` adds: id, model, finish reasons, reasoning parts, usage, content."""
    response_id = get(response, "response_id")
    if isinstance(response_id, str) and response_id:
        attrs[sc.RESPONSE_ID] = response_id
    version = get(response, "model_version")
    if isinstance(version, str) and version:
        attrs[sc.RESPONSE_MODEL] = model_name(version)
    candidates = get(response, "candidates") or []
    reasons = [finish_reason(c) or "" for c in candidates]
    if any(reasons):
        attrs[sc.RESPONSE_FINISH_REASONS] = tuple(reasons)
    reasoning = sum(1 for c in candidates for p in get(get(c, "content"), "parts") or () if get(p, "thought"))
    if reasoning:
        attrs[sc.RESPONSE_REASONING_BLOCKS] = reasoning
    if content.capture:
        attrs[sc.OUTPUT_MESSAGES] = content.dumps(
            [output_message(get(get(c, "content"), "parts") or [], finish_reason(c)) for c in candidates])
    return usage_attributes(get(response, "usage_metadata"), attrs)


def output_message(parts: list[Any], reason: str | None) -> dict[str, Any]:
    return {"role": "assistant", "parts": [p for p in (part(x) for x in parts) if p is not None],
            "finish_reason": FINISH_REASONS.get(reason, reason) if reason else None}


def part(value: Any) -> dict[str, Any] | None:
    """One semconv message part for a Gemini ``Part`` (model, dict or plain string)."""
    if isinstance(value, str):
        return {"type": "text", "content": value}
    text = get(value, "text")
    if text is not None:
        return {"type": "reasoning" if get(value, "thought") else "text", "content": text}
    call = get(value, "function_call")
    if call is not None:
        return {"type": "tool_call", "id": get(call, "id"), "name": get(call, "name"), "arguments": get(call, "args")}
    response = get(value, "function_response")
    if response is not None:
        return {"type": "tool_call_response", "id": get(response, "id") or get(response, "name"),
                "response": get(response, "response")}
    inline = get(value, "inline_data")
    if inline is not None:
        return {"type": "blob", "mime_type": get(inline, "mime_type")}
    data = get(value, "file_data")
    if data is not None:
        return {"type": "uri", "uri": str(get(data, "file_uri"))[:256], "mime_type": get(data, "mime_type")}
    return None


def _is_content(value: Any) -> bool:
    return get(value, "parts") is not None or (isinstance(value, Mapping) and "role" in value)


def input_messages(contents: Any) -> list[dict[str, Any]]:
    """Semconv input messages of ``contents`` (a string, a Part, a Content, or a list of any of them)."""
    items = contents if isinstance(contents, (list, tuple)) else [contents]
    messages: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []  # bare strings/parts: one user message, as the SDK builds it
    for item in items:
        if _is_content(item):
            if loose:
                messages.append({"role": "user", "parts": loose})
                loose = []
            role = get(item, "role") or "user"
            messages.append({"role": "assistant" if role == "model" else str(role),
                             "parts": [p for p in (part(x) for x in get(item, "parts") or []) if p is not None]})
        else:
            converted = part(item)
            if converted is not None:
                loose.append(converted)
    if loose:
        messages.append({"role": "user", "parts": loose})
    return messages


def request_content(contents: Any, config: Any, content: ContentSettings) -> dict[str, str]:
    """Opt-in content attributes: input messages, system instructions, tool definitions."""
    out = {sc.INPUT_MESSAGES: content.dumps(input_messages(contents))}
    system = get(config, "system_instruction")
    if system is not None:
        parts = get(system, "parts") if not isinstance(system, (str, list)) else None
        items = parts if parts is not None else (system if isinstance(system, list) else [system])
        out[sc.SYSTEM_INSTRUCTIONS] = content.dumps([p for p in (part(x) for x in items) if p is not None])
    tools = get(config, "tools")
    if isinstance(tools, (list, tuple)) and tools:
        out[sc.TOOL_DEFINITIONS] = content.dumps(tool_definitions(tools))
    return out


def tool_definitions(tools: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for tool in tools:
        if callable(tool) and not hasattr(tool, "model_dump"):
            out.append({"type": "function", "name": getattr(tool, "__name__", "tool"),
                        "description": (getattr(tool, "__doc__", None) or "").strip() or None})
            continue
        declarations = get(tool, "function_declarations")
        if declarations:
            for decl in declarations:
                out.append({"type": "function", "name": get(decl, "name"), "description": get(decl, "description")})
        else:
            out.append(tool.model_dump(exclude_none=True) if hasattr(tool, "model_dump") else tool)
    return out


def error_type(exc: BaseException) -> str:
    """``error.type``: the API status (``RESOURCE_EXHAUSTED``), else the HTTP code, else the class name."""
    status = getattr(exc, "status", None)
    if isinstance(status, str) and status:
        return status
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return str(code)
    return type(exc).__qualname__ or sc.ERROR_OTHER
