"""Performance monitor: psutil readings as OTel observable instruments with system-metrics names."""

from __future__ import annotations

from agentotel.instrumentation.monitor import PerformanceMonitor
from tests.instrumentation.support import points

NAMES = ("system.cpu.utilization", "system.memory.usage", "system.memory.utilization", "system.disk.io",
         "system.network.io", "system.process.count", "process.cpu.time", "process.cpu.utilization",
         "process.memory.usage", "process.memory.virtual", "process.thread.count")


def test_monitor_reports_system_and_process_metrics(meter_provider, metric_reader):
    import psutil

    monitor = PerformanceMonitor(meter_provider).start()
    missing = [name for name in NAMES if not points(metric_reader, name)]
    # disk counters are absent in some containers; everything else must be there
    assert set(missing) <= {"system.disk.io"}, missing
    [rss] = points(metric_reader, "process.memory.usage")
    assert abs(rss.value - psutil.Process().memory_info().rss) < 64 * 1024 * 1024
    states = {p.attributes["system.memory.state"] for p in points(metric_reader, "system.memory.usage")}
    assert states == {"used", "free"}
    assert points(metric_reader, "system.process.count")[0].value > 1
    monitor.stop()
    assert points(metric_reader, "process.memory.usage") == []


def test_failing_reading_is_swallowed(meter_provider, metric_reader, monkeypatch):
    import psutil

    monitor = PerformanceMonitor(meter_provider).start()
    monkeypatch.setattr(psutil, "virtual_memory", lambda: (_ for _ in ()).throw(RuntimeError("boom")))
    assert points(metric_reader, "system.memory.usage") == []
    assert points(metric_reader, "process.memory.usage")
    monitor.stop()
