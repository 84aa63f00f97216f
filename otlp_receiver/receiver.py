"""One export path for both transports: authenticate, validate, spool durably, answer.

Both the gRPC service and the HTTP app run on one asyncio loop (``front_door``): they decode the request
and await ``Receiver.export``; it returns the response message or raises a ``ReceiverError`` that the
transport maps to its status. Admission and validation run on the loop; only the spool append, which
waits for its fsync, runs in the ``appender`` threads.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from dataclasses import dataclass, field

from google.protobuf.message import Message

from agentotel.otlp_receiver.auth import ApiKeyAuth
from agentotel.otlp_receiver.codec import Signal, export_response
from agentotel.otlp_receiver.errors import Unauthenticated, Unavailable
from agentotel.otlp_receiver.spool import Spool, SpoolError, SpoolFull
from agentotel.otlp_receiver.tenancy import CURRENT_PROJECT, stamp_project
from agentotel.otlp_receiver.validate import count_items, validate_traces

logger = logging.getLogger(__name__)


class Counters:
    """Receiver self-observability, counted nowhere by default; ``prometheus_view.ReceiverMetrics`` counts them."""

    def received(self, signal: str, count: int) -> None: ...
    def rejected(self, signal: str, count: int, reason: str) -> None: ...
    def export_error(self, signal: str, reason: str) -> None: ...


@dataclass
class Receiver:
    spool: Spool
    auth: ApiKeyAuth
    max_attributes: int = 1000
    retry_after_seconds: float = 2.0
    counters: Counters = field(default_factory=Counters)
    appender: Executor | None = None  # where spool appends wait for their fsync (None: the loop's default)
    in_flight: int = field(default=0, init=False)  # bytes admitted, not yet appended (touched on the loop only)

    def authenticate(self, signal: Signal, authorization: str | None, x_api_key: str | None) -> None:
        project = self.auth.project_of(authorization, x_api_key)
        if project is None:
            self.counters.export_error(signal.name, "unauthenticated")
            raise Unauthenticated("missing or invalid API key (send `authorization: Bearer KEY` or `x-api-key: KEY`)")
        CURRENT_PROJECT.set(project)  # read by export, in the same task (or thread)

    def admit(self, signal: Signal, size: int) -> None:
        """Refuse early, before decoding, when the spool has no room for ``size`` bytes beside the requests
        admitted and still on their way to it: under overload the refusal must be fast and cheap
        (RELIABILITY L4), not paid for with a parse and validation."""
        if not self.spool.has_room(self.in_flight + size):
            self.counters.export_error(signal.name, "spool_full")
            raise Unavailable("receiver is overloaded: spool is full, retry later", retry_after=self.retry_after_seconds)

    async def export(self, signal: Signal, request: Message, raw: bytes | None, undecodable: int = 0) -> Message:
        """Accept ``request`` (``raw`` is its protobuf encoding when the client sent protobuf;
        ``undecodable`` spans were already dropped from it because they did not parse); answers once it
        is in the spool, durably. Call it on the loop right after ``admit``, with no ``await`` between."""
        payload, response = self.accept(signal, request, raw, undecodable)
        if payload is None:
            return response
        self.in_flight += len(payload)
        try:
            await asyncio.get_running_loop().run_in_executor(self.appender, self.store, signal, payload)
        finally:
            self.in_flight -= len(payload)
        return response

    def accept(self, signal: Signal, request: Message, raw: bytes | None, undecodable: int = 0) -> tuple[bytes | None, Message]:
        """Validate and count ``request``: (the payload to spool, or None when nothing is left; the response)."""
        rejected = 0
        message = ""
        if signal.name == "traces":
            validation = validate_traces(request, self.max_attributes)
            if undecodable:
                validation.rejected += undecodable
                validation.reasons["span(s) that do not parse (e.g. invalid UTF-8 in a string)"] = undecodable
                validation.changed = True
            rejected = validation.rejected
            message = validation.message()
            if validation.changed:
                raw = None
            if rejected:
                logger.warning("rejected %d span(s): %s", rejected, message)
                for reason, count in validation.reasons.items():
                    self.counters.rejected(signal.name, count, reason)
        if stamp_project(request, signal.name, CURRENT_PROJECT.get()):  # the key's project, never the client's
            raw = None
        items = count_items(signal.name, request)
        self.counters.received(signal.name, items + rejected)
        response = export_response(signal, rejected, message)
        if items == 0:
            return None, response
        return (raw if raw is not None else request.SerializeToString()), response

    def store(self, signal: Signal, payload: bytes) -> None:
        """Append ``payload`` to the spool and return once it is fsynced (blocking: off the loop)."""
        try:  # has_room() said yes before decoding; the append decides, atomically
            self.spool.append(signal.code, payload)
        except SpoolFull as exc:
            self.counters.export_error(signal.name, "spool_full")
            raise Unavailable(str(exc), retry_after=self.retry_after_seconds) from None
        except SpoolError as exc:
            self.counters.export_error(signal.name, "spool_error")
            logger.error("spool write failed: %s", exc)
            raise Unavailable(f"receiver cannot persist data right now: {exc}", retry_after=self.retry_after_seconds) from None
