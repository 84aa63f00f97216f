"""The file exporters' format: JSON lines or MessagePack, and the pure reader ``agentotel import`` uses."""

from __future__ import annotations

import gzip
import json

import msgpack
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from agentotel.instrumentation.exporters.file_format import (
    JSONL,
    MSGPACK,
    detect_format,
    format_for,
    read_records,
)
from agentotel.instrumentation.exporters.jsonl import JsonLinesMetricExporter, JsonLinesSpanExporter


def _spans(exporter, n=3, attrs=None):
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for i in range(n):
        with tracer.start_as_current_span(f"s{i}", attributes={"i": i, **(attrs or {})}):
            pass
    exporter.shutdown()


def test_format_by_name_or_argument(tmp_path):
    assert format_for("a/spans.jsonl") == JSONL and format_for("spans.msgpack") == MSGPACK
    assert format_for("spans.msgpack.metrics") == MSGPACK and format_for("x.MPK") == MSGPACK
    assert format_for("spans.jsonl", "msgpack") == MSGPACK
    with pytest.raises(ValueError):
        format_for("x", "xml")


def test_msgpack_holds_the_same_records_as_json_lines(tmp_path):
    json_path, pack_path = tmp_path / "s.jsonl", tmp_path / "s.msgpack"
    _spans(JsonLinesSpanExporter(json_path))
    _spans(JsonLinesSpanExporter(pack_path))
    assert detect_format(json_path) == JSONL and detect_format(pack_path) == MSGPACK
    from_json = [r.document for r in read_records(json_path)]
    from_pack = [r.document for r in read_records(pack_path)]
    assert len(from_json) == len(from_pack) == 3 and all(r is not None for r in from_pack)

    def shape(doc):
        span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        return span["name"], span["attributes"], len(span["traceId"]), len(span["spanId"])

    assert [shape(d) for d in from_pack] == [shape(d) for d in from_json]
    assert [shape(d)[0] for d in from_pack] == ["s0", "s1", "s2"]
    assert pack_path.stat().st_size < json_path.stat().st_size


def test_msgpack_metrics(tmp_path):
    path = tmp_path / "m.msgpack.metrics"
    reader = PeriodicExportingMetricReader(JsonLinesMetricExporter(path), export_interval_millis=60_000)
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    provider.get_meter("m").create_counter("c").add(3)
    provider.force_flush()
    provider.shutdown()
    record = [r for r in read_records(path) if r.document][0]  # the flush, then possibly an empty final collection
    metric = record.document["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]
    assert metric["name"] == "c" and metric["sum"]["dataPoints"][0]["asInt"] == "3"


def test_msgpack_rotation_never_splits_a_record(tmp_path):
    path = tmp_path / "s.msgpack"
    _spans(JsonLinesSpanExporter(path, max_bytes=1500, backup_count=3), n=12, attrs={"pad": "x" * 200})
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["s.msgpack", "s.msgpack.1", "s.msgpack.2", "s.msgpack.3"]
    for name in files:
        records = list(read_records(tmp_path / name))
        assert records and all(r.error is None for r in records), name


def test_reader_variants_and_errors(tmp_path):
    doc = {"resourceSpans": [{"scopeSpans": []}]}
    lines = tmp_path / "a.jsonl"
    lines.write_text(json.dumps(doc) + "\n\nnot json\n[1]\n" + json.dumps(doc) + "\n")
    got = [(r.location.rsplit(":", 1)[1], r.document is not None, r.error) for r in read_records(lines)]
    assert [g[:2] for g in got] == [("1", True), ("3", False), ("4", False), ("5", True)]
    assert got[1][2].startswith("not valid JSON") and "expected an object" in got[2][2]

    pretty = tmp_path / "b.json"
    pretty.write_text(json.dumps(doc, indent=2))
    [record] = read_records(pretty)
    assert record.document == doc and record.location == str(pretty)

    zipped = tmp_path / "c.msgpack.gz"
    zipped.write_bytes(gzip.compress(msgpack.packb(doc) + msgpack.packb([1]) + msgpack.packb(doc)))
    got = list(read_records(zipped))
    assert [r.document is not None for r in got] == [True, False, True] and "expected a map" in got[1].error

    truncated = tmp_path / "d.msgpack"
    truncated.write_bytes(msgpack.packb(doc) + msgpack.packb(doc)[:-3])
    got = list(read_records(truncated))
    assert got[0].document == doc and "truncated" in got[1].error and len(got) == 2

    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    assert list(read_records(empty)) == []


def test_instrument_writes_msgpack_and_the_reader_loads_nothing_server_side(tmp_path):
    from tests.instrumentation.subprocess_support import CHILD_PRELUDE, run_python

    path = tmp_path / "spans.msgpack"
    code = CHILD_PRELUDE + f"""
from opentelemetry import trace
from agentotel.instrumentation import instrument
handle = instrument(otlp=False, performance_monitor=False, instrumentors=[], jsonl_path={str(path)!r})
with trace.get_tracer("t").start_as_current_span("hello"):
    pass
handle.shutdown(timeout=2)
from agentotel.instrumentation.exporters.file_format import read_records
names = [s["name"] for r in read_records({str(path)!r}) for rs in r.document["resourceSpans"]
         for ss in rs["scopeSpans"] for s in ss["spans"]]
server = sorted(m for m in sys.modules if m.startswith(("agentotel.otlp_receiver", "agentotel.warehouse",
                                                         "agentotel.processors", "sqlalchemy", "grpc")))
print(json.dumps({{"names": names, "server": server}}))
"""
    result, _ = run_python(code)
    assert result["names"] == ["hello"] and result["server"] == []
