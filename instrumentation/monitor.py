"""Performance monitor: psutil system and process metrics, and the host's connection pools, as OTel
observable instruments.

Names follow the OTel system/process, db-client and http-client metric semantic conventions. Values are
read on collection only (no thread of our own); after ``stop()``, or while the telemetry is paused, the
callbacks report nothing. Without psutil only the pool instruments are registered.

- ``db.client.connection.count`` {used, idle} and ``db.client.connection.max`` per
  ``db.client.connection.pool.name`` (the engine URL, password hidden): SQLAlchemy engines of this
  process (see ``_pools``);
- ``http.client.open_connections`` {active, idle}: every live httpx transport of this process;
- the span exporters' queues are reported by the OTel SDK itself, which ``instrument()`` enables for
  its batch processors: ``otel.sdk.processor.span.queue.size`` / ``.queue.capacity`` and
  ``otel.sdk.processor.span.processed`` (``error.type=queue_full`` = dropped spans), per
  ``otel.component.name``; dropped metric measurements are ``agentotel.instrumentation.dropped_measurements``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation, get_meter

from agentotel.core.version import __version__
from agentotel.instrumentation._guard import report
from agentotel.instrumentation._pools import PoolTracker
from agentotel.instrumentation._switch import SWITCH

logger = logging.getLogger("agentotel.instrumentation")

SCOPE = "agentotel.instrumentation.monitor"


class PerformanceMonitor:
    """Registers CPU, memory, disk I/O, network and process-count instruments on a meter."""

    def __init__(self, meter_provider: Any = None) -> None:
        self._meter_provider = meter_provider
        self._process: Any = None
        self._psutil: Any = None
        self._running = False
        self._pid = 0
        self._pools: Any = None

    def start(self) -> PerformanceMonitor:
        meter = get_meter(SCOPE, __version__, self._meter_provider)
        gauge = meter.create_observable_gauge
        counter = meter.create_observable_counter
        updown = meter.create_observable_up_down_counter
        try:
            import psutil
        except ImportError:
            logger.info("psutil is not installed: system and process metrics disabled")
        else:
            self._psutil = psutil
            self._process = psutil.Process()
            self._pid = os.getpid()
            self._process.cpu_percent(None)  # prime the utilisation counters
            psutil.cpu_percent(None)
            gauge("system.cpu.utilization", [self._guard(self._system_cpu)], unit="1")
            updown("system.memory.usage", [self._guard(self._system_memory)], unit="By")
            gauge("system.memory.utilization", [self._guard(self._system_memory_util)], unit="1")
            counter("system.disk.io", [self._guard(self._disk_io)], unit="By")
            counter("system.network.io", [self._guard(self._network_io)], unit="By")
            updown("system.process.count", [self._guard(self._process_count)], unit="{process}")
            counter("process.cpu.time", [self._guard(self._process_cpu_time)], unit="s")
            gauge("process.cpu.utilization", [self._guard(self._process_cpu)], unit="1")
            updown("process.memory.usage", [self._guard(self._process_rss)], unit="By")
            updown("process.memory.virtual", [self._guard(self._process_vms)], unit="By")
            updown("process.thread.count", [self._guard(self._process_threads)], unit="{thread}")
        # connection pools of the host (semconv db-client / http-client names)
        self._pools = PoolTracker().start()
        updown("db.client.connection.count", [self._guard(self._db_connections)], unit="{connection}",
               description="SQLAlchemy pool connections of this process by state (used, idle)")
        updown("db.client.connection.max", [self._guard(self._db_connections_max)], unit="{connection}",
               description="SQLAlchemy pool size plus its overflow allowance")
        updown("http.client.open_connections", [self._guard(self._http_connections)], unit="{connection}",
               description="httpx pool connections of this process by state (active, idle)")
        self._running = True
        return self

    def stop(self) -> None:
        self._running = False
        if self._pools is not None:
            self._pools.stop()
            self._pools = None

    def _guard(self, fn):
        name = fn.__name__

        def callback(options: CallbackOptions) -> Iterable[Observation]:
            if not self._running or SWITCH.paused:
                return []
            try:
                if self._psutil is not None and os.getpid() != self._pid:  # forked child: measure ourselves
                    self._process = self._psutil.Process()
                    self._pid = os.getpid()
                return list(fn())
            except Exception as err:  # noqa: BLE001
                report(f"monitor.{name}", err)
                return []

        return callback

    def _system_cpu(self):
        yield Observation(self._psutil.cpu_percent(None) / 100.0)

    def _system_memory(self):
        mem = self._psutil.virtual_memory()
        yield Observation(mem.used, {"system.memory.state": "used"})
        yield Observation(mem.available, {"system.memory.state": "free"})

    def _system_memory_util(self):
        yield Observation(self._psutil.virtual_memory().percent / 100.0, {"system.memory.state": "used"})

    def _disk_io(self):
        io = self._psutil.disk_io_counters()
        if io is not None:
            yield Observation(io.read_bytes, {"disk.io.direction": "read"})
            yield Observation(io.write_bytes, {"disk.io.direction": "write"})

    def _network_io(self):
        io = self._psutil.net_io_counters()
        if io is not None:
            yield Observation(io.bytes_recv, {"network.io.direction": "receive"})
            yield Observation(io.bytes_sent, {"network.io.direction": "transmit"})

    def _process_count(self):
        yield Observation(len(self._psutil.pids()))

    def _process_cpu_time(self):
        times = self._process.cpu_times()
        yield Observation(times.user, {"cpu.mode": "user"})
        yield Observation(times.system, {"cpu.mode": "system"})

    def _process_cpu(self):
        yield Observation(self._process.cpu_percent(None) / 100.0 / (self._psutil.cpu_count() or 1))

    def _process_rss(self):
        yield Observation(self._process.memory_info().rss)

    def _process_vms(self):
        yield Observation(self._process.memory_info().vms)

    def _process_threads(self):
        yield Observation(self._process.num_threads())

    def _db_connections(self):
        for name, used, idle, _ in self._pools.sqlalchemy():
            yield Observation(used, {"db.client.connection.pool.name": name, "db.client.connection.state": "used"})
            yield Observation(idle, {"db.client.connection.pool.name": name, "db.client.connection.state": "idle"})

    def _db_connections_max(self):
        for name, _, _, limit in self._pools.sqlalchemy():
            if limit is not None:
                yield Observation(limit, {"db.client.connection.pool.name": name})

    def _http_connections(self):
        active, idle, transports = self._pools.httpx()
        if transports:
            yield Observation(active, {"http.connection.state": "active"})
            yield Observation(idle, {"http.connection.state": "idle"})
