"""``agentotel import``: the instrumentation's JSON-lines files and OTLP/JSON dumps go through the receiver's
own codec, validation and write path; bad lines and spans are reported with the receiver's reasons, the good
ones in the same file are kept, and the rows equal what the running receiver stores for the same requests."""

from __future__ import annotations

import copy
import gzip
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import func, select

from agentotel.cli import main
from agentotel.core.settings import ReceiverSettings
from agentotel.instrumentation.exporters.jsonl import JsonLinesSpanExporter
from agentotel.instrumentation.exporters.otlp_json import metrics_to_otlp_json
from agentotel.otlp_receiver.offline_import import OfflineImport
from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.models import AgentExecution, LLMCall, Metric, Span, ToolCall
from agentotel.warehouse.rollups import refresh_rollups
from tests.conftest import drop_postgres_database, new_postgres_database
from tests.otlp_receiver.support import count
from tests.support.polling import wait_for
from tests.support.receiver import start_receiver

MS = 1_000_000


def _record_runs(path, runs: int, start_ns: int, *more_paths) -> None:
    """Real OTel SDK spans (GenAI semconv) written by the instrumentation's file exporter (JSON lines, or
    MessagePack for a ``.msgpack`` name), the same spans into every path given."""
    provider = TracerProvider(resource=Resource.create({"service.name": "offline-svc"}))
    for each in (path, *more_paths):
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesSpanExporter(each)))
    tracer = provider.get_tracer("import-test")
    for i in range(runs):
        t = start_ns + i * 1000 * MS
        agent = tracer.start_span("invoke_agent helper", start_time=t, attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper", "gen_ai.system": "openai"})
        ctx = trace.set_span_in_context(agent)
        llm = tracer.start_span("chat gpt-4o-mini", context=ctx, start_time=t + 5 * MS, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 100 + i,
            "gen_ai.usage.output_tokens": 20})
        llm.end(end_time=t + 305 * MS)
        tool = tracer.start_span("execute_tool search", context=ctx, start_time=t + 310 * MS, attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"})
        tool.end(end_time=t + 350 * MS)
        agent.end(end_time=t + 400 * MS)
    provider.shutdown()


def _bad_lines(good_line: str) -> list[str]:
    """Three one-span requests made from a chat span: ends before it starts, a negative token count, a bad id."""
    doc = json.loads(good_line)
    out = []
    for change in ("end_before_start", "negative_tokens", "bad_id"):
        bad = copy.deepcopy(doc)
        span = bad["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        span["traceId"] = "ab" * 16
        span["spanId"] = f"{len(out) + 1:016x}"
        span.pop("parentSpanId", None)
        if change == "end_before_start":
            span["endTimeUnixNano"] = str(int(span["startTimeUnixNano"]) - 1)
        elif change == "negative_tokens":
            for attribute in span["attributes"]:
                if attribute["key"] == "gen_ai.usage.input_tokens":
                    attribute["value"] = {"intValue": "-5"}
        else:
            span["spanId"] = "12345"
        out.append(json.dumps(bad))
    return out


def _count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model.__table__)).scalar()


def test_import_jsonl_through_the_receivers_validation_and_writer(engine, tmp_path):
    lines_path = tmp_path / "telemetry.jsonl"
    _record_runs(lines_path, 6, time.time_ns() - 3 * 3600 * 10**9)
    good = lines_path.read_text().splitlines()
    assert len(good) == 18  # one OTLP/JSON request per exported batch (SimpleSpanProcessor: per span)
    chat = next(line for line in good if '"chat ' in line)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join([good[0], "{not json", *_bad_lines(chat), "[1, 2]", *good[1:]]) + "\n")

    dry = OfflineImport(ReceiverSettings()).run([mixed])  # no warehouse at all
    assert dry.dry_run and dry.spans == 19 and dry.records == 21 and len(dry.rejected) == 4

    report = OfflineImport(ReceiverSettings(), engine).run([mixed])
    assert (report.files, report.records, report.spans) == (1, 21, 19) and not report.failed_files
    by_line = {int(r.location.rsplit(":", 1)[1]): r for r in report.rejected}
    assert sorted(by_line) == [2, 3, 5, 6], by_line
    assert by_line[2].reason.startswith("not valid JSON")
    assert by_line[3].reason == "span(s) ending before they start: 'chat gpt-4o-mini'"
    assert by_line[3].trace_id == "ab" * 16 and by_line[3].span_id == f"{1:016x}"
    assert by_line[5].reason.startswith("span(s) with an invalid span_id")
    assert by_line[6].reason == "not an export request (a list, expected an object)"
    # the receiver's rules: a negative token count is not a reason to refuse a span; the count is unknown
    assert _count(engine, Span) == 19 and _count(engine, LLMCall) == 7 and _count(engine, ToolCall) == 6
    assert _count(engine, AgentExecution) == 7
    with engine.connect() as conn:
        assert conn.execute(select(LLMCall.input_tokens).where(LLMCall.trace_id == "ab" * 16)).scalar_one() is None
        tokens = conn.execute(select(func.sum(LLMCall.input_tokens))).scalar()
        durations = conn.execute(select(AgentExecution.duration_ms).where(AgentExecution.agent_name == "helper")).scalars().all()
    assert tokens == sum(100 + i for i in range(6)) and durations == [400.0] * 6

    again = OfflineImport(ReceiverSettings(), engine).run([mixed])  # idempotent: the same spans add no rows
    assert again.spans == 19 and _count(engine, Span) == 19 and _count(engine, AgentExecution) == 7


