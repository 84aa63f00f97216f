"""Normalization of GenAI telemetry dialects (semconv.md sections 2 and 3).

``classify.py`` decides ``span_type``; each dialect module (``otel``, ``openinference``, ``openllmetry``,
``openlit``, ``langfuse``, ``frameworks``) declares a ``DIALECT``: the attribute keys it reads per
``llm_calls`` field, its usage keys and optional hooks for fields and captured content. ``core.py``
merges them in a fixed order (first key present wins). Adding a dialect = one module + one entry in
``core.DIALECTS`` (and ``core.CONTENT_ORDER`` if it carries content).
"""

from agentotel.processors.normalize.classify import classify
from agentotel.processors.normalize.core import (
    LLM_FIELDS,
    Normalize,
    content_of,
    drop_wrapper_rows,
    normalize_span,
    workflow_name_of,
)

__all__ = [
    "LLM_FIELDS",
    "Normalize",
    "classify",
    "content_of",
    "drop_wrapper_rows",
    "normalize_span",
    "workflow_name_of",
]
