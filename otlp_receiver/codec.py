"""OTLP codecs: protobuf and OTLP/JSON (hex ids, lowerCamelCase, enums as ints) for the three signals."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from agentotel.otlp_receiver.errors import InvalidArgument
from agentotel.otlp_receiver.salvage import WireError, salvage_traces


@dataclass(frozen=True)
class Signal:
    name: str  # traces | metrics | logs
    code: int  # spool record type
    request_type: type[Message]
    response_type: type[Message]
    grpc_service: str
    rejected_field: str  # partial_success field


TRACES = Signal(
    "traces", 1, trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse,
    "opentelemetry.proto.collector.trace.v1.TraceService", "rejected_spans",
)  # fmt: skip
METRICS = Signal(
    "metrics", 2, metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse,
    "opentelemetry.proto.collector.metrics.v1.MetricsService", "rejected_data_points",
)  # fmt: skip
LOGS = Signal(
    "logs", 3, logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse,
    "opentelemetry.proto.collector.logs.v1.LogsService", "rejected_log_records",
)  # fmt: skip
SIGNALS = {s.name: s for s in (TRACES, METRICS, LOGS)}
SIGNALS_BY_CODE = {s.code: s for s in (TRACES, METRICS, LOGS)}

ID_FIELDS = {"traceId": 16, "spanId": 8, "parentSpanId": 8, "trace_id": 16, "span_id": 8, "parent_span_id": 8}
MAX_ERROR_MESSAGE = 64 * 1024


def decode_proto(signal: Signal, body: bytes) -> Message:
    request = signal.request_type()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise InvalidArgument(f"body is not a valid OTLP {signal.request_type.__name__} (protobuf): {exc}") from None
    return request


def decode_proto_salvaging(signal: Signal, body: bytes) -> tuple[Message, int, bool]:
    """``decode_proto``; for traces that protobuf refuses as a whole (e.g. one string with invalid UTF-8),
    the request without the spans that do not parse. Returns (request, spans dropped, salvaged)."""
    try:
        return decode_proto(signal, body), 0, False
    except InvalidArgument as error:
        if signal is not TRACES or "UTF-8" not in str(error):  # too deep, truncated, …: refuse the request
            raise
        try:
            kept, dropped = salvage_traces(body)
            request = decode_proto(signal, kept)
        except (WireError, InvalidArgument):
            raise error from None
        if not dropped:
            raise error from None
        return request, dropped, True


def decode_json(signal: Signal, body: bytes) -> Message:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise InvalidArgument(f"body is not valid JSON: {exc}") from None
    return decode_json_document(signal, document)


def decode_json_document(signal: Signal, document: Any) -> Message:
    """An OTLP/JSON export request already parsed (from a JSON body, a JSON line or a MessagePack map)."""
    if not isinstance(document, dict):
        raise InvalidArgument("OTLP/JSON body must be a JSON object")
    try:
        _hex_ids_to_base64(document, 0)
        return json_format.ParseDict(document, signal.request_type(), ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise InvalidArgument(f"body is not a valid OTLP/JSON {signal.request_type.__name__}: {exc}") from None


def _hex_ids_to_base64(node: Any, depth: int) -> None:
    """OTLP/JSON carries ids as hex where the protobuf JSON mapping expects base64."""
    if depth > 64:
        raise InvalidArgument("OTLP/JSON nesting is too deep")
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ID_FIELDS and isinstance(value, str):
                node[key] = _hex_to_base64(value)
            elif isinstance(value, (dict, list)):
                _hex_ids_to_base64(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, (dict, list)):
                _hex_ids_to_base64(item, depth + 1)


def _hex_to_base64(value: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b"\x00"  # not hex: keep an id of the wrong length so validation rejects that span only
    return base64.b64encode(raw).decode("ascii")


def encode_response(message: Message, as_json: bool) -> bytes:
    if as_json:
        return json_format.MessageToJson(message, indent=None).encode()
    return message.SerializeToString()


def export_response(signal: Signal, rejected: int = 0, error_message: str = "") -> Message:
    response = signal.response_type()
    if rejected or error_message:
        partial = response.partial_success
        setattr(partial, signal.rejected_field, rejected)
        partial.error_message = error_message[:MAX_ERROR_MESSAGE]
    return response


def status_body(code: int, message: str, as_json: bool) -> bytes:
    """A ``google.rpc.Status`` error body in the request's encoding."""
    status = status_pb2.Status(code=code, message=message[:MAX_ERROR_MESSAGE])
    return encode_response(status, as_json)
