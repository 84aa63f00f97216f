"""Size limits applied to request bodies, after decompression (OTLP 1.11 recommends 64 MiB)."""

from __future__ import annotations

import zlib

from agentotel.otlp_receiver.errors import InvalidArgument, TooLarge

CHUNK = 256 * 1024


def inflate(body: bytes, encoding: str, limit: int) -> bytes:
    """Decompress ``body`` (gzip / deflate / identity) without ever holding more than ``limit`` bytes."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("", "identity", "none"):
        if len(body) > limit:
            raise TooLarge(f"request body of {len(body)} bytes exceeds the {limit}-byte limit")
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif encoding == "deflate":
        wbits = zlib.MAX_WBITS  # zlib wrapper; raw deflate is retried below
    else:
        raise InvalidArgument(f"unsupported Content-Encoding {encoding!r} (gzip, deflate or identity)")
    try:
        return _bounded_decompress(body, wbits, limit)
    except zlib.error as exc:
        if encoding == "deflate":
            try:
                return _bounded_decompress(body, -zlib.MAX_WBITS, limit)
            except zlib.error:
                pass
        raise InvalidArgument(f"body is not valid {encoding} data: {exc}") from None


def _bounded_decompress(body: bytes, wbits: int, limit: int) -> bytes:
    decompressor = zlib.decompressobj(wbits)
    out = bytearray()
    data = body
    while data:
        chunk = decompressor.decompress(data, CHUNK)
        out += chunk
        if len(out) > limit:
            raise TooLarge(f"decompressed request exceeds the {limit}-byte limit")
        data = decompressor.unconsumed_tail
        if not chunk and not data:
            break
    out += decompressor.flush()
    if len(out) > limit:
        raise TooLarge(f"decompressed request exceeds the {limit}-byte limit")
    if not decompressor.eof:
        raise zlib.error("truncated compressed stream")
    return bytes(out)
