"""OTel output of evaluations: a span per case and a ``gen_ai.evaluation.result`` event per score."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Tracer

from agentotel.core import semconv as sc
from agentotel.core.version import __version__
from agentotel.evaluation.base import Score, finite_or_none

EVALUATION_EVENT = sc.EVENT_EVALUATION_RESULT
SCOPE_NAME = "agentotel.evaluation"


def get_tracer(tracer_provider: Any = None) -> Tracer:
    return trace.get_tracer(SCOPE_NAME, __version__, tracer_provider=tracer_provider)


def evaluation_attributes(score: Score) -> dict[str, Any]:
    """The event's attributes (semconv ``gen_ai.evaluation.*``); unset values are left out."""
    attributes: dict[str, Any] = {sc.EVALUATION_NAME: score.name}
    value = finite_or_none(score.value)
    if value is not None:
        attributes[sc.EVALUATION_SCORE_VALUE] = value
    if score.label:
        attributes[sc.EVALUATION_SCORE_LABEL] = score.label
    if score.explanation:
        attributes[sc.EVALUATION_EXPLANATION] = score.explanation[:4096]
    return attributes


def emit_evaluation_result(span: Span, score: Score) -> None:
    """Add ``score`` to ``span`` as a ``gen_ai.evaluation.result`` event."""
    if span.is_recording():
        span.add_event(EVALUATION_EVENT, evaluation_attributes(score))


def emit_evaluation_error(span: Span, name: str, error_type: str) -> None:
    """A ``gen_ai.evaluation.result`` event for an evaluation that failed (``error.type`` set, no score)."""
    if span.is_recording():
        span.add_event(EVALUATION_EVENT, {sc.EVALUATION_NAME: name, sc.ERROR_TYPE: error_type})
