"""The process-wide pause switch of the telemetry (``TelemetryCollector.pause()`` / ``resume()``).

Read on hot paths as ``SWITCH.paused`` (one attribute load). While paused: the ``PausableSampler`` that
``instrument()`` puts in front of the tracer provider's sampler drops every new span (non-recording, no
attributes computed), the OpenAI wrapper passes calls straight through, the framework handlers
(Agents SDK, LlamaIndex) skip their bookkeeping, pending metric measurements are not queued, and the
observable instruments (performance monitor, pools, exporter queue) report nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult


class _Switch:
    __slots__ = ("paused",)

    def __init__(self) -> None:
        self.paused = False


SWITCH = _Switch()
_DROP = SamplingResult(Decision.DROP)


class PausableSampler(Sampler):
    """Delegates to ``delegate`` unless the telemetry is paused (then: DROP)."""

    def __init__(self, delegate: Sampler) -> None:
        self.delegate = delegate

    def should_sample(self, parent_context: Any, trace_id: int, name: str, kind: Any = None,
                      attributes: Any = None, links: Sequence[Any] | None = None,
                      trace_state: Any = None) -> SamplingResult:
        if SWITCH.paused:
            return _DROP
        return self.delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"Pausable{{{self.delegate.get_description()}}}"


def install(tracer_provider: Any) -> None:
    """Put a ``PausableSampler`` in front of an SDK provider's sampler (tracers created from now on use it)."""
    sampler = getattr(tracer_provider, "sampler", None)
    if isinstance(sampler, Sampler) and not isinstance(sampler, PausableSampler):
        tracer_provider.sampler = PausableSampler(sampler)
