"""Per-execution resources of an agent span: process RSS at start, end and peak, and thread CPU time.

Method (cheap by design; an agent span pays about 10 µs at each end on Linux):

- **RSS** is read from ``/proc/self/statm`` (one ``read`` of a few bytes), else through psutil when it is
  installed (macOS, Windows), else not at all (the attributes are then left out).
- **Peak**: the kernel keeps the process' RSS high-water mark (``getrusage().ru_maxrss``). When it rose
  between the start and the end of the execution, that new high-water mark was reached during the
  execution and is the exact peak. Otherwise the peak is the highest of the start and end readings and of
  the periodic samples a daemon thread takes every ``SAMPLE_INTERVAL`` seconds while at least one
  execution is open (the thread exits after ``IDLE_EXIT`` seconds without one), so a spike shorter than
  the interval that stays below an older high-water mark is missed.
- **CPU time** is ``time.thread_time()`` of the thread that started the execution, recorded only when the
  span ends on that same thread. For an async agent that thread is the event loop's: the figure then
  includes whatever other tasks ran on the loop meanwhile.

Memory figures are process-wide: executions running side by side in one process share them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from agentotel.core import semconv as sc
from agentotel.instrumentation._guard import report
from agentotel.instrumentation._switch import SWITCH

SAMPLE_INTERVAL = 0.05
IDLE_EXIT = 1.0  # the sampler thread exits after this long without an open execution

try:
    import resource as _resource
except ImportError:  # Windows
    _resource = None  # type: ignore[assignment]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
# ru_maxrss is in KiB on Linux, bytes on macOS
_MAXRSS_UNIT = 1 if sys.platform == "darwin" else 1024
_STATM = "/proc/self/statm"
_HAS_PROC = os.path.exists(_STATM)
_psutil_process: Any = None


def rss() -> int | None:
    """The process' resident set size in bytes now (``None`` when it cannot be read)."""
    if _HAS_PROC:
        try:
            fd = os.open(_STATM, os.O_RDONLY)
            try:
                data = os.read(fd, 128)
            finally:
                os.close(fd)
            return int(data.split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            return None
    global _psutil_process
    try:
        if _psutil_process is None or _psutil_process.pid != os.getpid():
            import psutil

            _psutil_process = psutil.Process()
        return int(_psutil_process.memory_info().rss)
    except Exception:  # noqa: BLE001 - psutil missing or failing: no figure
        return None


def high_water_mark() -> int | None:
    """The process' peak RSS so far in bytes (``getrusage``), ``None`` where unavailable."""
    if _resource is None:
        return None
    try:
        return int(_resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss) * _MAXRSS_UNIT
    except (OSError, ValueError):
        return None


class ExecutionResources:
    """The readings of one execution in flight (``begin()`` … ``end()``)."""

    __slots__ = ("rss_start", "peak", "hwm_start", "cpu_start", "thread", "ended")

    def __init__(self) -> None:
        self.rss_start = rss()
        self.peak = self.rss_start or 0
        self.hwm_start = high_water_mark()
        self.cpu_start = time.thread_time()
        self.thread = threading.get_ident()
        self.ended = False

    def end(self) -> dict[str, Any]:
        """Close the execution; the span attributes (names in ``agentotel.core.semconv``)."""
        if self.ended:
            return {}
        self.ended = True
        _SAMPLER.remove(self)
        attrs: dict[str, Any] = {}
        if threading.get_ident() == self.thread:
            attrs[sc.EXEC_THREAD_CPU_TIME] = max(0.0, time.thread_time() - self.cpu_start)
        end = rss()
        if self.rss_start is None or end is None:
            return attrs
        peak = max(self.peak, self.rss_start, end)
        hwm_end = high_water_mark()
        if self.hwm_start is not None and hwm_end is not None and hwm_end > self.hwm_start:
            peak = max(peak, hwm_end)
        attrs[sc.EXEC_RSS_START] = self.rss_start
        attrs[sc.EXEC_RSS_END] = end
        attrs[sc.EXEC_RSS_PEAK] = peak
        return attrs


def begin() -> ExecutionResources | None:
    """Start measuring an execution (never raises; ``None`` on failure or while the telemetry is paused)."""
    if SWITCH.paused:
        return None
    try:
        res = ExecutionResources()
        if res.rss_start is not None:
            _SAMPLER.add(res)
        return res
    except Exception as err:  # noqa: BLE001
        report("resources.begin", err)
        return None


def end(res: ExecutionResources | None) -> dict[str, Any]:
    """The attributes of a finished execution (empty when nothing was measured; never raises)."""
    if res is None:
        return {}
    try:
        return res.end()
    except Exception as err:  # noqa: BLE001
        report("resources.end", err)
        return {}


class _Sampler:
    """Samples RSS every ``SAMPLE_INTERVAL`` s into the peak of every open execution (only while any is)."""

    def __init__(self) -> None:
        self._open: set[ExecutionResources] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._open = set()
        self._lock = threading.Lock()
        self._thread = None
        self._pid = os.getpid()

    def add(self, res: ExecutionResources) -> None:
        with self._lock:
            self._open.add(res)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="agentotel-rss", daemon=True)
                self._thread.start()

    def remove(self, res: ExecutionResources) -> None:
        with self._lock:
            self._open.discard(res)

    def _run(self) -> None:
        idle = 0.0
        while True:
            time.sleep(SAMPLE_INTERVAL)
            with self._lock:
                if not self._open:
                    idle += SAMPLE_INTERVAL
                    if idle >= IDLE_EXIT:  # back-to-back executions keep one thread (a start costs ~100 µs)
                        self._thread = None
                        return
                    continue
                idle = 0.0
                current = tuple(self._open)
            value = rss()
            if value is None:
                continue
            for res in current:
                if value > res.peak:
                    res.peak = value

    @property
    def running(self) -> bool:
        return self._thread is not None


_SAMPLER = _Sampler()


def close_agent(res: ExecutionResources | None, span: Any, instruments: Any, agent_name: str | None) -> None:
    """End ``res``: its attributes onto the agent ``span`` (when recording) and the execution histograms."""
    if res is None:
        return
    attrs = end(res)
    if not attrs:
        return
    try:
        if span is not None and span.is_recording():
            span.set_attributes(attrs)
        instruments.record_agent_resources(agent_name, attrs)
    except Exception as err:  # noqa: BLE001
        report("resources.close_agent", err)
