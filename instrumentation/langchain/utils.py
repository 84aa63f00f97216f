"""Reading LangChain run arguments: names, providers, usage, messages (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import text_parts

# LangChain ``ls_provider`` → semconv provider names (pitfall 5 aliases included)
_PROVIDERS = {
    "openai": "openai", "azure": "azure.ai.openai", "azure_openai": "azure.ai.openai", "anthropic": "anthropic",
    "bedrock": "aws.bedrock", "amazon_bedrock": "aws.bedrock", "google_genai": "gcp.gen_ai",
    "google_vertexai": "gcp.vertex_ai", "vertexai": "gcp.vertex_ai", "gemini": "gcp.gemini", "cohere": "cohere",
    "deepseek": "deepseek", "groq": "groq", "mistral": "mistral_ai", "mistralai": "mistral_ai",
    "xai": "x_ai", "perplexity": "perplexity", "watsonx": "ibm.watsonx.ai", "ibm": "ibm.watsonx.ai",
}
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool",
          "chat": "user", "AIMessageChunk": "assistant"}
AGENT_NAMES = ("AgentExecutor",)


def run_name(serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any], default: str) -> str:
    name = kwargs.get("name")
    if isinstance(name, str) and name:
        return name
    if serialized:
        name = serialized.get("name")
        if isinstance(name, str) and name:
            return name
        ident = serialized.get("id")
        if isinstance(ident, list) and ident:
            return str(ident[-1])
    return default


def provider_of(metadata: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    raw = metadata.get("ls_provider") or params.get("_type") or "langchain_unknown"
    raw = str(raw).lower()
    if raw.startswith("openai"):
        return "openai"
    if raw.startswith("azure"):
        return "azure.ai.openai"
    return _PROVIDERS.get(raw, raw)


def model_of(metadata: Mapping[str, Any], params: Mapping[str, Any]) -> str | None:
    for key in ("model", "model_name", "model_id", "deployment_name"):
        value = params.get(key)
        if isinstance(value, str) and value:
            return value
    value = metadata.get("ls_model_name")
    return value if isinstance(value, str) and value else None


def server_of(serialized: Mapping[str, Any] | None) -> tuple[str | None, int | None]:
    """server.address/port from a serialized model's base URL, when it has one."""
    kwargs = (serialized or {}).get("kwargs") or {}
    url = kwargs.get("openai_api_base") or kwargs.get("base_url")
    if not isinstance(url, str) or "://" not in url:
        return None, None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port


def request_attributes(metadata: Mapping[str, Any], params: Mapping[str, Any], attrs: dict[str, Any]) -> None:
    temperature = params.get("temperature", metadata.get("ls_temperature"))
    if type(temperature) in (int, float):
        attrs[sc.REQUEST_TEMPERATURE] = temperature
    max_tokens = params.get("max_tokens") or params.get("max_completion_tokens") or metadata.get("ls_max_tokens")
    if type(max_tokens) is int:
        attrs[sc.REQUEST_MAX_TOKENS] = max_tokens
    for key, attr in (("top_p", sc.REQUEST_TOP_P), ("frequency_penalty", sc.REQUEST_FREQUENCY_PENALTY),
                      ("presence_penalty", sc.REQUEST_PRESENCE_PENALTY), ("seed", sc.REQUEST_SEED)):
        value = params.get(key)
        if type(value) in (int, float):
            attrs[attr] = value
    top_k = params.get("top_k")
    if isinstance(top_k, (int, float)) and not isinstance(top_k, bool):
        attrs[sc.REQUEST_TOP_K] = float(top_k)
    stop = params.get("stop") or metadata.get("ls_stop")
    if isinstance(stop, str):
        attrs[sc.REQUEST_STOP] = (stop,)
    elif isinstance(stop, (list, tuple)) and stop:
        attrs[sc.REQUEST_STOP] = tuple(str(s) for s in stop)
    if params.get("stream") is True:
        attrs[sc.REQUEST_STREAM] = True


def message_dict(message: Any) -> dict[str, Any]:
    """A LangChain message as a semconv message ``{role, parts}``."""
    role = _ROLES.get(getattr(message, "type", ""), getattr(message, "type", "user"))
    if role == "tool":
        return {"role": "tool", "parts": [{"type": "tool_call_response", "id": getattr(message, "tool_call_id", None),
                                           "response": getattr(message, "content", None)}]}
    parts = text_parts(getattr(message, "content", None))
    for call in getattr(message, "tool_calls", None) or []:
        parts.append({"type": "tool_call", "id": call.get("id"), "name": call.get("name"),
                      "arguments": call.get("args")})
    return {"role": role, "parts": parts}


def usage_of(response: Any) -> dict[str, int]:
    """Token usage of an ``LLMResult`` (usage_metadata first, then ``llm_output.token_usage``)."""
    totals: dict[str, int] = {}
    for generations in getattr(response, "generations", None) or []:
        for generation in generations:
            usage = getattr(getattr(generation, "message", None), "usage_metadata", None)
            if not usage:
                continue
            for key, value in (("input", usage.get("input_tokens")), ("output", usage.get("output_tokens")),
                               ("cache_read", (usage.get("input_token_details") or {}).get("cache_read")),
                               ("cache_creation", (usage.get("input_token_details") or {}).get("cache_creation")),
                               ("reasoning", (usage.get("output_token_details") or {}).get("reasoning"))):
                if isinstance(value, int):
                    totals[key] = totals.get(key, 0) + value
    if totals:
        return totals
    token_usage = (getattr(response, "llm_output", None) or {}).get("token_usage") or {}
    if isinstance(token_usage, Mapping):
        if isinstance(token_usage.get("prompt_tokens"), int):
            totals["input"] = token_usage["prompt_tokens"]
        if isinstance(token_usage.get("completion_tokens"), int):
            totals["output"] = token_usage["completion_tokens"]
    return totals


def response_details(response: Any) -> tuple[str | None, str | None, list[str]]:
    """(response model, response id, finish reasons) of an ``LLMResult``."""
    model = response_id = None
    reasons: list[str] = []
    llm_output = getattr(response, "llm_output", None) or {}
    for generations in getattr(response, "generations", None) or []:
        for generation in generations:
            meta = getattr(getattr(generation, "message", None), "response_metadata", None) or {}
            info = getattr(generation, "generation_info", None) or {}
            model = model or meta.get("model_name") or meta.get("model")
            response_id = response_id or meta.get("id")
            reason = meta.get("finish_reason") or info.get("finish_reason") or meta.get("stop_reason")
            if reason:
                reasons.append(str(reason))
    model = model or llm_output.get("model_name") or llm_output.get("model")
    response_id = response_id or llm_output.get("id")
    return (model if isinstance(model, str) else None, response_id if isinstance(response_id, str) else None,
            reasons)


def output_messages(response: Any) -> list[dict[str, Any]]:
    out = []
    for generations in getattr(response, "generations", None) or []:
        for generation in generations:
            message = getattr(generation, "message", None)
            entry = message_dict(message) if message is not None else {
                "role": "assistant", "parts": text_parts(getattr(generation, "text", ""))}
            entry["role"] = "assistant"
            info = getattr(generation, "generation_info", None) or {}
            meta = getattr(message, "response_metadata", None) or {}
            entry["finish_reason"] = meta.get("finish_reason") or info.get("finish_reason") or "stop"
            out.append(entry)
    return out
