"""The asyncio front door: OTLP/gRPC (``grpc.aio``) and OTLP/HTTP (aiohttp) served by one event loop in
one thread. Admission (auth, size limits, spool room) runs on the loop, so a refusal is answered at once
however busy the spool is; only spool appends, which wait for their fsync, run in a small thread pool."""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from agentotel.core.settings import ReceiverSettings
from agentotel.otlp_receiver.grpc_service import create_grpc_server
from agentotel.otlp_receiver.http_app import start_http_server
from agentotel.otlp_receiver.receiver import Receiver

logger = logging.getLogger(__name__)

APPEND_THREADS = 32  # appends waiting together share one fsync (the spool's group commit)
START_TIMEOUT_S = 30.0


class FrontDoor:
    """``start()`` returns once both ports listen (``OSError`` if one cannot bind); ``stop()`` stops
    accepting, lets in-flight requests finish within ``grace`` seconds, and ends the loop."""

    def __init__(self, receiver: Receiver, settings: ReceiverSettings) -> None:
        self.receiver = receiver
        self.settings = settings
        self.appender = ThreadPoolExecutor(APPEND_THREADS, thread_name_prefix="spool-append")
        receiver.appender = self.appender
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(_quiet_connection_errors)
        self._thread = threading.Thread(target=self.loop.run_forever, name="otlp-front-door", daemon=True)
        self.grpc_port = self.http_port = 0

    def start(self) -> FrontDoor:
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), self.loop).result(START_TIMEOUT_S)
        except BaseException:
            self._end_loop()
            raise
        return self

    async def _open(self) -> None:
        s = self.settings
        tls_pair = None
        if s.tls_cert and s.tls_key:
            with open(s.tls_key, "rb") as key, open(s.tls_cert, "rb") as cert:
                tls_pair = (key.read(), cert.read())
        self.grpc, self.grpc_port = create_grpc_server(
            self.receiver, f"{_bracket(s.host)}:{s.grpc_port}", s.max_request_bytes, tls=tls_pair
        )
        await self.grpc.start()
        try:
            self.http, self.http_port = await start_http_server(
                self.receiver, s.host, s.http_port, s.max_request_bytes,
                tls=(s.tls_cert, s.tls_key) if s.tls_cert and s.tls_key else None,
            )  # fmt: skip
        except BaseException:
            await self.grpc.stop(None)
            raise

    def stop(self, grace: float = 2.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(grace), self.loop).result(grace + 10)
        except Exception:  # noqa: BLE001 - stopping goes on: the loop ends below either way
            logger.exception("front door did not stop cleanly")
        self._end_loop()

    async def _close(self, grace: float) -> None:
        await asyncio.gather(self.grpc.stop(grace), self.http.cleanup())

    def _end_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()
        self.appender.shutdown(wait=True)  # an append in flight finishes: its record is durable either way


def _quiet_connection_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Failed TLS handshakes and dropped connections are the client's business: log them quietly."""
    if isinstance(context.get("exception"), (ssl.SSLError, ConnectionError, TimeoutError)):
        logger.debug("connection failed: %s", context.get("exception"))
    else:
        loop.default_exception_handler(context)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
