"""OTLP/HTTP on one port: ``POST /v1/traces|metrics|logs`` with protobuf or JSON bodies, gzip/deflate,
answers in the request's encoding; errors as ``google.rpc.Status`` bodies."""

from __future__ import annotations

import logging
import ssl
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agentotel.otlp_receiver.codec import (
    SIGNALS,
    decode_json,
    decode_proto_salvaging,
    encode_response,
    status_body,
)
from agentotel.otlp_receiver.errors import (
    InvalidArgument,
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


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "agentotel"
    sys_version = ""
    receiver: Receiver
    max_body: int

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        as_json = False
        close = False
        try:
            signal = PATHS.get(self.path.split("?", 1)[0])
            if signal is None:
                close = self._discard_body()
                raise NotFound(f"unknown path {self.path!r}: use /v1/traces, /v1/metrics or /v1/logs")
            content_type = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            as_json = content_type == JSON
            self.receiver.authenticate(signal, self.headers.get("Authorization"), self.headers.get("X-Api-Key"))
            if content_type not in (PROTOBUF, JSON):
                close = self._discard_body()
                raise UnsupportedMediaType(f"unsupported Content-Type {content_type!r}: use {PROTOBUF} or {JSON}")
            body = self._read_body()
            body = inflate(body, self.headers.get("Content-Encoding", ""), self.max_body)
            self.receiver.admit(signal, len(body))
            if as_json:
                request, dropped, raw = decode_json(signal, body), 0, None
            else:
                request, dropped, salvaged = decode_proto_salvaging(signal, body)
                raw = None if salvaged else body
            response = self.receiver.export(signal, request, raw, undecodable=dropped)
            self._reply(200, encode_response(response, as_json), JSON if as_json else PROTOBUF)
        except ReceiverError as error:
            if isinstance(error, TooLarge):
                close = True
            self._error(error, as_json, close)
        except Exception:
            logger.exception("unexpected error in OTLP/HTTP handler")
            self._error(ReceiverError("internal error"), as_json, True)

    def _read_body(self) -> bytes:
        length_header = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        if length_header is None:
            raise InvalidArgument("Content-Length is required")
        try:
            length = int(length_header)
        except ValueError:
            raise InvalidArgument("invalid Content-Length") from None
        if length < 0:
            raise InvalidArgument("invalid Content-Length")
        if length > self.max_body:
            raise TooLarge(f"request body of {length} bytes exceeds the {self.max_body}-byte limit")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise InvalidArgument("malformed chunked body") from None
            if size == 0:
                self.rfile.readline(1024)
                return bytes(out)
            if len(out) + size > self.max_body:
                raise TooLarge(f"request body exceeds the {self.max_body}-byte limit")
            out += self.rfile.read(size)
            self.rfile.readline(1024)

    def _discard_body(self) -> bool:
        """Read a small body so the connection stays usable; ask to close it otherwise."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return True
        if 0 < length <= 1 << 20:
            self.rfile.read(length)
            return False
        return length > 0

    def _method_not_allowed(self) -> None:
        close = self._discard_body()
        if self.path.split("?", 1)[0] in PATHS:
            self._error(MethodNotAllowed(f"{self.command} is not allowed: use POST"), False, close, allow="POST")
        else:
            self._error(NotFound(f"unknown path {self.path!r}"), False, close)

    do_GET = do_PUT = do_DELETE = do_PATCH = do_HEAD = _method_not_allowed  # noqa: N815

    def _error(self, error: ReceiverError, as_json: bool, close: bool, allow: str | None = None) -> None:
        status = error.http_status
        body = status_body(GRPC_CODE_OF_HTTP.get(status, 2), str(error), as_json)
        headers = {}
        if error.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(error.retry_after)))
        if allow:
            headers["Allow"] = allow
        self._reply(status, body, JSON if as_json else PROTOBUF, headers, close)

    def _reply(self, status: int, body: bytes, content_type: str, headers: dict | None = None, close: bool = False) -> None:
        self.send_response(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class OTLPHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address) -> None:
        """Failed handshakes and dropped connections are the client's business: log quietly."""
        error = sys.exc_info()[1]
        if isinstance(error, (ssl.SSLError, ConnectionError, TimeoutError)):
            logger.debug("connection from %s failed: %s", client_address, error)
        else:
            logger.exception("error serving %s", client_address)


def create_http_server(
    receiver: Receiver, host: str, port: int, max_body: int, tls: tuple[str, str] | None = None
) -> OTLPHTTPServer:
    handler = type("OTLPHandler", (_Handler,), {"receiver": receiver, "max_body": max_body})
    server = OTLPHTTPServer((host, port), handler)
    if tls is not None:
        cert_file, key_file = tls
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_file, key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    return server


def serve_in_thread(server: OTLPHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="otlp-http", daemon=True)
    thread.start()
    return thread
