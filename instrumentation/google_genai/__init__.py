"""Google GenAI client instrumentation (``google-genai``: Gemini API and Vertex AI): generate_content,
generate_content_stream and embed_content, sync and async (``client.aio``), and the Python functions run by
automatic function calling. The SDK has no tracing of its own, so every model request gets our span."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from opentelemetry.trace import get_tracer

from agentotel.core import semconv as sc
from agentotel.core.version import __version__
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation._events import content_events
from agentotel.instrumentation._lazy import LazyPatch
from agentotel.instrumentation.google_genai import patch
from agentotel.instrumentation.google_genai.package import _instruments
from agentotel.instrumentation.instruments import build_instruments
from agentotel.instrumentation.tracer import AgentTracer

SCOPE = "agentotel.instrumentation.google_genai"


class GoogleGenAIInstrumentor(BaseInstrumentor):
    """Instruments ``google.genai`` with GenAI semconv spans, metrics, content events and rate-limit status.

    ``instrument(tracer_provider=..., meter_provider=..., logger_provider=..., capture_content=None)``.
    """

    def __init__(self) -> None:
        self._patched: list[tuple[Any, str]] = []
        self._lazy: list[Any] = []

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        tracer = get_tracer(SCOPE, __version__, kwargs.get("tracer_provider"), schema_url=sc.SCHEMA_URL)
        instruments = build_instruments(SCOPE, kwargs.get("meter_provider"))
        content = kwargs.get("content") or ContentSettings.resolve(kwargs.get("capture_content"))
        events = content_events(SCOPE, kwargs.get("logger_provider"), content)
        agents = AgentTracer(kwargs.get("tracer_provider"), kwargs.get("meter_provider"), content.capture)
        self._patched = []

        def patch_models(models: Any) -> None:
            from wrapt import wrap_function_wrapper

            targets = (
                ("Models", "_generate_content", patch.sync_wrapper, patch.GENERATE),
                ("Models", "_generate_content_stream", patch.sync_stream_wrapper, patch.GENERATE),
                ("Models", "embed_content", patch.sync_wrapper, patch.EMBED),
                ("AsyncModels", "_generate_content", patch.async_wrapper, patch.GENERATE),
                ("AsyncModels", "_generate_content_stream", patch.async_stream_wrapper, patch.GENERATE),
                ("AsyncModels", "embed_content", patch.async_wrapper, patch.EMBED),
            )
            for cls, method, factory, operation in targets:
                owner = getattr(models, cls, None)
                if owner is None or not hasattr(owner, method):
                    continue  # another SDK version
                wrap_function_wrapper(owner, method, factory(operation, tracer, instruments, content, events))
                self._patched.append((owner, method))
            # the public generate_content runs the automatic-function-calling loop: one agent span around it
            for cls, loop_factory in (("Models", patch.afc_wrapper), ("AsyncModels", patch.async_afc_wrapper)):
                owner = getattr(models, cls, None)
                if owner is not None and hasattr(owner, "generate_content"):
                    wrap_function_wrapper(owner, "generate_content", loop_factory(agents))
                    self._patched.append((owner, "generate_content"))

        def patch_tools(extra: Any) -> None:
            from wrapt import wrap_function_wrapper

            for name, factory in (("invoke_function_from_dict_args", patch.tool_wrapper),
                                  ("invoke_function_from_dict_args_async", patch.async_tool_wrapper)):
                if hasattr(extra, name):
                    wrap_function_wrapper(extra, name, factory(tracer, instruments, content))
                    self._patched.append((extra, name))

        # patched when the application imports google.genai (at once if it did): no import cost otherwise
        self._lazy = [LazyPatch("google.genai.models", patch_models),
                      LazyPatch("google.genai._extra_utils", patch_tools)]

    def _uninstrument(self, **kwargs: Any) -> None:
        for lazy in self._lazy:
            lazy.stop()
        self._lazy = []
        for owner, method in self._patched:
            unwrap(owner, method)
        self._patched = []
