"""Wires the receiver: warehouse migration, spool, drain, the gRPC and HTTP front door, /metrics."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from agentotel.core.settings import DatabaseSettings, ReceiverSettings
from agentotel.otlp_receiver.auth import ApiKeyAuth, KeyStore
from agentotel.otlp_receiver.drain import Drain
from agentotel.otlp_receiver.front_door import FrontDoor
from agentotel.otlp_receiver.ingest import build_request_writer
from agentotel.otlp_receiver.prometheus_view import ReceiverMetrics
from agentotel.otlp_receiver.receiver import Receiver
from agentotel.otlp_receiver.spool import Spool
from agentotel.warehouse.api_keys import active_keys
from agentotel.warehouse.engine import open_warehouse
from agentotel.warehouse.rollup_schedule import RollupSchedule

logger = logging.getLogger(__name__)


@dataclass
class ReceiverServer:
    """A running receiver. ``start()`` returns once every port listens; ``stop()`` drains and closes."""

    db_url: str | DatabaseSettings  # the warehouse: resolved settings, or a URL (default pool and SSL)
    settings: ReceiverSettings = field(default_factory=ReceiverSettings)  # resolved by the caller
    periodic_tasks: list = field(default_factory=list)

    def start(self) -> ReceiverServer:
        s = self.settings
        self.engine: Engine = open_warehouse(self.db_url)
        self.metrics = ReceiverMetrics()
        self.spool = Spool(s.spool_dir, max_bytes=s.spool_max_bytes)
        # the watermark pass once at start, in the background (rows written while we were down); then the
        # minutes our writer reports as changed: back-fills by other processes rebuild their own minutes (``rebuild_minutes``)
        self.rollups = RollupSchedule(self.engine, full_interval=float("inf"))
        writer = build_request_writer(
            self.engine, s, observers=[self.metrics.observe_spans], rollups=self.rollups,
            on_written=self.metrics.observe_write,
        )  # fmt: skip
        self.drain = Drain(
            self.spool, writer, periodic=[(1.0, self._report_spool), (5.0, self._refresh_rollups), *self.periodic_tasks]
        )
        auth = ApiKeyAuth(s.api_keys, KeyStore(lambda: active_keys(self.engine)))  # static keys + projects' keys
        self.receiver = Receiver(self.spool, auth, s.max_attributes, counters=self.metrics)
        self.front_door = FrontDoor(self.receiver, s).start()  # both ports listen (OSError if one cannot bind)
        self.grpc_port, self.http_port = self.front_door.grpc_port, self.front_door.http_port
        try:
            self.metrics_server = self.metrics.serve(s.host, s.metrics_port, auth)
        except BaseException:
            self.front_door.stop()
            raise
        self.drain.start()
        self.rollups.start_catch_up()  # rows written while we were down, in the background, in short windows
        self.stopped = threading.Event()
        logger.info(
            "agentotel receiver: OTLP/gRPC %s:%d, OTLP/HTTP %s:%d, /metrics %s:%d, spool %s, warehouse %s",
            s.host, self.grpc_port, s.host, self.http_port, s.host, s.metrics_port, s.spool_dir,
            self.engine.url.render_as_string(hide_password=True),
        )  # fmt: skip
        return self

    def _refresh_rollups(self) -> None:
        """Keep the per-minute rollups the analytics read current: the minutes this receiver's writes
        changed (``RollupSchedule``); the watermark pass at start runs beside it (``start_catch_up``)."""
        self.rollups.tick(time.monotonic())

    def _report_spool(self) -> None:
        self.metrics.set_spool(self.spool.pending_bytes(), self.spool.lag_seconds())

    def status(self) -> dict:
        return {
            "spool_bytes": self.spool.pending_bytes(),
            "drain_lag_seconds": round(self.spool.lag_seconds(), 3),
            "drain_failures": self.drain.failures,
            "last_error": self.drain.last_error,
        }

    def stop(self, drain_timeout: float = 10.0) -> None:
        """Stop accepting, give the drain up to ``drain_timeout`` s to empty the spool, then close."""
        self.drain.finishing.set()  # no rollup tick in the drain from now on: the final flush below does it
        self.front_door.stop(grace=2)
        deadline = time.monotonic() + drain_timeout
        while self.spool.pending_bytes() > 0 and time.monotonic() < deadline and self.drain.failures == 0:
            time.sleep(0.05)
        self.drain.stop()
        self.rollups.stop_catch_up()
        # Always (even with the drain still busy or failing): what the committed batches changed, so that a
        # restart does not depend on the lateness window; it waits for a refresh the drain is running.
        try:
            self.rollups.flush()
        except Exception:  # noqa: BLE001 - the data is stored; the next start's catch-up rolls it up
            logger.exception("final rollup refresh failed")
        self.spool.close()
        try:
            self.metrics_server.shutdown()
        except Exception:  # noqa: BLE001
            pass
        self.engine.dispose()
        self.stopped.set()
