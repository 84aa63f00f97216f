"""LlamaIndex instrumentation: a span handler and an event handler on the root instrumentation dispatcher.

Registered on ``llama_index_instrumentation``'s root dispatcher (what ``llama_index.core.instrumentation``
re-exports; older cores: that module itself). Importing it is light, unlike ``llama_index.core``: the
handlers recognise LlamaIndex's classes and events by name and import nothing else from it.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.trace import get_tracer

from agentotel.core import semconv as sc
from agentotel.core.version import __version__
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation._events import content_events
from agentotel.instrumentation._guard import report
from agentotel.instrumentation.instruments import build_instruments
from agentotel.instrumentation.llama_index.package import _instruments

SCOPE = "agentotel.instrumentation.llama_index"


def root_dispatcher() -> Any:
    try:
        from llama_index_instrumentation import get_dispatcher
    except ImportError:  # llama-index-core before the split-out package
        from llama_index.core.instrumentation import get_dispatcher
    return get_dispatcher()


class LlamaIndexInstrumentor(BaseInstrumentor):
    """Instruments LlamaIndex agents (workflow agents), tool calls, LLM, embedding and retrieval events."""

    span_handler: Any = None
    event_handler: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        # on use: handler.py imports LlamaIndex's handler base classes at load
        from agentotel.instrumentation.llama_index.handler import OTelEventHandler, OTelSpanHandler, State

        tracer = get_tracer(SCOPE, __version__, kwargs.get("tracer_provider"), schema_url=sc.SCHEMA_URL)
        instruments = build_instruments(SCOPE, kwargs.get("meter_provider"))
        content = kwargs.get("content") or ContentSettings.resolve(kwargs.get("capture_content"))
        state = State(tracer, instruments, content, content_events(SCOPE, kwargs.get("logger_provider"), content))
        self.span_handler = OTelSpanHandler.create(state)
        self.event_handler = OTelEventHandler.create(state)
        dispatcher = root_dispatcher()
        dispatcher.add_span_handler(self.span_handler)
        dispatcher.add_event_handler(self.event_handler)

    def _uninstrument(self, **kwargs: Any) -> None:
        span_handler, event_handler = self.span_handler, self.event_handler
        self.span_handler = self.event_handler = None
        try:
            dispatcher = root_dispatcher()
            dispatcher.span_handlers = [h for h in dispatcher.span_handlers if h is not span_handler]
            dispatcher.event_handlers = [h for h in dispatcher.event_handlers if h is not event_handler]
        except Exception as err:  # noqa: BLE001
            report("llama_index.uninstrument", err)
