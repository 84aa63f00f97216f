"""LangChain / LangGraph instrumentation: a callback handler added to every callback manager."""

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
from agentotel.instrumentation._guard import report
from agentotel.instrumentation.instruments import build_instruments
from agentotel.instrumentation.langchain.package import _instruments

SCOPE = "agentotel.instrumentation.langchain"


class _AddHandler:
    """Wraps ``BaseCallbackManager.__init__``: every manager inherits our handler once."""

    def __init__(self, handler: Any) -> None:
        self._handler = handler

    def __call__(self, wrapped, instance, args, kwargs):
        wrapped(*args, **kwargs)
        try:
            for handler in instance.inheritable_handlers:
                if handler is self._handler:
                    break
            else:
                instance.add_handler(self._handler, True)
        except Exception as err:  # noqa: BLE001
            report("langchain.add_handler", err)


class LangChainInstrumentor(BaseInstrumentor):
    """Instruments LangChain and LangGraph runs (agents, tools, chat models, chains, retrievers)."""

    handler: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        # on use: callback.py imports langchain_core, which the host may have but not be using
        from agentotel.instrumentation.langchain.callback import OTelCallbackHandler

        tracer = get_tracer(SCOPE, __version__, kwargs.get("tracer_provider"), schema_url=sc.SCHEMA_URL)
        instruments = build_instruments(SCOPE, kwargs.get("meter_provider"))
        content = kwargs.get("content") or ContentSettings.resolve(kwargs.get("capture_content"))
        self.handler = OTelCallbackHandler(tracer, instruments, content,
                                           content_events(SCOPE, kwargs.get("logger_provider"), content))
        wrap_function_wrapper("langchain_core.callbacks.base", "BaseCallbackManager.__init__",
                              _AddHandler(self.handler))

    def _uninstrument(self, **kwargs: Any) -> None:
        import langchain_core.callbacks.base as base

        unwrap(base.BaseCallbackManager, "__init__")
        self.handler = None
