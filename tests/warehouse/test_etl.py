"""ETLPipeline / ``agentotel import``: the instrumentation's JSON-lines files and OTLP/JSON dumps go through
the receiver's processors; bad records are reported with reasons, good ones in the same file are kept."""

from __future__ import annotations

import copy
import json
import time
from datetime import datetime, timedelta, timezone

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from sqlalchemy import func, select

from agentotel.cli import main
from agentotel.instrumentation.exporters.jsonl import JsonLinesSpanExporter
from agentotel.warehouse.analytics import AnalyticsEngine
from agentotel.warehouse.etl import ETLPipeline
from agentotel.warehouse.models import AgentExecution, LLMCall, Span, ToolCall
from agentotel.warehouse.rollups import refresh_rollups


def _count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model.__table__)).scalar()


def _record_runs(path, runs: int, start_ns: int) -> None:
    """Real OTel SDK spans (GenAI semconv) written by the instrumentation's JSON-lines exporter."""
    exporter = JsonLinesSpanExporter(path)
    provider = TracerProvider(resource=Resource.create({"service.name": "offline-svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("etl-test")
    ms = 1_000_000
    for i in range(runs):
        t = start_ns + i * 1000 * ms
        agent = tracer.start_span("invoke_agent helper", start_time=t, attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper", "gen_ai.system": "openai"})
        from opentelemetry import trace

        ctx = trace.set_span_in_context(agent)
        llm = tracer.start_span("chat gpt-4o-mini", context=ctx, start_time=t + 5 * ms, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 100 + i,
            "gen_ai.usage.output_tokens": 20})
        llm.end(end_time=t + 305 * ms)
        tool = tracer.start_span("execute_tool search", context=ctx, start_time=t + 310 * ms, attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"})
        tool.end(end_time=t + 350 * ms)
        agent.end(end_time=t + 400 * ms)
    provider.shutdown()


def _bad_lines(good_line: str) -> list[str]:
    doc = json.loads(good_line)
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    out = []
    for change in ("end_before_start", "negative_tokens", "bad_id"):
        bad = copy.deepcopy(doc)
        target = bad["resourceSpans"][0]["scopeSpans"][0]["spans"]
        index = next(i for i, s in enumerate(spans) if s["name"].startswith("chat"))
        span = target[index]
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
        bad["resourceSpans"][0]["scopeSpans"][0]["spans"] = [span]
        out.append(json.dumps(bad))
    return out


def test_import_jsonl_and_dump_through_processors(engine, tmp_path):
    start_ns = time.time_ns() - 3 * 3600 * 10**9
    lines_path = tmp_path / "telemetry.jsonl"
    _record_runs(lines_path, 6, start_ns)
    good = lines_path.read_text().splitlines()
    assert len(good) == 18  # one OTLP/JSON request per exported batch (SimpleSpanProcessor: per span)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join([good[0], "{not json", *_bad_lines(next(line for line in good if "\"chat " in line)), "[1, 2]", *good[1:]]) + "\n")

    pipeline = ETLPipeline(engine)
    dry = pipeline.run([mixed], dry_run=True)
    assert dry.spans == 18 and _count(engine, Span) == 0

    report = ETLPipeline(engine).run([mixed])
    assert report.spans == 18
    assert _count(engine, Span) == 18
    assert _count(engine, LLMCall) == 6 and _count(engine, ToolCall) == 6
    assert _count(engine, AgentExecution) == 6
    reasons = [r.reason for r in report.rejected]
    assert len(reasons) == 5, reasons
    assert any("not valid JSON" in r for r in reasons)
    assert any("ends before it starts" in r for r in reasons)
    assert any("negative token count gen_ai.usage.input_tokens=-5" in r for r in reasons)
    assert any("invalid span_id" in r for r in reasons)
    assert any("expected a JSON object" in r for r in reasons)
    assert all(r.location.startswith(str(mixed) + ":") for r in report.rejected)
    with engine.connect() as conn:
        tokens = conn.execute(select(func.sum(LLMCall.input_tokens))).scalar()
        agents = {r[0] for r in conn.execute(select(AgentExecution.agent_name))}
    assert tokens == sum(100 + i for i in range(6)) and agents == {"helper"}

    again = ETLPipeline(engine).run([mixed])  # idempotent: the same spans add no rows
    assert again.spans == 18 and _count(engine, Span) == 18 and _count(engine, AgentExecution) == 6


def test_import_single_document_and_rollups_rebuilt(engine, tmp_path, db_url, capsys):
    # rollups exist and their watermark is now; the imported runs are hours older than the lateness window
    refresh_rollups(engine)
    start_ns = int((datetime.now(timezone.utc) - timedelta(hours=5)).timestamp() * 1e9)
    lines_path = tmp_path / "a.jsonl"
    _record_runs(lines_path, 3, start_ns)
    # merge every line into one pretty-printed ExportTraceServiceRequest document
    docs = [json.loads(line) for line in lines_path.read_text().splitlines()]
    merged = {"resourceSpans": [rs for d in docs for rs in d["resourceSpans"]]}
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(merged, indent=2))
    assert main(["import", str(dump), "--db", db_url]) == 0
    assert "imported 9 spans" in capsys.readouterr().out
    assert _count(engine, AgentExecution) == 3
    analytics = AnalyticsEngine(engine, cache_ttl=0)
    end = datetime.now(timezone.utc)
    assert analytics.get_aggregations("executions", start=end - timedelta(hours=6), end=end)["value"].iloc[0] == 3
    assert analytics.get_aggregations("tool_calls", "tool", start=end - timedelta(hours=6), end=end).iloc[0].to_dict() == {"tool": "search", "value": 3.0}
    missing = tmp_path / "nope.jsonl"
    assert main(["import", str(missing), "--db", db_url]) == 1
    assert "unreadable" in capsys.readouterr().out


def test_gzipped_lines_with_a_bad_first_line(engine, tmp_path):
    import gzip

    source = tmp_path / "runs.jsonl"
    _record_runs(source, 2, time.time_ns() - 3600 * 10**9)
    packed = tmp_path / "runs.jsonl.gz"
    packed.write_bytes(gzip.compress(b"{oops\n\n" + source.read_bytes()))
    report = ETLPipeline(engine).run([packed])
    assert report.spans == 6 and _count(engine, Span) == 6
    assert [(r.location, r.reason.split(":")[0]) for r in report.rejected] == [(f"{packed}:1", "not valid JSON")]


def test_import_metrics_lines(engine, tmp_path):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from agentotel.instrumentation.exporters.otlp_json import metrics_to_otlp_json
    from agentotel.warehouse.models import Metric

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "offline-svc"}))
    counter = provider.get_meter("etl-test").create_counter("agent.requests")
    counter.add(3, {"agent": "helper"})
    counter.add(4, {"agent": "other"})
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps(metrics_to_otlp_json(reader.get_metrics_data())) + "\n")
    provider.shutdown()
    report = ETLPipeline(engine).run([path])
    assert report.metric_points == 2 and not report.rejected
    with engine.connect() as conn:
        values = sorted(v for (v,) in conn.execute(select(Metric.value).where(Metric.metric_name == "agent.requests")))
    assert values == [3.0, 4.0]
