"""The opt-in content event ``gen_ai.client.inference.operation.details``, emitted through the OTel Logs API.

With content capture in ``EVENT_ONLY`` or ``SPAN_AND_EVENT`` mode, every model call ends with one log
record carrying the call's GenAI attributes (operation, provider, models, request parameters, usage,
finish reasons, ``error.type``) and its content (``gen_ai.system_instructions``,
``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.tool.definitions``; JSON strings, as on
spans). It is emitted in the span's context, so its trace_id/span_id name the call's span.
"""

from __future__ import annotations

from time import time_ns
from typing import Any

from opentelemetry import trace

from agentotel.core import semconv as sc
from agentotel.core.version import __version__
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation._guard import report


class ContentEvents:
    """Emits the inference details event on one OTel ``Logger``."""

    __slots__ = ("_logger",)

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def emit(self, span: Any, attributes: dict[str, Any]) -> None:
        """Emit the event for ``span``'s call (never raises)."""
        try:
            self._logger.emit(timestamp=time_ns(), context=trace.set_span_in_context(span),
                              event_name=sc.EVENT_INFERENCE_DETAILS, attributes=attributes)
        except Exception as err:  # noqa: BLE001 - telemetry faults never reach the host
            report("events.emit", err)


def content_events(scope: str, logger_provider: Any, content: ContentSettings) -> ContentEvents | None:
    """The event emitter of an instrumentor, or ``None`` when the content mode emits no events."""
    if not content.on_event:
        return None
    from opentelemetry._logs import get_logger

    return ContentEvents(get_logger(scope, __version__, logger_provider, schema_url=sc.SCHEMA_URL))
