"""Anthropic client instrumentation: the Messages API (create, stream, parse, beta), sync and async.

``anthropic`` 2.x traces itself (an ``anthropic.messages.create`` span per call once a tracer provider is
set): we then make no span of ours and add what its span lacks. Older SDKs, and clients whose tracing is
off, get our ``chat {model}`` spans. See ``patch.py``; the SDK's tool-runner (agent) span gets the
execution's resources from ``runner.py``.
"""

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
from agentotel.instrumentation._ratelimit import wrap_sdk_responses
from agentotel.instrumentation.anthropic.package import _instruments
from agentotel.instrumentation.anthropic.patch import async_wrapper, sync_wrapper
from agentotel.instrumentation.anthropic.runner import RUNNER_MODULE, patch_runner
from agentotel.instrumentation.instruments import build_instruments

SCOPE = "agentotel.instrumentation.anthropic"


class AnthropicInstrumentor(BaseInstrumentor):
    """Instruments the ``anthropic`` client with GenAI semconv spans (or builds on the SDK's own), metrics,
    content events and rate-limit status.

    ``instrument(tracer_provider=..., meter_provider=..., logger_provider=..., capture_content=None)``.
    """

    def __init__(self) -> None:
        self._patched: list[tuple[Any, str]] = []
        self._lazy: Any = None
        self._lazy_runner: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        tracer = get_tracer(SCOPE, __version__, kwargs.get("tracer_provider"), schema_url=sc.SCHEMA_URL)
        instruments = build_instruments(SCOPE, kwargs.get("meter_provider"))
        content = kwargs.get("content") or ContentSettings.resolve(kwargs.get("capture_content"))
        events = content_events(SCOPE, kwargs.get("logger_provider"), content)
        self._patched = []

        def patch(module: Any) -> None:
            from wrapt import wrap_function_wrapper

            for cls, factory in (("SyncAPIClient", sync_wrapper), ("AsyncAPIClient", async_wrapper)):
                owner = getattr(module, cls, None)
                if owner is None or not hasattr(owner, "request"):
                    continue
                wrap_function_wrapper(owner, "request", factory(tracer, instruments, content, events))
                self._patched.append((owner, "request"))
            self._patched.extend(wrap_sdk_responses(module.__name__, "anthropic", instruments))

        def patch_tool_runner(module: Any) -> None:
            self._patched.extend(patch_runner(module, instruments))

        # patched when the application imports anthropic (at once if it did): no import cost otherwise
        self._lazy = LazyPatch("anthropic._base_client", patch)
        self._lazy_runner = LazyPatch(RUNNER_MODULE, patch_tool_runner)

    def _uninstrument(self, **kwargs: Any) -> None:
        for lazy in (self._lazy, self._lazy_runner):
            if lazy is not None:
                lazy.stop()
        self._lazy = self._lazy_runner = None
        for owner, method in self._patched:
            unwrap(owner, method)
        self._patched = []
