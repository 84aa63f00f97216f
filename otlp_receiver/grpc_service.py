"""OTLP/gRPC on ``grpc.aio``: TraceService, MetricsService and LogsService ``Export`` on raw bytes, so that
decoding errors are ours to classify (INVALID_ARGUMENT) and the accepted bytes go to the spool untouched.
Handlers run on the front door's event loop; only the spool append leaves it (``Receiver.export``)."""

from __future__ import annotations

import logging

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from agentotel.otlp_receiver.codec import SIGNALS, Signal, decode_proto_salvaging
from agentotel.otlp_receiver.errors import ReceiverError
from agentotel.otlp_receiver.receiver import Receiver

logger = logging.getLogger(__name__)

RETRY_INFO_KEY = "google.rpc.retryinfo-bin"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
MAX_CONCURRENT_RPCS = 256  # beyond it grpc answers RESOURCE_EXHAUSTED itself (retryable for the OTel exporters)


async def _abort(context: grpc.aio.ServicerContext, error: ReceiverError) -> None:
    code = error.grpc_code
    message = str(error)
    status = status_pb2.Status(code=code.value[0], message=message)
    metadata: list[tuple[str, bytes]] = []
    if error.retry_after is not None:
        seconds = int(error.retry_after)
        retry = error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=seconds, nanos=int((error.retry_after - seconds) * 1e9))
        )
        status.details.add().Pack(retry)
        metadata.append((RETRY_INFO_KEY, retry.SerializeToString()))  # where the Python SDK looks
    metadata.append((STATUS_DETAILS_KEY, status.SerializeToString()))  # where Go and others look
    await context.abort(code, message, trailing_metadata=tuple(metadata))


def _handler(receiver: Receiver, signal: Signal):
    async def export(request_bytes: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            metadata = dict(context.invocation_metadata() or ())
            receiver.authenticate(signal, metadata.get("authorization"), metadata.get("x-api-key"))
            receiver.admit(signal, len(request_bytes))
            request, dropped, salvaged = decode_proto_salvaging(signal, request_bytes)
            raw = None if salvaged else request_bytes
            response = await receiver.export(signal, request, raw, undecodable=dropped)
            return response.SerializeToString()
        except ReceiverError as error:
            await _abort(context, error)
        except Exception:  # a bug answers INTERNAL and is logged; the server keeps serving
            logger.exception("unexpected error in %s Export", signal.name)
            receiver.counters.export_error(signal.name, "internal")
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        return b""

    return export


def create_grpc_server(
    receiver: Receiver, address: str, max_message_bytes: int, tls: tuple[bytes, bytes] | None = None
) -> tuple[grpc.aio.Server, int]:
    """Bind the three OTLP services on ``address`` ("host:port"); returns (server, bound port). Call it on
    the loop that will run the server, then ``await server.start()``."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", 4 * 1024 * 1024),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
    )
    for signal in SIGNALS.values():
        method = grpc.unary_unary_rpc_method_handler(_handler(receiver, signal))
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(signal.grpc_service, {"Export": method}),))
    try:
        if tls is not None:
            key, cert = tls
            port = server.add_secure_port(address, grpc.ssl_server_credentials([(key, cert)]))
        else:
            port = server.add_insecure_port(address)
    except RuntimeError as exc:  # newer grpcio raises where older ones returned 0
        raise OSError(f"cannot bind gRPC server to {address}: {exc}") from None
    if port == 0:
        raise OSError(f"cannot bind gRPC server to {address}")
    return server, port
