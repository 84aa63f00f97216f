"""Normalization of GenAI telemetry dialects (one module per dialect; semconv.md sections 2 and 3)."""

from agentotel.processors.normalize.classify import classify
from agentotel.processors.normalize.core import (
    LLM_FIELDS,
    Normalize,
    drop_wrapper_rows,
    normalize_span,
)

__all__ = ["LLM_FIELDS", "Normalize", "classify", "drop_wrapper_rows", "normalize_span"]
