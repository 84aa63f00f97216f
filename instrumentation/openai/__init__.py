"""OpenAI client instrumentation: chat completions, the Responses API and embeddings, sync and async."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import get_tracer
from wrapt import wrap_function_wrapper

from agentotel.core import semconv as sc
from agentotel.core.version import __version__
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation._events import content_events
from agentotel.instrumentation._ratelimit import wrap_sdk_responses
from agentotel.instrumentation.instruments import build_instruments
from agentotel.instrumentation.openai.package import _instruments
from agentotel.instrumentation.openai.patch import (
    async_helper_close_wrapper,
    async_wrapper,
    helper_close_wrapper,
    sync_wrapper,
)

SCOPE = "agentotel.instrumentation.openai"

# (module, class, method, kind, is_async)
_TARGETS = (
    ("openai.resources.chat.completions", "Completions", "create", "chat", False),
    ("openai.resources.chat.completions", "AsyncCompletions", "create", "chat", True),
    ("openai.resources.embeddings", "Embeddings", "create", "embeddings", False),
    ("openai.resources.embeddings", "AsyncEmbeddings", "create", "embeddings", True),
    ("openai.resources.responses", "Responses", "create", "responses", False),
    ("openai.resources.responses", "AsyncResponses", "create", "responses", True),
    # structured-output helpers post directly (they do not go through create)
    ("openai.resources.chat.completions", "Completions", "parse", "chat", False),
    ("openai.resources.chat.completions", "AsyncCompletions", "parse", "chat", True),
    ("openai.resources.responses", "Responses", "parse", "responses", False),
    ("openai.resources.responses", "AsyncResponses", "parse", "responses", True),
)
# the ``.stream()`` helpers (chat.completions / beta.chat.completions / responses) run the traced
# ``create(stream=True)`` when entered; their streams' ``close`` (also run on ``__exit__``) ends its span
_HELPER_STREAMS = (
    ("openai.lib.streaming.chat", "ChatCompletionStream", False),
    ("openai.lib.streaming.chat", "AsyncChatCompletionStream", True),
    ("openai.lib.streaming.responses", "ResponseStream", False),
    ("openai.lib.streaming.responses", "AsyncResponseStream", True),
)


class OpenAIInstrumentor(BaseInstrumentor):
    """Instruments the ``openai`` client with GenAI semconv spans and metrics.

    ``instrument(tracer_provider=..., meter_provider=..., logger_provider=..., capture_content=None)``;
    content capture defaults to ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (off); its event
    modes emit ``gen_ai.client.inference.operation.details`` through ``logger_provider`` (else the global one).
    """

    def __init__(self) -> None:
        self._patched: list[tuple[Any, str]] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        import importlib

        tracer = get_tracer(SCOPE, __version__, kwargs.get("tracer_provider"), schema_url=sc.SCHEMA_URL)
        instruments = build_instruments(SCOPE, kwargs.get("meter_provider"))
        content = kwargs.get("content") or ContentSettings.resolve(kwargs.get("capture_content"))
        events = content_events(SCOPE, kwargs.get("logger_provider"), content)
        self._patched = []
        for module_name, cls, method, kind, is_async in _TARGETS:
            try:
                module = importlib.import_module(module_name)
                owner = getattr(module, cls)
            except (ImportError, AttributeError):
                continue  # older openai without this API
            if not hasattr(owner, method):
                continue
            factory = async_wrapper if is_async else sync_wrapper
            wrap_function_wrapper(owner, method, factory(kind, tracer, instruments, content, events))
            self._patched.append((owner, method))
        for module_name, cls, is_async in _HELPER_STREAMS:
            try:
                owner = getattr(importlib.import_module(module_name), cls)
            except (ImportError, AttributeError):
                continue  # openai without these helpers
            if hasattr(owner, "close"):
                wrap_function_wrapper(owner, "close", async_helper_close_wrapper if is_async else helper_close_wrapper)
                self._patched.append((owner, "close"))
        # every answer's rate-limit headers (x-ratelimit-*, retry-after) onto the call's span and gauges
        self._patched.extend(wrap_sdk_responses("openai._base_client", "openai", instruments))

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, method in self._patched:
            unwrap(owner, method)
        self._patched = []
