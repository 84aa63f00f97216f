"""User metric registry: typed instruments, units, attribute allow-lists, value limits, summaries via a view."""

from __future__ import annotations

import random

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from agentotel.instrumentation._switch import SWITCH
from agentotel.instrumentation.metrics import OVERFLOW_METRIC, MetricRegistry, quantiles
from tests.instrumentation.support import points


def _metric(reader, name):
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    return metric
    return None


@pytest.fixture
def registry(meter_provider) -> MetricRegistry:
    return MetricRegistry(meter_provider)


def test_every_type_with_its_unit(registry, metric_reader):
    registry.counter("shop.orders", unit="{order}", attributes=("status",)).add(2, {"status": "ok"})
    queue = registry.up_down_counter("shop.queue.depth", unit="{job}")
    queue.add(5)
    queue.add(-2)
    registry.gauge("shop.fridge.temperature", unit="Cel").set(4.5)
    registry.histogram("shop.checkout.duration", unit="s", buckets=(0.1, 0.5, 1.0)).record(0.3)
    assert points(metric_reader, "shop.orders")[0].value == 2
    assert points(metric_reader, "shop.queue.depth")[0].value == 3
    assert points(metric_reader, "shop.fridge.temperature")[0].value == 4.5
    hist = points(metric_reader, "shop.checkout.duration")[0]
    assert list(hist.explicit_bounds) == [0.1, 0.5, 1.0] and list(hist.bucket_counts) == [0, 1, 0, 0]
    units = {name: _metric(metric_reader, name).unit for name in ("shop.orders", "shop.queue.depth",
                                                                   "shop.fridge.temperature", "shop.checkout.duration")}
    assert units == {"shop.orders": "{order}", "shop.queue.depth": "{job}", "shop.fridge.temperature": "Cel",
                     "shop.checkout.duration": "s"}


def test_allow_list_and_value_limit_are_counted(registry, metric_reader):
    calls = registry.counter("tool.calls", attributes=("tool",), max_values=3)
    for i in range(5):
        calls.add(1, {"tool": f"t{i}", "user": f"u{i}"})
    by_tool = {p.attributes["tool"]: p.value for p in points(metric_reader, "tool.calls")}
    assert by_tool == {"t0": 1, "t1": 1, "t2": 1, "other": 2}
    assert all("user" not in p.attributes for p in points(metric_reader, "tool.calls"))
    limited = {(p.attributes["key"], p.attributes["reason"]): p.value for p in points(metric_reader, OVERFLOW_METRIC)}
    assert limited == {("user", "key_not_allowed"): 5, ("tool", "value_limit"): 2}
    calls.add(1, {"tool": "t1"})  # a known value stays itself
    assert {p.attributes["tool"]: p.value for p in points(metric_reader, "tool.calls")}["t1"] == 2


def test_declarations_are_checked(registry):
    first = registry.counter("a.b", unit="1", attributes=("x",))
    assert registry.counter("a.b", unit="1", attributes=("x",)) is first
    with pytest.raises(ValueError, match="already declared"):
        registry.histogram("a.b")
    with pytest.raises(ValueError, match="already declared"):
        registry.counter("a.b", unit="s", attributes=("x",))
    with pytest.raises(ValueError, match="invalid metric name"):
        registry.counter("9lives")
    with pytest.raises(ValueError, match="invalid unit"):
        registry.counter("ok.name", unit="µs")
    with pytest.raises(ValueError, match="strictly increasing"):
        registry.histogram("h", buckets=(1, 1, 2))
    with pytest.raises(ValueError, match="quantiles"):
        registry.summary("s", quantiles=(1.5,))
    with pytest.raises(ValueError, match="sequence of keys"):
        registry.counter("c2", attributes="tool")


def test_bad_values_never_raise(registry, metric_reader):
    orders = registry.counter("orders")
    orders.add(-1)
    orders.add("three")  # type: ignore[arg-type]
    orders.add(float("nan"))
    orders.add(2)
    assert points(metric_reader, "orders")[0].value == 2
    invalid = [p for p in points(metric_reader, OVERFLOW_METRIC) if p.attributes["reason"] == "invalid_value"]
    assert invalid[0].value == 3


def test_summary_through_its_view():
    registry_probe = MetricRegistry(MeterProvider(shutdown_on_exit=False))
    registry_probe.summary("answer.length", unit="{char}")
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], views=registry_probe.views(), shutdown_on_exit=False)
    summary = MetricRegistry(provider).summary("answer.length", unit="{char}")
    rng = random.Random(7)
    values = sorted(rng.lognormvariate(5, 1) for _ in range(5000))
    for v in values:
        summary.record(v)
    [point] = points(reader, "answer.length")
    assert hasattr(point, "scale")  # exponential buckets
    got = quantiles(point, (0.5, 0.9, 0.99))
    for q, value in got.items():
        exact = values[int(q * len(values)) - 1]
        assert abs(value - exact) / exact < 0.05, (q, value, exact)


def test_summary_without_the_view_uses_explicit_buckets(registry, metric_reader):
    summary = registry.summary("latency", unit="s", buckets=(0.1, 0.2, 0.4, 0.8))
    for v in (0.05, 0.15, 0.15, 0.3, 0.7):
        summary.record(v)
    [point] = points(metric_reader, "latency")
    got = quantiles(point, (0.5,))
    assert 0.1 <= got[0.5] <= 0.2


def test_paused_records_nothing(registry, metric_reader):
    orders = registry.counter("paused.orders")
    SWITCH.paused = True
    try:
        orders.add(1)
    finally:
        SWITCH.paused = False
    orders.add(1)
    assert points(metric_reader, "paused.orders")[0].value == 1


def test_instrument_accepts_the_views(tmp_path):
    from tests.instrumentation.subprocess_support import CHILD_PRELUDE, run_python

    code = CHILD_PRELUDE + """
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from agentotel.instrumentation import instrument
from agentotel.instrumentation.metrics import MetricRegistry, summary_view
reader = InMemoryMetricReader()
handle = instrument(otlp=False, performance_monitor=False, instrumentors=[], metric_readers=[reader],
                    views=[summary_view("tokens.per.answer")])
MetricRegistry().summary("tokens.per.answer").record(42)
kinds = [type(m.data).__name__ for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
         for m in sm.metrics if m.name == "tokens.per.answer"]
handle.shutdown(timeout=2)
print(json.dumps({"kinds": kinds}))
"""
    result, _ = run_python(code)
    assert result["kinds"] == ["ExponentialHistogram"]
