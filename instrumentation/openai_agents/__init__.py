"""OpenAI Agents SDK instrumentation: a tracing processor registered through the SDK's own interface.

The SDK reports its agent runs, tool calls, handoffs and guardrails to every ``TracingProcessor``
(``agents.tracing.add_trace_processor``); ours turns them into GenAI semconv spans (``invoke_agent``,
``execute_tool``, an ``invoke_workflow`` root per SDK trace) and makes each current while it runs, so the
model calls made inside an agent — traced by our OpenAI instrumentor at the client — nest under it. The
SDK's own generation/response spans are not mapped: they describe the same model calls.

The processor is installed when the application imports ``agents`` (at once when it already has): the
SDK takes seconds to import, which an application that does not use it should not pay.
``instrument(exclusive=True)`` replaces the SDK's processors by ours (its default one exports to OpenAI's
trace backend when an OpenAI API key is set); by default ours is added beside them.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.trace import get_tracer

from agentotel.core import semconv as sc
from agentotel.core.version import __version__
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation._guard import report
from agentotel.instrumentation.instruments import build_instruments
from agentotel.instrumentation.openai_agents.package import _instruments

SCOPE = "agentotel.instrumentation.openai_agents"


class OpenAIAgentsInstrumentor(BaseInstrumentor):
    """Instruments the OpenAI Agents SDK (``openai-agents``) through its tracing-processor interface."""

    processor: Any = None
    _previous: list[Any] | None = None
    _generation = 0

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        # importing the SDK takes seconds (it loads ~1400 modules): the processor is installed when the
        # application imports ``agents`` (at once when it already has)
        from wrapt import register_post_import_hook

        self._generation += 1
        generation = self._generation

        def install(module: Any) -> None:
            if generation == self._generation and self.processor is None:
                try:
                    self._install(**kwargs)
                except Exception as err:  # noqa: BLE001 - a broken SDK must not break the host's import
                    report("openai_agents.install", err)

        register_post_import_hook(install, "agents")

    def _install(self, **kwargs: Any) -> None:
        from agents.tracing import add_trace_processor, get_trace_provider, set_trace_processors

        # on use: processor.py imports the Agents SDK (seconds to load); installed only once the host imports it
        from agentotel.instrumentation.openai_agents.processor import OTelTracingProcessor

        tracer = get_tracer(SCOPE, __version__, kwargs.get("tracer_provider"), schema_url=sc.SCHEMA_URL)
        instruments = build_instruments(SCOPE, kwargs.get("meter_provider"))
        content = kwargs.get("content") or ContentSettings.resolve(kwargs.get("capture_content"))
        processor = OTelTracingProcessor(tracer, instruments, content)
        if kwargs.get("exclusive"):
            self._previous = _processors(get_trace_provider())
            set_trace_processors([processor])
        else:
            self._previous = None
            add_trace_processor(processor)
        self.processor = processor

    def _uninstrument(self, **kwargs: Any) -> None:
        self._generation += 1  # a pending import hook installs nothing any more
        processor, self.processor = self.processor, None
        if processor is None:
            return
        from agents.tracing import get_trace_provider, set_trace_processors

        processor.enabled = False  # a no-op from now on, even if it cannot be taken out of the SDK's list
        try:
            if self._previous is not None:
                set_trace_processors(self._previous)
            else:
                current = _processors(get_trace_provider())
                if current is not None:
                    set_trace_processors([p for p in current if p is not processor])
        except Exception as err:  # noqa: BLE001
            report("openai_agents.uninstrument", err)
        self._previous = None


def _processors(provider: Any) -> list[Any] | None:
    """The SDK provider's processors (no public getter: its multi-processor's tuple), ``None`` if unknown."""
    multi = getattr(provider, "_multi_processor", None)
    found = getattr(multi, "_processors", None)
    return list(found) if isinstance(found, tuple | list) else None