def test_single_document_through_the_cli_rebuilds_the_rollups_of_its_minutes(engine, tmp_path, db_url, capsys):
    refresh_rollups(engine)  # rollups exist; the imported runs are hours older than their lateness window
    lines_path = tmp_path / "a.jsonl"
    _record_runs(lines_path, 3, int((datetime.now(timezone.utc) - timedelta(hours=5)).timestamp() * 1e9))
    docs = [json.loads(line) for line in lines_path.read_text().splitlines()]
    dump = tmp_path / "dump.json"  # every line merged into one pretty-printed ExportTraceServiceRequest
    dump.write_text(json.dumps({"resourceSpans": [rs for d in docs for rs in d["resourceSpans"]]}, indent=2))

    assert main(["import", str(dump), "--db", db_url, "--dry-run"]) == 0
    assert "validated 9 spans" in capsys.readouterr().out and _count(engine, Span) == 0
    assert main(["import", str(dump), "--db", db_url]) == 0
    assert "imported 9 spans, 0 metric points, 0 log records from 1 records in 1 files; 0 rejected" in capsys.readouterr().out
    analytics = AnalyticsEngine(engine, cache_ttl=0)
    end = datetime.now(timezone.utc)
    assert analytics.get_aggregations("executions", start=end - timedelta(hours=6), end=end)["value"].iloc[0] == 3
    tools = analytics.get_aggregations("tool_calls", "tool", start=end - timedelta(hours=6), end=end)
    assert tools.iloc[0].to_dict() == {"tool": "search", "value": 3.0}

    assert main(["import", str(tmp_path / "nope.jsonl"), "--db", db_url]) == 1
    assert "unreadable: " in capsys.readouterr().out


def test_gzipped_lines_with_a_bad_first_line(engine, tmp_path):
    source = tmp_path / "runs.jsonl"
    _record_runs(source, 2, time.time_ns() - 3600 * 10**9)
    packed = tmp_path / "runs.jsonl.gz"
    packed.write_bytes(gzip.compress(b"{oops\n\n" + source.read_bytes()))
    report = OfflineImport(ReceiverSettings(), engine).run([packed])
    assert report.spans == 6 and _count(engine, Span) == 6
    assert [(r.location, r.reason.split(":")[0]) for r in report.rejected] == [(f"{packed}:1", "not valid JSON")]


