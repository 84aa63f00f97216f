"""``TelemetryCollector``: the design document's lifecycle object over what ``instrument()`` sets up.

::

    from agentotel.instrumentation.collector import TelemetryCollector

    with TelemetryCollector(service_name="support-bot", endpoint="http://127.0.0.1:4317") as collector:
        run_agent()
        collector.pause()      # e.g. a warm-up or a load test that should not be recorded
        run_agent()            # no spans, no measurements
        collector.resume()

``start()`` calls ``instrument()`` with the keyword arguments given to the constructor (or adopts a
handle that ``instrument()`` returned: ``TelemetryCollector(handle=h)``); ``stop()`` shuts it down
(flush included, bounded); ``pause()`` / ``resume()`` switch recording off and on without tearing
anything down. ``instrument()`` stays the one-call path; this object only adds the lifecycle.

Paused means, at near-zero cost per call (one attribute load on each hot path):

- spans: the sampler ``instrument()`` installs in front of the provider's returns DROP for every new
  span, so instrumented calls create non-recording spans and compute no attributes; the OpenAI wrapper
  passes calls straight through. On an application's own ``TracerProvider`` this holds for the tracers
  created after ``instrument()`` (ours included); its earlier tracers keep their sampler;
- metrics: no measurement is queued, per-execution resources are not sampled, and the observable
  instruments (performance monitor, connection pools, exporter queue) report nothing, so a collection
  while paused costs only the readers' own pass;
- spans already open keep recording until they end.

The switch is process-wide: one process has one telemetry pipeline (``instrument()`` sets the global
providers), so pausing one collector pauses all recording by agentotel's instrumentation.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from agentotel.instrumentation._switch import SWITCH
from agentotel.instrumentation.setup import instrument


class TelemetryCollector:
    """Start, stop, pause and resume the telemetry of this process; a context manager."""

    def __init__(self, handle: Any = None, **instrument_kwargs: Any) -> None:
        if handle is not None and instrument_kwargs:
            raise ValueError("pass either an instrument() handle or instrument() arguments, not both")
        self._kwargs = instrument_kwargs
        self.handle: Any = handle
        self._stopped = False

    # --- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> TelemetryCollector:
        """Set the telemetry up (``instrument(**kwargs)``) unless running already; recording is on."""
        if self._stopped:
            raise RuntimeError("a stopped TelemetryCollector cannot be started again; create a new one")
        if self.handle is None:
            self.handle = instrument(**self._kwargs)
        SWITCH.paused = False
        return self

    def stop(self, timeout: float | None = None) -> bool:
        """Flush and shut down (bounded by ``timeout`` seconds, else the handle's default budget)."""
        if self._stopped:
            return True
        self._stopped = True
        SWITCH.paused = False
        if self.handle is None:
            return True
        return bool(self.handle.shutdown() if timeout is None else self.handle.shutdown(timeout))

    def pause(self) -> None:
        """Stop recording: new spans are dropped, measurements skipped (see the module docstring)."""
        SWITCH.paused = True

    def resume(self) -> None:
        """Record again."""
        SWITCH.paused = False

    def force_flush(self, timeout: float | None = None) -> bool:
        """Export what is queued now (bounded)."""
        if self.handle is None:
            return True
        return bool(self.handle.force_flush() if timeout is None else self.handle.force_flush(timeout))

    # --- state ------------------------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return SWITCH.paused

    @property
    def running(self) -> bool:
        return self.handle is not None and not self._stopped

    # --- context manager --------------------------------------------------------------------------------------
    def __enter__(self) -> TelemetryCollector:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
