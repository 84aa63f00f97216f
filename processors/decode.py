"""Decode OTLP protobuf spans into plain ``SpanRecord`` values (pure; exact nanoseconds)."""

from __future__ import annotations

import base64
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

from agentotel.core.projects import DEFAULT_PROJECT, PROJECT_ATTRIBUTE
from agentotel.processors.records import SpanBatch, SpanRecord

KIND_NAMES = {
    PbSpan.SPAN_KIND_UNSPECIFIED: "UNSPECIFIED",
    PbSpan.SPAN_KIND_INTERNAL: "INTERNAL",
    PbSpan.SPAN_KIND_SERVER: "SERVER",
    PbSpan.SPAN_KIND_CLIENT: "CLIENT",
    PbSpan.SPAN_KIND_PRODUCER: "PRODUCER",
    PbSpan.SPAN_KIND_CONSUMER: "CONSUMER",
}
STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}
NUL = "\x00"
TRUNCATED_KEY = "agentotel.truncated_attributes"


class DecodeLimits:
    """Server-side caps applied while decoding (see RELIABILITY.md B4/B5)."""

    __slots__ = ("max_attributes", "max_string_length")

    def __init__(self, max_attributes: int = 1000, max_string_length: int = 1024 * 1024) -> None:
        self.max_attributes = max_attributes
        self.max_string_length = max_string_length


DEFAULT_LIMITS = DecodeLimits()


def clean_text(value: str) -> str:
    """PostgreSQL cannot store NUL in text or JSONB: keep it visible, escaped."""
    return value.replace(NUL, "\\u0000") if NUL in value else value


def any_value(value: Any, limits: DecodeLimits = DEFAULT_LIMITS) -> Any:
    """Convert an OTLP ``AnyValue`` into a JSON-compatible Python value."""
    which = value.WhichOneof("value")
    if which == "string_value":
        text = value.string_value
        return text[: limits.max_string_length] if len(text) > limits.max_string_length else text
    if which == "int_value":
        return value.int_value
    if which == "double_value":
        number = value.double_value
        if number != number or number in (float("inf"), float("-inf")):
            return str(number)  # JSON has no NaN/Infinity
        return number
    if which == "bool_value":
        return value.bool_value
    if which == "array_value":
        return [any_value(item, limits) for item in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: any_value(kv.value, limits) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    return None


def attributes_dict(key_values: Any, limits: DecodeLimits = DEFAULT_LIMITS) -> tuple[dict[str, Any], int]:
    """Attributes as a dict, capped at ``limits.max_attributes``; returns (dict, number dropped).

    The hot loop of ingest: the common scalar types are inlined. Strings are kept as they are (NUL
    included); the writer makes them storable (``warehouse.bulk``).
    """
    out: dict[str, Any] = {}
    truncated: list[str] | None = None
    cap = limits.max_attributes
    max_len = limits.max_string_length
    dropped = 0
    if len(key_values) > cap:
        dropped = len(key_values) - cap
        key_values = key_values[:cap]
    for kv in key_values:
        value = kv.value
        which = value.WhichOneof("value")
        if which == "string_value":
            text = value.string_value
            if len(text) > max_len:
                truncated = (truncated or []) + [kv.key]
                text = text[:max_len]
            out[kv.key] = text
        elif which == "int_value":
            out[kv.key] = value.int_value
        elif which == "bool_value":
            out[kv.key] = value.bool_value
        else:
            out[kv.key] = any_value(value, limits)
    if truncated:
        out[TRUNCATED_KEY] = truncated
    return out, dropped


def decode_span(
    span: PbSpan,
    resource_attributes: dict[str, Any],
    service_name: str | None,
    scope: tuple[str | None, str | None, str | None],
    limits: DecodeLimits = DEFAULT_LIMITS,
) -> SpanRecord:
    attributes, dropped = attributes_dict(span.attributes, limits)
    events = [
        {
            "name": clean_text(event.name),
            "time_unix_nano": event.time_unix_nano,
            "attributes": attributes_dict(event.attributes, limits)[0],
            "dropped_attributes_count": event.dropped_attributes_count,
        }
        for event in span.events
    ]
    links = [
        {
            "trace_id": link.trace_id.hex(),
            "span_id": link.span_id.hex(),
            "trace_state": link.trace_state or None,
            "attributes": attributes_dict(link.attributes, limits)[0],
            "dropped_attributes_count": link.dropped_attributes_count,
        }
        for link in span.links
    ]
    status = span.status
    return SpanRecord(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        name=clean_text(span.name),
        kind=KIND_NAMES.get(span.kind, "UNSPECIFIED"),
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status_code=STATUS_NAMES.get(status.code, "UNSET"),
        status_message=clean_text(status.message) or None,
        attributes=attributes,
        resource_attributes=resource_attributes,
        events=events,
        links=links,
        scope_name=scope[0],
        scope_version=scope[1],
        scope_schema_url=scope[2],
        service_name=service_name,
        trace_state=span.trace_state or None,
        flags=span.flags or None,
        dropped_attributes_count=span.dropped_attributes_count + dropped,
        dropped_events_count=span.dropped_events_count,
        dropped_links_count=span.dropped_links_count,
    )


def decode_request(request: ExportTraceServiceRequest, limits: DecodeLimits = DEFAULT_LIMITS) -> SpanBatch:
    """Every span of an ``ExportTraceServiceRequest`` as ``SpanRecord``s (validated upstream)."""
    batch = SpanBatch()
    append = batch.spans.append
    for resource_spans in request.resource_spans:
        resource_attributes, _ = attributes_dict(resource_spans.resource.attributes, limits)
        service_name = resource_attributes.get("service.name")
        if service_name is not None and not isinstance(service_name, str):
            service_name = str(service_name)
        first = len(batch.spans)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            scope_info = (scope.name or None, scope.version or None, scope_spans.schema_url or None)
            for span in scope_spans.spans:
                append(decode_span(span, resource_attributes, service_name, scope_info, limits))
        project = resource_attributes.get(PROJECT_ATTRIBUTE)  # the receiver's stamp (otlp_receiver.tenancy)
        if isinstance(project, str) and project != DEFAULT_PROJECT:
            for record in batch.spans[first:]:
                record.project_id = project
    return batch
