"""``spans.span_type`` by the rules of semconv.md 2.2 (first matching rule wins).

Never classify by ``gen_ai.agent.name`` (copied onto children) or by the OTel span kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentotel.core import semconv as sc

AGENTOTEL_SCOPE_PREFIX = "agentotel.instrumentation"

# Rule 1: langfuse.observation.type (None = fall through to the next rule)
LANGFUSE_TYPES: dict[str, str | None] = {
    "generation": "llm",
    "embedding": "embedding",
    "agent": "agent",
    "tool": "tool",
    "chain": "chain",
    "retriever": "retriever",
    "evaluator": "other",
    "guardrail": "other",
    "span": None,
    "event": None,
}

# Rule 2: openinference.span.kind (upper-cased); unknown kinds other than UNKNOWN map to "other"
OPENINFERENCE_KINDS: dict[str, str | None] = {
    "LLM": "llm",
    "EMBEDDING": "embedding",
    "AGENT": "agent",
    "TOOL": "tool",
    "RETRIEVER": "retriever",
    "RERANKER": "retriever",
    "CHAIN": "chain",
    "PROMPT": "chain",
    "UNKNOWN": None,
}

# Rule 3: traceloop.span.kind
TRACELOOP_KINDS: dict[str, str] = {"agent": "agent", "tool": "tool", "workflow": "chain", "task": "chain"}
_TASK_OVERRIDES = frozenset(("llm", "embedding", "retriever", "tool"))

# Rule 4: gen_ai.operation.name (standard values and the custom ones seen in the wild)
OPERATIONS: dict[str, str] = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "completion": "llm",
    "generate": "llm",
    "llm_request": "llm",
    "model_request": "llm",
    "embeddings": "embedding",
    "embedding": "embedding",
    "retrieval": "retriever",
    "vector_db_retrieve": "retriever",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "invoke_workflow": "chain",
    "execute_task": "chain",
    "create_agent": "agent",  # the corpus (Langfuse's agent-create) wins over semconv.md's "other"
    "create_memory": "other",
    "update_memory": "other",
    "search_memory": "other",
    "delete_memory": "other",
    "get_memory": "other",
    "add_memory": "other",
}

# Rule 5: llm.request.type (OpenLLMetry <= 0.54)
REQUEST_TYPES: dict[str, str] = {
    "chat": "llm",
    "completion": "llm",
    "embedding": "embedding",
    "rerank": "retriever",
}

# Rule 6: heuristics
TOOL_NAME_KEYS = (sc.TOOL_NAME, "tool.name")
MODEL_KEYS = (
    sc.REQUEST_MODEL,
    sc.RESPONSE_MODEL,
    "llm.model_name",
    "llm.request.model_name",
    "llm.response.model_name",
    "embedding.model_name",
    "llm.invocation_parameters",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "llm.input_messages.0.message.role",
    "llm.input_messages.0.message.content",
    "llm.output_messages.0.message.role",
    "llm.output_messages.0.message.content",
)
NAME_PREFIXES: tuple[tuple[str, str], ...] = (
    ("chat ", "llm"),
    ("execute_tool ", "tool"),
    ("invoke_agent ", "agent"),
    ("invoke_workflow ", "chain"),
    ("execute_task ", "chain"),
)
NAME_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".chat", "llm"),
    (".tool", "tool"),
    (".agent", "agent"),
    (".workflow", "chain"),
    (".task", "chain"),
)
NAME_EXACT: dict[str, str] = {"invoke_agent": "agent", "execute_tool": "tool"}


def operation_type(operation: Any) -> str | None:
    """Span type named by a ``gen_ai.operation.name`` value (rule 4), None when unknown."""
    if not isinstance(operation, str) or not operation:
        return None
    found = OPERATIONS.get(operation)
    if found is None:
        lowered = operation.lower()
        found = OPERATIONS.get(lowered)
        if found is None and "memory" in lowered:
            return "other"
    return found


def request_type(value: Any) -> str | None:
    """Span type named by ``llm.request.type`` (rule 5)."""
    if not isinstance(value, str):
        return None
    return REQUEST_TYPES.get(value.lower())


def name_type(name: str) -> str | None:
    """Span type suggested by the span name (rule 6)."""
    exact = NAME_EXACT.get(name)
    if exact is not None:
        return exact
    for prefix, span_type in NAME_PREFIXES:
        if name.startswith(prefix):
            return span_type
    for suffix, span_type in NAME_SUFFIXES:
        if name.endswith(suffix):
            return span_type
    return None


def classify(attrs: Mapping[str, Any], name: str, scope_name: str | None) -> str:
    """The span type (agent | llm | tool | chain | retriever | embedding | other)."""
    get = attrs.get
    value = get("langfuse.observation.type")
    if isinstance(value, str):
        found = LANGFUSE_TYPES.get(value.lower(), None)
        if found is not None:
            return found

    value = get("openinference.span.kind")
    if isinstance(value, str) and value:
        kind = value.upper()
        if kind in OPENINFERENCE_KINDS:
            found = OPENINFERENCE_KINDS[kind]
            if found is not None:
                return found
        else:
            return "other"

    operation = get(sc.OPERATION)
    op_type = operation_type(operation)

    value = get("traceloop.span.kind")
    if isinstance(value, str):
        found = TRACELOOP_KINDS.get(value.lower())
        if found == "chain":
            if op_type in _TASK_OVERRIDES:
                return op_type
            req_type = request_type(get("llm.request.type"))
            return req_type if req_type in _TASK_OVERRIDES else "chain"
        if found is not None:
            return found

    if op_type is not None:
        return op_type

    req_type = request_type(get("llm.request.type"))
    if req_type is not None:
        return req_type

    for key in TOOL_NAME_KEYS:
        if get(key):
            return "tool"
    if get("mcp.method.name") == "tools/call":
        return "tool"
    for key in MODEL_KEYS:
        if get(key) not in (None, ""):
            return "llm"
    found = name_type(name)
    if found is not None:
        return found
    if operation is None and scope_name and scope_name.startswith(AGENTOTEL_SCOPE_PREFIX):
        return "chain"
    return "other"
