"""Keep the good spans of a request that protobuf refuses as a whole (RELIABILITY.md B6).

python-protobuf rejects an entire ``ExportTraceServiceRequest`` when one string holds invalid UTF-8.
This walks the request at the wire level, parses each span on its own, drops the ones that do not
parse (a resource or scope that does not parse drops its spans), and re-assembles the rest. The
dropped spans are reported through ``partial_success``.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

LEN = 2


class WireError(Exception):
    """The bytes are not protobuf at all: nothing can be salvaged."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise WireError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    """(field number, wire type, payload of a LEN field or None, raw bytes of the whole field)."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        payload = None
        if wire == 0:
            _, pos = _varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == LEN:
            length, pos = _varint(buf, pos)
            payload = buf[pos : pos + length]
            pos += length
        elif wire == 5:
            pos += 4
        else:
            raise WireError(f"unsupported wire type {wire}")
        if pos > len(buf):
            raise WireError("truncated field")
        yield field, wire, payload, buf[start:pos]


def _len_field(field: int, payload: bytes) -> bytes:
    out = bytearray()
    value = (field << 3) | LEN
    length = len(payload)
    for number in (value, length):
        while True:
            byte, number = number & 0x7F, number >> 7
            out.append(byte | (0x80 if number else 0))
            if not number:
                break
    return bytes(out) + payload


def _parses(message_type: type[Message], payload: bytes) -> bool:
    try:
        message_type.FromString(payload)
        return True
    except (DecodeError, RecursionError):
        return False


def _count_spans(scope_spans: list[bytes]) -> int:
    return sum(1 for ss in scope_spans for f, w, _, _ in _fields(ss) if f == 2 and w == LEN)


def _scope_spans(buf: bytes) -> tuple[bytes, int]:
    out, rejected = bytearray(), 0
    fields = list(_fields(buf))
    for field, wire, payload, _raw in fields:
        if field == 1 and wire == LEN and not _parses(InstrumentationScope, payload):
            return b"", _count_spans([buf])
    for field, wire, payload, raw in fields:
        if field == 2 and wire == LEN and not _parses(Span, payload):
            rejected += 1
            continue
        out += raw
    return bytes(out), rejected


def _resource_spans(buf: bytes) -> tuple[bytes, int]:
    fields = list(_fields(buf))
    scopes = [payload for field, wire, payload, _ in fields if field == 2 and wire == LEN]
    for field, wire, payload, _ in fields:
        if field == 1 and wire == LEN and not _parses(Resource, payload):
            return b"", _count_spans(scopes)
    out, rejected = bytearray(), 0
    for field, wire, payload, raw in fields:
        if field == 2 and wire == LEN:
            kept, dropped = _scope_spans(payload)
            rejected += dropped
            out += _len_field(2, kept)
        else:
            out += raw
    return bytes(out), rejected


def salvage_traces(body: bytes) -> tuple[bytes, int]:
    """The request without the spans that do not parse, and how many were dropped (raises WireError)."""
    out, rejected = bytearray(), 0
    for field, wire, payload, raw in _fields(body):
        if field == 1 and wire == LEN:
            kept, dropped = _resource_spans(payload)
            rejected += dropped
            if kept or not dropped:
                out += _len_field(1, kept)
        else:
            out += raw
    return bytes(out), rejected
