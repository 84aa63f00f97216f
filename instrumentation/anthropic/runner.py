"""Per-execution resources on the SDK's own agent span: the ``anthropic.messages.tool_runner`` span that
``anthropic`` 2.x starts around one loop of its tool runner (sync and async, streaming or not).

The SDK starts that span in ``BaseToolRunner._start_tool_runner_span`` and ends it with its module's
``end_tool_runner_span``; we wrap both (the SDK's tracing is private API: a missing name leaves the runner
unpatched, and the runner runs as before). Resources begin when the span is started and are set on it just
before it ends, as ``AgentTracer`` does for our own agent spans. SDKs without native tracing start no agent
span for the runner, and we add none (each call still gets our LLM span).
"""

from __future__ import annotations

import weakref
from typing import Any

from wrapt import wrap_function_wrapper

from agentotel.instrumentation._guard import report
from agentotel.instrumentation._resources import begin as begin_resources
from agentotel.instrumentation._resources import close_agent
from agentotel.instrumentation.instruments import GenAIInstruments

RUNNER_MODULE = "anthropic.lib.tools._beta_runner"


def patch_runner(module: Any, instruments: GenAIInstruments) -> list[tuple[Any, str]]:
    """Wrap the tool runner's span start and end in ``module``; the ``(owner, name)`` pairs wrapped."""
    runner = getattr(module, "BaseToolRunner", None)
    if runner is None or not hasattr(runner, "_start_tool_runner_span") or not hasattr(module, "end_tool_runner_span"):
        return []
    open_runs: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def started(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        span = wrapped(*args, **kwargs)
        try:
            if span is not None and span.is_recording():
                res = begin_resources()
                if res is not None:
                    open_runs[span] = res
        except Exception as err:  # noqa: BLE001 - never into the host
            report("anthropic.runner.start", err)
        return span

    def ending(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        try:
            span = args[0] if args else kwargs.get("span")
            res = open_runs.pop(span, None) if span is not None else None
            if res is not None:
                close_agent(res, span, instruments, None)
        except Exception as err:  # noqa: BLE001
            report("anthropic.runner.end", err)
        return wrapped(*args, **kwargs)

    wrap_function_wrapper(runner, "_start_tool_runner_span", started)
    wrap_function_wrapper(module, "end_tool_runner_span", ending)
    return [(runner, "_start_tool_runner_span"), (module, "end_tool_runner_span")]
