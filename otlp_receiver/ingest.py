"""The in-process path of one OTLP traces request, without a transport: decode → validate → process.

Used by the fuzz tests and ``agentotel import`` so that they exercise exactly what the receiver and
its drain do (the receiver splits these steps across the spool).
"""

from __future__ import annotations

from agentotel.otlp_receiver.codec import TRACES, decode_json, decode_proto
from agentotel.otlp_receiver.validate import Validation, validate_traces
from agentotel.processors.base import Pipeline
from agentotel.processors.decode import DEFAULT_LIMITS, DecodeLimits, decode_request


def ingest_traces(
    pipeline: Pipeline, body: bytes, as_json: bool = False, limits: DecodeLimits = DEFAULT_LIMITS
) -> Validation:
    """Decode, validate and write one request; raises ``InvalidArgument`` for an undecodable body."""
    request = decode_json(TRACES, body) if as_json else decode_proto(TRACES, body)
    validation = validate_traces(request, limits.max_attributes)
    batch = decode_request(request, limits)
    if batch.spans:
        pipeline.consume(batch)
    return validation
