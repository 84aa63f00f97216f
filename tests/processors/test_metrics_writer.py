"""OTLP metrics → ``metrics`` rows: the requests the real OTel SDK exporters send, every instrument kind,
cumulative and delta temporality, exact values, idempotent re-export, links to spans."""

from __future__ import annotations

import pytest
from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import func, select

from agentotel.processors.metrics import link_pending_metrics, write_metrics
from agentotel.warehouse.bulk import ns_to_datetime
from agentotel.warehouse.models import Metric, Span
from tests.processors.support import insert_span

METRICS = Metric.__table__
DELTA = {
    Counter: AggregationTemporality.DELTA,
    UpDownCounter: AggregationTemporality.DELTA,
    Histogram: AggregationTemporality.DELTA,
}


class Workload:
    """A real MeterProvider with every instrument kind, collected twice by an InMemoryMetricReader."""

    def __init__(self, temporality: str) -> None:
        self.reader = InMemoryMetricReader(preferred_temporality=DELTA if temporality == "delta" else {})
        self.provider = MeterProvider(
            metric_readers=[self.reader],
            resource=Resource.create({"service.name": "interop-svc", "gen_ai.agent.name": "planner"}),
            views=[
                View(instrument_name="latency", aggregation=ExplicitBucketHistogramAggregation(boundaries=[1, 5])),
                View(instrument_name="exp_latency", aggregation=ExponentialBucketHistogramAggregation(max_size=20)),
            ],
        )
        meter = self.provider.get_meter("tests.interop", "1.0")
        self.counter = meter.create_counter("requests", unit="{request}")
        self.updown = meter.create_up_down_counter("queue_depth")
        self.histogram = meter.create_histogram("latency", unit="s")
        self.exp_histogram = meter.create_histogram("exp_latency", unit="s")
        self.gauge_value = 42.5
        meter.create_observable_gauge(
            "temperature", callbacks=[lambda _options: [Observation(self.gauge_value, {"room": "a"})]]
        )

    def round_one(self) -> None:
        self.counter.add(5, {"route": "/chat"})
        self.counter.add(2, {"route": "/chat"})
        self.updown.add(4)
        self.updown.add(-1)
        self.histogram.record(0.5)
        self.histogram.record(3)
        for value in (1, 2, 4):
            self.exp_histogram.record(value)

    def round_two(self) -> None:
        self.counter.add(3, {"route": "/chat"})
        self.updown.add(-2)
        self.histogram.record(7)
        self.exp_histogram.record(8)
        self.gauge_value = 40.0

    def collect(self):
        data = self.reader.get_metrics_data()
        return data, encode_metrics(data)


def _rows(engine, name: str):
    with engine.connect() as conn:
        return conn.execute(select(METRICS).where(METRICS.c.metric_name == name).order_by(METRICS.c.timestamp)).all()


