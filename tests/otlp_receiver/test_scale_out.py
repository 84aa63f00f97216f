"""Scale-out shown (issue 19 pt 6): two receivers on one PostgreSQL, each with its own spool, fed by trace-id
routing as the Collector's ``loadbalancing`` exporter does (every span and log record of a trace to receiver
hash(trace id) % 2, through the real OTLP/HTTP exporters), store exactly the tables one receiver stores for
the same input: spans (with the content GenAI events attach), calls, executions, agents, logs, rollups and
the content search index."""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from datetime import datetime

import pytest
from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import NonRecordingSpan, StatusCode
from sqlalchemy import text

from agentotel.processors.sample import Sample
from agentotel.warehouse.engine import create_db_engine
from tests.conftest import drop_postgres_database, new_postgres_database
from tests.otlp_receiver.support import genai_spans
from tests.support.polling import wait_for
from tests.support.receiver import start_receiver

TABLES = ("spans", "llm_calls", "tool_calls", "agent_executions", "agents", "logs", "rollup_executions", "rollup_llm",
          "rollup_tools", "span_content_index")  # fmt: skip
T0 = 1_765_000_000_000_000_000
SURROGATE = {"agents": {"id", "created_at", "updated_at", "last_seen_at"}}  # numbered or stamped at write time


def route(trace_id: int, receivers: int) -> int:
    """The receiver of a trace: a stable hash of its id (the loadbalancing exporter's routing_key: traceID)."""
    return zlib.crc32(trace_id.to_bytes(16, "big")) % receivers


def send(servers: Sequence, spans: Sequence[ReadableSpan], batch: int = 7) -> None:
    """Route each span, and two log records per trace (a GenAI content event for its first chat span, a plain
    log line), by trace id; half the traces' records go before the spans, half after; spans in batches."""
    n = len(servers)
    span_exporters = [OTLPSpanExporter(endpoint=f"http://127.0.0.1:{s.http_port}/v1/traces", timeout=10) for s in servers]
    log_providers = []
    for server in servers:
        provider = LoggerProvider(resource=Resource.create({"service.name": "svc"}))
        provider.add_log_record_processor(SimpleLogRecordProcessor(
            OTLPLogExporter(endpoint=f"http://127.0.0.1:{server.http_port}/v1/logs", timeout=10)))  # fmt: skip
        log_providers.append(provider)
    chats = {}
    for span in spans:
        if span.name.startswith("chat"):
            chats.setdefault(span.context.trace_id, span)

    def emit_logs(first_half: bool) -> None:
        for i, (trace_id, chat) in enumerate(sorted(chats.items())):
            if (i % 2 == 0) != first_half:
                continue
            logger = log_providers[route(trace_id, n)].get_logger("opentelemetry.instrumentation.openai_v2")
            context = trace.set_span_in_context(NonRecordingSpan(chat.get_span_context()))
            stamp = T0 + i * 1_000_000
            logger.emit(LogRecord(event_name="gen_ai.user.message", body={"content": f"Where is order {i}?"},
                                  context=context, timestamp=stamp, observed_timestamp=stamp))  # fmt: skip
            logger.emit(LogRecord(body=f"lookup returned {i} rows", severity_number=SeverityNumber.INFO,
                                  severity_text="INFO", context=context, timestamp=stamp + 1,
                                  observed_timestamp=stamp + 1))  # fmt: skip

    emit_logs(first_half=True)
    shares: list[list[ReadableSpan]] = [[] for _ in servers]
    for span in spans:
        shares[route(span.context.trace_id, n)].append(span)
    for exporter, share in zip(span_exporters, shares, strict=True):
        for start in range(0, len(share), batch):
            assert exporter.export(share[start : start + batch]) == SpanExportResult.SUCCESS
        exporter.shutdown()
    emit_logs(first_half=False)
    for provider in log_providers:
        provider.shutdown()


