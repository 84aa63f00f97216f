"""OTLP/HTTP on aiohttp: ``POST /v1/traces|metrics|logs`` with protobuf or JSON bodies, gzip/deflate,
answers in the request's encoding; errors as ``google.rpc.Status`` bodies. Handlers run on the front
door's event loop; only the spool append leaves it (``Receiver.export``)."""

from __future__ import annotations

import logging
import ssl

from aiohttp import web

from agentotel.otlp_receiver.codec import (
    SIGNALS,
    decode_json,
    decode_proto_salvaging,
    encode_response,
    status_body,
)
from agentotel.otlp_receiver.errors import (
    MethodNotAllowed,
    NotFound,
    ReceiverError,
    TooLarge,
    UnsupportedMediaType,
)
from agentotel.otlp_receiver.limits import inflate
from agentotel.otlp_receiver.receiver import Receiver

logger = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
PATHS = {f"/v1/{name}": signal for name, signal in SIGNALS.items()}
GRPC_CODE_OF_HTTP = {400: 3, 401: 16, 404: 12, 405: 12, 413: 8, 415: 3, 429: 8, 503: 14, 500: 13}
SHUTDOWN_TIMEOUT_S = 2.0  # in-flight requests get this long to finish when the server stops
DISCARD_LIMIT = 1 << 20  # a refused request's unread body up to this size is read (keep-alive), larger closes


class OTLPHandler:
    """The one route: every method and path comes here, so every answer is an OTLP status body."""

    def __init__(self, receiver: Receiver, max_body: int) -> None:
        self.receiver = receiver
        self.max_body = max_body

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        as_json = False
        try:
            signal = PATHS.get(request.path)
            if signal is None:
                raise NotFound(f"unknown path {request.path!r}: use /v1/traces, /v1/metrics or /v1/logs")
            if request.method != "POST":
                raise MethodNotAllowed(f"{request.method} is not allowed: use POST")
            content_type = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            as_json = content_type == JSON
            self.receiver.authenticate(signal, request.headers.get("Authorization"), request.headers.get("X-Api-Key"))
            if content_type not in (PROTOBUF, JSON):
                raise UnsupportedMediaType(f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}")
            body = inflate(await self._read_body(request), request.headers.get("Content-Encoding", ""), self.max_body)
            self.receiver.admit(signal, len(body))
            if as_json:
                message, dropped, raw = decode_json(signal, body), 0, None
            else:
                message, dropped, salvaged = decode_proto_salvaging(signal, body)
                raw = None if salvaged else body
            response = await self.receiver.export(signal, message, raw, undecodable=dropped)
            return web.Response(body=encode_response(response, as_json), content_type=JSON if as_json else PROTOBUF)
        except ReceiverError as error:
            close = isinstance(error, TooLarge) or _large_unread_body(request)
            return _error(error, as_json, close, allow="POST" if isinstance(error, MethodNotAllowed) else None)
        except Exception:  # a bug answers 500 and is logged; the server keeps serving
            logger.exception("unexpected error in OTLP/HTTP handler")
            return _error(ReceiverError("internal error"), as_json, close=True)

    async def _read_body(self, request: web.Request) -> bytes:
        """The body as sent (chunked or not), refused as soon as it passes ``max_body`` bytes."""
        length = request.content_length
        if length is not None and length > self.max_body:
            raise TooLarge(f"request body of {length} bytes exceeds the {self.max_body}-byte limit")
        out = bytearray()
        while chunk := await request.content.readany():
            out += chunk
            if len(out) > self.max_body:
                raise TooLarge(f"request body exceeds the {self.max_body}-byte limit")
        return bytes(out)


def _large_unread_body(request: web.Request) -> bool:
    """Whether a refusal should close the connection rather than let aiohttp read the rest of the body."""
    if request.content.is_eof():
        return False
    return request.content_length is None or request.content_length > DISCARD_LIMIT


def _error(error: ReceiverError, as_json: bool, close: bool = False, allow: str | None = None) -> web.Response:
    status = error.http_status
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if allow:
        headers["Allow"] = allow
    response = web.Response(
        status=status, body=status_body(GRPC_CODE_OF_HTTP.get(status, 2), str(error), as_json),
        content_type=JSON if as_json else PROTOBUF, headers=headers,
    )  # fmt: skip
    if close:  # the rest of a large body is not worth reading
        response.force_close()
    return response


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """Server-side TLS, 1.2 and newer only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


async def start_http_server(
    receiver: Receiver, host: str, port: int, max_body: int, tls: tuple[str, str] | None = None
) -> tuple[web.AppRunner, int]:
    """Serve OTLP/HTTP on ``host:port`` (on the running loop); returns (runner, bound port). Request bodies
    reach the handler as sent (``auto_decompress=False``): ``limits.inflate`` bounds what they inflate to."""
    app = web.Application(client_max_size=max_body)
    app.router.add_route("*", "/{path:.*}", OTLPHandler(receiver, max_body))
    runner = web.AppRunner(app, access_log=None, auto_decompress=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(
        runner, host, port, ssl_context=tls_context(*tls) if tls else None, backlog=128, reuse_address=True
    )  # fmt: skip
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, runner.addresses[0][1]
