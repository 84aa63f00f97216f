"""OTel output of evaluations: a span per case and a ``gen_ai.evaluation.result`` event per score."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Tracer

from agentotel.core.version import __version__
from agentotel.evaluation.base import Score, finite_or_none

EVALUATION_EVENT = "gen_ai.evaluation.result"
SCOPE_NAME = "agentotel.evaluation"


def get_tracer(tracer_provider: Any = None) -> Tracer:
    return trace.get_tracer(SCOPE_NAME, __version__, tracer_provider=tracer_provider)


def evaluation_attributes(score: Score) -> dict[str, Any]:
    """The event's attributes (semconv ``gen_ai.evaluation.*``); unset values are left out."""
    attributes: dict[str, Any] = {"gen_ai.evaluation.name": score.name}
    value = finite_or_none(score.value)
    if value is not None:
        attributes["gen_ai.evaluation.score.value"] = value
    if score.label:
        attributes["gen_ai.evaluation.score.label"] = score.label
    if score.explanation:
        attributes["gen_ai.evaluation.explanation"] = score.explanation[:4096]
    return attributes


def emit_evaluation_result(span: Span, score: Score) -> None:
    """Add ``score`` to ``span`` as a ``gen_ai.evaluation.result`` event."""
    if span.is_recording():
        span.add_event(EVALUATION_EVENT, evaluation_attributes(score))


def emit_evaluation_error(span: Span, name: str, error_type: str) -> None:
    """A ``gen_ai.evaluation.result`` event for an evaluation that failed (``error.type`` set, no score)."""
    if span.is_recording():
        span.add_event(EVALUATION_EVENT, {"gen_ai.evaluation.name": name, "error.type": error_type})
