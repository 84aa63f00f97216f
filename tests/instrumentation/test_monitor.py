"""Performance monitor: psutil readings as OTel observable instruments with system-metrics names."""

from __future__ import annotations

import pytest

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


def test_sqlalchemy_pool_connections(meter_provider, metric_reader, tmp_path):
    import sqlalchemy

    monitor = PerformanceMonitor(meter_provider).start()
    try:
        engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'p.db'}", poolclass=sqlalchemy.pool.QueuePool,
                                          pool_size=3, max_overflow=2)
        with engine.connect() as first, engine.connect():
            first.execute(sqlalchemy.text("select 1"))
            held = {p.attributes["db.client.connection.state"]: p.value
                    for p in points(metric_reader, "db.client.connection.count")}
        after = {p.attributes["db.client.connection.state"]: p.value
                 for p in points(metric_reader, "db.client.connection.count")}
        [limit] = points(metric_reader, "db.client.connection.max")
    finally:
        monitor.stop()
    assert held == {"used": 2, "idle": 0}
    assert after == {"used": 0, "idle": 2}
    assert limit.value == 5 and limit.attributes["db.client.connection.pool.name"].endswith("p.db")


@pytest.mark.postgres
def test_sqlalchemy_pool_name_hides_the_password(meter_provider, metric_reader):
    """The pool's name is its URL as SQLAlchemy prints it with the password hidden (its own ``***``)."""
    import sqlalchemy

    from tests.conftest import PG_URL, require_postgres

    require_postgres()  # fails on CI, skips elsewhere
    url = sqlalchemy.make_url(PG_URL).set(drivername="postgresql+psycopg", password="s3cret")  # trust: not checked
    monitor = PerformanceMonitor(meter_provider).start()
    try:
        engine = sqlalchemy.create_engine(url, pool_size=1, pool_pre_ping=False)
        with engine.connect():
            names = {p.attributes["db.client.connection.pool.name"]
                     for p in points(metric_reader, "db.client.connection.count")}
        engine.dispose()
    finally:
        monitor.stop()
    assert names and all("s3cret" not in n and "***" in n for n in names)


def test_httpx_pool_connections(meter_provider, metric_reader, fake_llm):
    import httpx

    monitor = PerformanceMonitor(meter_provider).start()
    try:
        with httpx.Client() as client:
            client.post(f"{fake_llm.base_url}/embeddings", json={"input": "x", "model": "m"})
            states = {p.attributes["http.connection.state"]: p.value
                      for p in points(metric_reader, "http.client.open_connections")}
            with client.stream("POST", f"{fake_llm.base_url}/embeddings", json={"input": "y", "model": "m"}):
                busy = {p.attributes["http.connection.state"]: p.value
                        for p in points(metric_reader, "http.client.open_connections")}
    finally:
        monitor.stop()
    assert states["idle"] >= 1
    assert busy["active"] >= 1


def test_pool_hooks_undone_by_stop(meter_provider):
    import httpx

    monitor = PerformanceMonitor(meter_provider).start()
    monitor.stop()
    assert not hasattr(httpx.HTTPTransport.__init__, "__wrapped__")


def test_span_exporter_queue_and_drops_are_reported(tmp_path):
    """The OTel SDK's own processor metrics, enabled by instrument() for its batch processors."""
    from tests.instrumentation.subprocess_support import CHILD_PRELUDE, run_python

    code = CHILD_PRELUDE + """
import threading
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from agentotel.instrumentation import instrument
gate = threading.Event()
class Stuck(SpanExporter):
    def export(self, spans):
        gate.wait(10)
        return SpanExportResult.SUCCESS
reader = InMemoryMetricReader()
handle = instrument(otlp=False, performance_monitor=True, instrumentors=[], span_exporters=[Stuck()],
                    metric_readers=[reader], max_queue_size=512)
tracer = trace.get_tracer("t")
for _ in range(2000):
    tracer.start_span("s").end()
found = {}
for rm in reader.get_metrics_data().resource_metrics:
    for sm in rm.scope_metrics:
        for m in sm.metrics:
            for p in m.data.data_points:
                key = m.name + ("|" + p.attributes.get("error.type") if p.attributes.get("error.type") else "")
                found[key] = found.get(key, 0) + p.value
gate.set()
handle.shutdown(timeout=2)
print(json.dumps(found))
"""
    found, _ = run_python(code)
    assert 0 < found["otel.sdk.processor.span.queue.size"] <= 512
    assert found["otel.sdk.processor.span.queue.capacity"] == 512
    # one batch (≤ 512) is stuck in the exporter, the queue holds ≤ 512: the rest was dropped and counted
    assert found["otel.sdk.processor.span.processed|queue_full"] >= 2000 - 2 * 512