def _points(data, name: str):
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def _count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(METRICS)).scalar_one()


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_every_instrument_kind_lands_with_exact_values(engine, temporality):
    work = Workload(temporality)
    work.round_one()
    data1, request1 = work.collect()
    work.round_two()
    data2, request2 = work.collect()

    assert write_metrics(engine, request1) == 5
    assert write_metrics(engine, request2) == 5
    assert _count(engine) == 10
    delta = temporality == "delta"

    counter = _rows(engine, "requests")
    assert [r.value for r in counter] == ([7.0, 3.0] if delta else [7.0, 10.0])
    assert {r.metric_type for r in counter} == {"counter"} and {r.temporality for r in counter} == {temporality}
    assert counter[0].unit == "{request}" and counter[0].service_name == "interop-svc"
    tags = counter[0].tags
    assert {k: tags[k] for k in ("route", "service.name", "gen_ai.agent.name")} == {
        "route": "/chat",
        "service.name": "interop-svc",
        "gen_ai.agent.name": "planner",
    }
    assert "telemetry.sdk.name" not in tags  # only identity keys of the resource become tags
    assert counter[0].series_key == counter[1].series_key
    first_point, second_point = _points(data1, "requests")[0], _points(data2, "requests")[0]
    assert counter[0].timestamp == ns_to_datetime(first_point.time_unix_nano)
    assert counter[1].start_time == ns_to_datetime(second_point.start_time_unix_nano)
    if delta:  # each delta window starts where the previous one ended
        assert counter[1].start_time == counter[0].timestamp
    else:  # a cumulative series keeps its start while the process lives
        assert counter[1].start_time == counter[0].start_time

    updown = _rows(engine, "queue_depth")
    assert [r.value for r in updown] == ([3.0, -2.0] if delta else [3.0, 1.0])
    assert {r.metric_type for r in updown} == {"updowncounter"}

    histogram = _rows(engine, "latency")
    assert {r.metric_type for r in histogram} == {"histogram"}
    assert [(r.count, r.sum, r.value) for r in histogram] == (
        [(2, 3.5, 3.5), (1, 7.0, 7.0)] if delta else [(2, 3.5, 3.5), (3, 10.5, 10.5)]
    )
    assert histogram[0].buckets == {"bounds": [1.0, 5.0], "counts": [1, 1, 0], "min": 0.5, "max": 3.0}
    assert histogram[1].buckets["counts"] == ([0, 0, 1] if delta else [1, 1, 1])

    exp = _rows(engine, "exp_latency")
    assert {r.metric_type for r in exp} == {"exponential_histogram"}
    for row, point in zip(exp, [_points(data1, "exp_latency")[0], _points(data2, "exp_latency")[0]], strict=True):
        assert (row.count, row.sum) == (point.count, point.sum)
        assert row.buckets["scale"] == point.scale
        assert row.buckets["zero_count"] == point.zero_count
        assert row.buckets["positive"] == {"offset": point.positive.offset, "counts": list(point.positive.bucket_counts)}
        assert sum(row.buckets["positive"]["counts"]) == row.count
    assert [(r.count, r.sum) for r in exp] == ([(3, 7.0), (1, 8.0)] if delta else [(3, 7.0), (4, 15.0)])
    assert exp[0].buckets["min"] == 1.0 and exp[0].buckets["max"] == 4.0

    gauge = _rows(engine, "temperature")
    assert [(r.value, r.metric_type, r.temporality) for r in gauge] == [(42.5, "gauge", None), (40.0, "gauge", None)]
    assert gauge[0].tags["room"] == "a"
    assert gauge[0].buckets is None and gauge[0].count is None


def test_reexport_adds_no_rows(engine):
    work = Workload("cumulative")
    work.round_one()
    _, request = work.collect()
    assert write_metrics(engine, request) == 5
    before = _count(engine)
    assert write_metrics(engine, request) == 5  # accepted again …
    assert _count(engine) == before == 5  # … but stored once
    with engine.connect() as conn:
        values = conn.execute(select(METRICS.c.metric_name, METRICS.c.value).order_by(METRICS.c.metric_name)).all()
    assert dict(values)["requests"] == 7.0


def test_same_metric_from_two_services_is_two_series(engine):
    rows = {}
    for service in ("a", "b"):
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": service}))
        provider.get_meter("m").create_counter("hits").add(1)
        write_metrics(engine, encode_metrics(reader.get_metrics_data()))
        rows[service] = _rows(engine, "hits")
    assert len(rows["b"]) == 2
    assert rows["b"][0].series_key != rows["b"][1].series_key


def test_exemplar_links_point_to_its_span_and_execution(engine):
    tracer = TracerProvider().get_tracer("t")
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "svc"}))
    histogram = provider.get_meter("m").create_histogram("gen_ai.client.operation.duration", unit="s")
    with tracer.start_as_current_span("chat stored") as stored:
        histogram.record(0.2, {"gen_ai.request.model": "stored"})
    with tracer.start_as_current_span("chat late") as late:
        histogram.record(0.3, {"gen_ai.request.model": "late"})
    stored_ctx, late_ctx = stored.get_span_context(), late.get_span_context()
    stored_key = (f"{stored_ctx.trace_id:032x}", f"{stored_ctx.span_id:016x}")
    late_key = (f"{late_ctx.trace_id:032x}", f"{late_ctx.span_id:016x}")
    insert_span(engine, *stored_key, execution_id=f"{stored_key[0]}-{stored_key[1]}")

    write_metrics(engine, encode_metrics(reader.get_metrics_data()))
    by_model = {r.tags["gen_ai.request.model"]: r for r in _rows(engine, "gen_ai.client.operation.duration")}
    assert (by_model["stored"].trace_id, by_model["stored"].span_id) == stored_key
    assert by_model["stored"].execution_id == f"{stored_key[0]}-{stored_key[1]}"
    assert by_model["stored"].buckets["exemplars"][0]["span_id"] == stored_key[1]
    assert (by_model["late"].trace_id, by_model["late"].span_id) == late_key
    assert by_model["late"].execution_id is None  # its span has not arrived yet

    insert_span(engine, *late_key, execution_id="late-exec")
    with engine.begin() as conn:  # what the span writer's after_insert hook does
        link_pending_metrics(conn, [late_key])
    by_model = {r.tags["gen_ai.request.model"]: r for r in _rows(engine, "gen_ai.client.operation.duration")}
    assert by_model["late"].execution_id == "late-exec"
    assert by_model["stored"].execution_id == f"{stored_key[0]}-{stored_key[1]}"


