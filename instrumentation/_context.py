"""Context keys shared by the instrumentors (LLM-span de-duplication, safe attach/detach)."""

from __future__ import annotations

import contextvars
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace

# value: the span of an LLM call owned by a higher-level instrumentor (LangChain, AgentTracer).
# A lower-level instrumentor (OpenAI SDK, httpx) seeing a recording span under this key makes no span.
LLM_SPAN_KEY = context_api.create_key("agentotel-llm-span")
# value: the context that was current before a callback-driven span was attached.
PARENT_CONTEXT_KEY = context_api.create_key("agentotel-parent-context")
# The SDK call in flight while an SDK wrapper (OpenAI, Anthropic, Google GenAI) runs, else False: the httpx
# hooks then leave the HTTP span alone, and the SDK's answer hooks hand it the response (``on_http_response``)
IN_SDK_CALL: contextvars.ContextVar[Any] = contextvars.ContextVar("agentotel_in_sdk_call", default=False)

SUPPRESS_KEY = context_api._SUPPRESS_INSTRUMENTATION_KEY
SUPPRESS_PLAIN_KEY = "suppress_instrumentation"


def suppressed() -> bool:
    """True when instrumentation is suppressed (OTel suppression key, e.g. inside exporters)."""
    return bool(context_api.get_value(SUPPRESS_KEY) or context_api.get_value(SUPPRESS_PLAIN_KEY))


def owned_llm_span() -> Any:
    """The recording LLM span a higher-level instrumentor owns in this context, else ``None``."""
    span: Any = context_api.get_value(LLM_SPAN_KEY)
    if span is not None and span.is_recording():
        return span
    return None


def effective_context(ctx: context_api.Context | None = None) -> context_api.Context:
    """The current context, skipping callback-attached spans that already ended.

    LangChain ends some async runs in a copied context, so the span attached at the start may stay
    current in the caller's context after it ended; new spans must then use that span's parent.
    """
    if ctx is None:
        ctx = context_api.get_current()
    for _ in range(64):
        parent: Any = ctx.get(PARENT_CONTEXT_KEY)
        if parent is None:
            return ctx
        span = trace.get_current_span(ctx)
        if span is not ctx.get(_ATTACHED_SPAN_KEY) or getattr(span, "end_time", None) is None:
            return ctx
        ctx = parent
    return ctx


_ATTACHED_SPAN_KEY = context_api.create_key("agentotel-attached-span")


def attach_span(span: Any, llm: bool = False) -> object:
    """Make ``span`` current (remembering the previous context); returns the token for :func:`detach`."""
    parent = context_api.get_current()
    ctx = trace.set_span_in_context(span, parent)
    ctx = context_api.set_value(PARENT_CONTEXT_KEY, parent, ctx)
    ctx = context_api.set_value(_ATTACHED_SPAN_KEY, span, ctx)
    if llm:
        ctx = context_api.set_value(LLM_SPAN_KEY, span, ctx)
    return context_api.attach(ctx)


def detach(token: Any) -> bool:
    """Detach quietly; ``False`` when the token belongs to another context (async callbacks)."""
    var = getattr(token, "var", None)
    if var is None:
        context_api.detach(token)
        return True
    try:
        var.reset(token)
        return True
    except (ValueError, RuntimeError):
        return False