def normalized(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def tables(engine) -> dict[str, list[tuple]]:
    """Every row of every telemetry table (agent ids replaced by the agent's name and version), sorted."""
    out: dict[str, list[tuple]] = {}
    with engine.connect() as conn:
        agents = {row.id: (row.name, row.version) for row in conn.execute(text("SELECT id, name, version FROM agents"))}
        for table in TABLES:
            result = conn.execute(text(f"SELECT * FROM {table}"))  # noqa: S608 - fixed table names
            names = [c for c in result.keys() if c not in SURROGATE.get(table, set())]
            rows = []
            for row in result.mappings():
                values = {c: normalized(row[c]) for c in names}
                if "agent_id" in values:
                    values["agent_id"] = agents.get(values["agent_id"])
                rows.append(tuple(sorted(values.items(), key=lambda kv: kv[0])))
            out[table] = sorted(rows, key=repr)
    return out


def run(urls: Sequence[str], spools: Sequence[str], spans: Sequence[ReadableSpan], expected: int, **settings) -> None:
    """Receivers on ``urls`` (one each), fed by trace-id routing, stopped once ``expected`` spans are stored and
    nothing waits in a spool or for a sampling decision."""
    servers = [start_receiver(url, spool, **settings) for url, spool in zip(urls, spools, strict=True)]
    try:
        send(servers, spans)
        with servers[0].engine.connect() as conn:

            def settled() -> bool:
                stored = conn.execute(text("SELECT count(*) FROM spans")).scalar_one()
                busy = any(s.spool.pending_bytes() or (s.drain.sampler and s.drain.sampler.held_spans) for s in servers)
                return stored == expected and not busy

            assert wait_for(settled, timeout=60)
    finally:
        for server in servers:
            server.stop()  # flushes the rollups of the minutes it wrote


def one_and_two(tmp_path, spans: Sequence[ReadableSpan], expected: int, **settings) -> tuple[dict, dict]:
    """The tables of one receiver, and of two routed receivers on one database, for the same input."""
    one, shared = new_postgres_database(), new_postgres_database()
    try:
        run([one], [str(tmp_path / "spool-one")], spans, expected, **settings)
        run([shared, shared], [str(tmp_path / "spool-a"), str(tmp_path / "spool-b")], spans, expected, **settings)
        engines = [create_db_engine(one), create_db_engine(shared)]
        try:
            return tables(engines[0]), tables(engines[1])
        finally:
            for engine in engines:
                engine.dispose()
    finally:
        drop_postgres_database(one)
        drop_postgres_database(shared)


def workload() -> list[ReadableSpan]:
    spans = [*genai_spans(12), *genai_spans(4, agent="billing-agent", service="billing", error=True),
             *genai_spans(4, agent="triage-agent", service="triage")]  # fmt: skip
    random.Random(19).shuffle(spans)  # spans of a trace in any order, across batches
    assert {route(s.context.trace_id, 2) for s in spans} == {0, 1}
    return spans


@pytest.mark.postgres
@pytest.mark.slow
def test_two_receivers_routed_by_trace_id_store_the_same_tables_as_one(tmp_path):
    spans = workload()
    single, pair = one_and_two(tmp_path, spans, len(spans))
    assert len(single["spans"]) == len(spans) == 80 and len(single["agent_executions"]) == 20
    assert single["rollup_llm"] and single["rollup_tools"] and len(single["logs"]) == 40
    assert sum(1 for row in single["spans"] if dict(row)["input"]) == 20  # each trace's content event attached
    assert single["span_content_index"]
    for table in TABLES:
        assert pair[table] == single[table], table


@pytest.mark.postgres
@pytest.mark.slow
def test_two_routed_receivers_keep_the_same_whole_traces_under_sampling(tmp_path):
    """Tail sampling decides per trace; routing brings every span of a trace to one receiver, so two receivers
    keep exactly the traces one keeps: every error trace whole, the others by trace id."""
    spans, sampler = workload(), Sample(0.5)
    errors = {s.context.trace_id for s in spans if s.status.status_code == StatusCode.ERROR}
    kept = {(f"{s.context.trace_id:032x}", f"{s.context.span_id:016x}") for s in spans
            if s.context.trace_id in errors or sampler.keeps_trace(f"{s.context.trace_id:032x}")}  # fmt: skip
    assert len(errors) == 4 and len(kept) < len(spans)
    single, pair = one_and_two(tmp_path, spans, len(kept), sample_rate=0.5, sample_decision_wait=5.0)
    assert {(dict(row)["trace_id"], dict(row)["span_id"]) for row in single["spans"]} == kept
    for table in TABLES:
        assert pair[table] == single[table], table