def test_point_without_timestamp_is_rejected_and_others_kept(engine):
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "svc"}))
    counter = provider.get_meter("m").create_counter("ok")
    counter.add(1, {"i": 1})
    counter.add(1, {"i": 2})
    request = encode_metrics(reader.get_metrics_data())
    request.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].time_unix_nano = 0
    assert write_metrics(engine, request) == 1
    assert _count(engine) == 1


def test_summary_points(engine):
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    request = ExportMetricsServiceRequest()
    metric = request.resource_metrics.add().scope_metrics.add().metrics.add()
    metric.name = "rpc.duration"
    point = metric.summary.data_points.add()
    point.time_unix_nano = 1_795_000_000_123_456_789
    point.start_time_unix_nano = 1_795_000_000_000_000_000
    point.count, point.sum = 4, 10.0
    for q, v in ((0.5, 2.0), (0.99, 4.0)):
        quantile = point.quantile_values.add()
        quantile.quantile, quantile.value = q, v
    assert write_metrics(engine, request) == 1
    (row,) = _rows(engine, "rpc.duration")
    assert (row.metric_type, row.count, row.sum, row.value, row.temporality) == ("summary", 4, 10.0, 10.0, "cumulative")
    assert row.buckets == {"quantiles": [{"quantile": 0.5, "value": 2.0}, {"quantile": 0.99, "value": 4.0}]}
    assert row.timestamp == ns_to_datetime(1_795_000_000_123_456_789)
    assert row.timestamp.microsecond == 123456


def test_bad_names_are_rejected_without_losing_the_rest(engine):
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    for name in ("x" * 300, "", "ok\x00nul"):
        metric = scope.metrics.add()
        metric.name = name
        point = metric.gauge.data_points.add()
        point.time_unix_nano = 1_795_000_000_000_000_000
        point.as_double = float("nan")
    assert write_metrics(engine, request) == 1
    with engine.connect() as conn:
        (row,) = conn.execute(select(METRICS.c.metric_name, METRICS.c.value)).all()
    assert row == ("ok\\u0000nul", None)  # NUL kept visible (PostgreSQL refuses it), NaN stored as NULL


def test_point_written_while_its_span_commits_gets_the_execution(engine, dialect):
    """PostgreSQL, two writers at once: the span transaction (with the link hook) is open when the point arrives."""
    import threading

    from sqlalchemy import insert

    from tests.processors.test_logs_writer import _span_row

    if dialect != "postgresql":
        pytest.skip("SQLite serializes writers (BEGIN IMMEDIATE)")
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "svc"}))
    histogram = provider.get_meter("m").create_histogram("gen_ai.client.operation.duration")
    with TracerProvider().get_tracer("t").start_as_current_span("chat") as span:
        histogram.record(0.2)
    ctx = span.get_span_context()
    key = (f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    request = encode_metrics(reader.get_metrics_data())
    done = threading.Event()
    with engine.connect() as span_conn:
        span_tx = span_conn.begin()
        span_conn.execute(insert(Span.__table__), {**_span_row(), "trace_id": key[0], "span_id": key[1], "execution_id": "exec-1"})
        link_pending_metrics(span_conn, [key])
        writer = threading.Thread(target=lambda: (write_metrics(engine, request), done.set()))
        writer.start()
        assert not done.wait(0.5), "the metrics writer must wait for the open span transaction"
        span_tx.commit()
        writer.join(timeout=10)
    assert done.is_set()
    (row,) = _rows(engine, "gen_ai.client.operation.duration")
    assert (row.trace_id, row.span_id, row.execution_id) == (*key, "exec-1")
