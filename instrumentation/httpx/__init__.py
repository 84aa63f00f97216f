"""httpx instrumentation: HTTP client spans (opentelemetry-instrumentation-httpx) whose calls to
OpenAI-compatible endpoints become GenAI LLM spans, for code that calls the API without the SDK."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation._events import content_events
from agentotel.instrumentation.httpx.hooks import GenAIHooks
from agentotel.instrumentation.httpx.package import _instruments
from agentotel.instrumentation.instruments import build_instruments

SCOPE = "agentotel.instrumentation.httpx"


class HTTPXGenAIInstrumentor(BaseInstrumentor):
    """Enables the contrib httpx (and httpx2) instrumentors with GenAI hooks."""

    def __init__(self) -> None:
        self._inner: list[Any] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        from opentelemetry.instrumentation import httpx as contrib

        content = kwargs.get("content") or ContentSettings.resolve(kwargs.get("capture_content"))
        hooks = GenAIHooks(build_instruments(SCOPE, kwargs.get("meter_provider")), content,
                           content_events(SCOPE, kwargs.get("logger_provider"), content))
        options = {
            "tracer_provider": kwargs.get("tracer_provider"),
            "meter_provider": kwargs.get("meter_provider"),
            "request_hook": hooks.request_hook,
            "response_hook": hooks.response_hook,
            "async_request_hook": hooks.async_request_hook,
            "async_response_hook": hooks.async_response_hook,
        }
        self._inner = []
        for name in ("HTTPXClientInstrumentor", "HTTPX2ClientInstrumentor"):
            cls = getattr(contrib, name, None)
            if cls is None:
                continue
            inner = cls()
            if inner.is_instrumented_by_opentelemetry:
                continue  # the application instrumented it already (with its own hooks)
            try:
                inner.instrument(**options)
            except ModuleNotFoundError:
                continue
            if inner.is_instrumented_by_opentelemetry:
                self._inner.append(inner)

    def _uninstrument(self, **kwargs: Any) -> None:
        for inner in self._inner:
            inner.uninstrument()
        self._inner = []
