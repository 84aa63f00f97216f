"""Receiver errors, classified once and mapped to gRPC codes and HTTP statuses at the edge."""

from __future__ import annotations

import grpc


class ReceiverError(Exception):
    grpc_code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    http_status: int = 500
    retry_after: float | None = None


class InvalidArgument(ReceiverError):
    """Permanent: the request can never be accepted (undecodable, malformed)."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT
    http_status = 400


class TooLarge(ReceiverError):
    """Permanent: over the size limit (after decompression)."""

    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    http_status = 413


class Unauthenticated(ReceiverError):
    grpc_code = grpc.StatusCode.UNAUTHENTICATED
    http_status = 401


class Unavailable(ReceiverError):
    """Retryable: back-pressure (spool full) or a local I/O failure; the client should retry later."""

    grpc_code = grpc.StatusCode.UNAVAILABLE
    http_status = 503

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnsupportedMediaType(ReceiverError):
    http_status = 415


class MethodNotAllowed(ReceiverError):
    http_status = 405


class NotFound(ReceiverError):
    grpc_code = grpc.StatusCode.UNIMPLEMENTED
    http_status = 404