def test_a_truncated_gzip_file_is_unreadable_but_what_was_read_is_loaded(engine, tmp_path):
    source = tmp_path / "runs.jsonl"
    _record_runs(source, 20, time.time_ns() - 3600 * 10**9)
    packed = gzip.compress(source.read_bytes())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed[: len(packed) * 3 // 4])
    report = OfflineImport(ReceiverSettings(), engine).run([cut])
    assert len(report.failed_files) == 1 and report.failed_files[0].startswith(str(cut))
    assert 0 < report.spans < 60 and _count(engine, Span) == report.spans


def test_metric_points_before_their_spans_are_linked_to_the_execution(engine, tmp_path):
    """The receiver's span writer hooks run for imports too: a point read before its span gets its execution."""
    spans_path = tmp_path / "spans.jsonl"
    _record_runs(spans_path, 1, time.time_ns() - 3600 * 10**9)
    agent_line = next(json.loads(line) for line in spans_path.read_text().splitlines() if "invoke_agent" in line)
    agent = agent_line["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "offline-svc"}))
    counter = provider.get_meter("import-test").create_counter("agent.requests")
    counter.add(3, {"agent": "helper", "trace_id": agent["traceId"], "span_id": agent["spanId"]})
    counter.add(4, {"agent": "other"})
    metrics_path = tmp_path / "metrics.jsonl"
    metrics_path.write_text(json.dumps(metrics_to_otlp_json(reader.get_metrics_data())) + "\n")
    provider.shutdown()

    report = OfflineImport(ReceiverSettings(), engine).run([metrics_path, spans_path])
    assert report.metric_points == 2 and report.spans == 3 and not report.rejected
    with engine.connect() as conn:
        points = dict(conn.execute(select(Metric.value, Metric.execution_id).where(Metric.metric_name == "agent.requests")).all())
    assert points == {3.0: f"{agent['traceId']}-{agent['spanId']}", 4.0: None}


@pytest.fixture
def receiver_url(dialect, tmp_path) -> Iterator[str]:
    """A second migrated warehouse of the same dialect, for the running receiver."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path}/received.db"
        return
    url = new_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


def _rows(engine) -> dict[str, list[tuple]]:
    tables = {Span: ("trace_id", "span_id", "parent_span_id", "span_type", "duration_ms", "execution_id", "agent_name"),
              LLMCall: ("trace_id", "span_id", "execution_id", "input_tokens", "output_tokens", "cost_usd"),
              ToolCall: ("trace_id", "span_id", "execution_id", "tool_name", "success"),
              AgentExecution: ("id", "duration_ms", "tokens_used", "success", "agent_name", "cost_usd")}  # fmt: skip
    with engine.connect() as conn:
        return {model.__tablename__: sorted(tuple(row) for row in conn.execute(select(*(getattr(model, c) for c in cols))))
                for model, cols in tables.items()}  # fmt: skip


@pytest.mark.slow
def test_the_import_stores_what_the_receiver_stores(engine, tmp_path, receiver_url):
    source = tmp_path / "runs.jsonl"
    _record_runs(source, 4, time.time_ns() - 2 * 3600 * 10**9)
    lines = source.read_text().splitlines()
    server = start_receiver(receiver_url, str(tmp_path / "spool"))
    try:
        for line in lines:  # OTLP/HTTP with JSON bodies, one request per line, as a Collector would send them
            answer = httpx.post(f"http://127.0.0.1:{server.http_port}/v1/traces", content=line,
                                headers={"Content-Type": "application/json"}, timeout=10)  # fmt: skip
            assert answer.status_code == 200
        assert wait_for(lambda: count(server.engine, "spans") == len(lines) and count(server.engine, "agent_executions") == 4)
    finally:
        server.stop()
    assert OfflineImport(ReceiverSettings(), engine).run([source]).spans == len(lines)
    received = create_db_engine(receiver_url)
    try:
        assert _rows(engine) == _rows(received)
    finally:
        received.dispose()


def test_messagepack_files_import_like_json_lines(engine, tmp_path):
    """The file exporter's MessagePack stream (plain and gzipped) loads the same spans as its JSON lines."""
    start = time.time_ns() - 3600 * 10**9
    packed, lines = tmp_path / "runs.msgpack", tmp_path / "runs.jsonl"
    _record_runs(packed, 2, start, lines)
    assert packed.read_bytes()[:1] != b"{"  # really MessagePack
    gzipped = tmp_path / "runs.msgpack.gz"
    gzipped.write_bytes(gzip.compress(packed.read_bytes()))
    report = OfflineImport(ReceiverSettings(), engine).run([packed])
    assert report.rejected == [] and report.spans == 6 and _count(engine, Span) == 6
    again = OfflineImport(ReceiverSettings(), engine).run([gzipped, lines])  # same ids: idempotent
    assert again.rejected == [] and again.spans == 12 and _count(engine, Span) == 6
    assert _count(engine, AgentExecution) == 2 and _count(engine, LLMCall) == 2


def test_truncated_messagepack_keeps_what_came_before(engine, tmp_path):
    packed = tmp_path / "runs.msgpack"
    _record_runs(packed, 2, time.time_ns() - 3600 * 10**9)
    data = packed.read_bytes()
    packed.write_bytes(data[:-7])  # the last record cut short
    report = OfflineImport(ReceiverSettings(), engine).run([packed])
    assert [r.reason for r in report.rejected] == ["truncated MessagePack record at the end of the file"]
    assert report.spans == _count(engine, Span) and 0 < report.spans < 6
