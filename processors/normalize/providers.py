"""Canonical ``gen_ai.provider.name`` values: aliases, frameworks that are not providers, inference."""

from __future__ import annotations

from typing import Any

CANONICAL = frozenset(
    (
        "openai", "anthropic", "aws.bedrock", "azure.ai.openai", "azure.ai.inference", "gcp.gemini",
        "gcp.vertex_ai", "gcp.gen_ai", "cohere", "deepseek", "groq", "ibm.watsonx.ai", "mistral_ai",
        "perplexity", "x_ai",
    )
)  # fmt: skip

ALIASES = {
    "azure": "azure.ai.openai",
    "az.ai.openai": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azureopenai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "aws": "aws.bedrock",
    "amazon": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "google": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "vertex_ai": "gcp.vertex_ai",
    "vertex": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google_genai": "gcp.gen_ai",
    "xai": "x_ai",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "watsonx": "ibm.watsonx.ai",
    "ibm.watson.ai": "ibm.watsonx.ai",
    # Vercel AI SDK provider ids (ai.model.provider, gen_ai.system)
    "google.generative-ai": "gcp.gemini",
    "google.vertex": "gcp.vertex_ai",
    "amazon-bedrock": "aws.bedrock",
    "azure-openai": "azure.ai.openai",
}

# framework / SDK names found in provider keys: not model providers (semconv.md pitfall 4)
FRAMEWORKS = frozenset(
    (
        "langchain", "langgraph", "crewai", "llamaindex", "llama_index", "llama-index", "haystack",
        "autogen", "semantic_kernel", "semantic-kernel", "dspy", "agno", "smolagents", "openai_agents",
        "pydantic_ai", "pydantic-ai", "gcp.vertex.agent", "google_adk", "beeai", "mastra", "langsmith",
        "guardrails", "instructor", "litellm",
    )
)  # fmt: skip

SERVER_ADDRESSES = (
    ("api.openai.com", "openai"),
    ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("openai.azure.com", "azure.ai.openai"),
    ("models.inference.ai.azure.com", "azure.ai.inference"),
    ("services.ai.azure.com", "azure.ai.inference"),
    ("amazonaws.com", "aws.bedrock"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.cohere.com", "cohere"),
    ("api.cohere.ai", "cohere"),
    ("api.deepseek.com", "deepseek"),
    ("api.groq.com", "groq"),
    ("api.x.ai", "x_ai"),
    ("api.perplexity.ai", "perplexity"),
)

MODEL_PREFIXES = (
    ("gpt-", "openai"), ("o1", "openai"), ("o3", "openai"), ("o4", "openai"), ("chatgpt-", "openai"),
    ("text-embedding-3", "openai"), ("text-embedding-ada", "openai"), ("davinci", "openai"),
    ("claude", "anthropic"),
    ("gemini", "gcp.gemini"), ("text-embedding-004", "gcp.gemini"),
    ("mistral", "mistral_ai"), ("mixtral", "mistral_ai"), ("codestral", "mistral_ai"),
    ("ministral", "mistral_ai"), ("pixtral", "mistral_ai"), ("open-mistral", "mistral_ai"),
    ("magistral", "mistral_ai"),
    ("command", "cohere"), ("embed-english", "cohere"), ("embed-multilingual", "cohere"),
    ("embed-v4", "cohere"),
    ("deepseek", "deepseek"),
    ("grok", "x_ai"),
)  # fmt: skip

_cache: dict[str, str | None] = {}


def canonical_provider(value: Any) -> str | None:
    """Canonical provider for a raw provider value; None for frameworks and empty values."""
    if not isinstance(value, str) or not value:
        return None
    found = _cache.get(value, False)
    if found is not False:
        return found  # type: ignore[return-value]
    key = value.strip().lower()
    if key in CANONICAL:
        result: str | None = key
    elif key in ALIASES:
        result = ALIASES[key]
    elif key in FRAMEWORKS or not key:
        result = None
    else:
        parts = key.split(".")  # SDK provider ids such as "openai.responses", "google.vertex.chat"
        two = ".".join(parts[:2])
        if len(parts) > 2 and two in ALIASES:
            result = ALIASES[two]
        elif len(parts) > 1 and (parts[0] in CANONICAL or parts[0] in ALIASES):
            result = ALIASES.get(parts[0], parts[0])
        else:
            result = key  # a custom provider is stored as given (lower-cased)
    if len(_cache) < 10_000:
        _cache[value] = result
    return result


def provider_from_address(address: Any) -> str | None:
    if not isinstance(address, str) or "." not in address:
        return None
    host = address.lower()
    for suffix, provider in SERVER_ADDRESSES:
        if host == suffix or host.endswith("." + suffix) or host.endswith(suffix):
            return provider
    return None


def provider_from_model(model: Any) -> str | None:
    """Provider suggested by a well-known model family prefix (router prefixes such as ``openai/`` too)."""
    if not isinstance(model, str) or not model:
        return None
    name = model.lower()
    if "/" in name:
        head, _, name = name.rpartition("/")
        head = head.split("/", 1)[0]
        routed = ALIASES.get(head, head)
        if routed in CANONICAL:
            return routed
    for prefix, provider in MODEL_PREFIXES:
        if name.startswith(prefix):
            return provider
    return None
