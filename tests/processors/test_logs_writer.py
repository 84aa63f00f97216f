"""OTLP logs → ``logs``; GenAI content events land on their span whichever arrives first."""

from __future__ import annotations

import json

import pytest
from opentelemetry import trace
from opentelemetry._logs import LogRecord as ApiLogRecord
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._internal._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from sqlalchemy import func, select

from agentotel.processors.logs import attach_pending_content, write_logs
from agentotel.warehouse.models import LogRecord, Span
from tests.processors.support import insert_span

LOGS = LogRecord.__table__
SPANS = Span.__table__
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"


class EventEmitter:
    """Log records through the real OTel SDK logs pipeline, encoded as its OTLP exporters send them."""

    def __init__(self) -> None:
        self.exporter = InMemoryLogRecordExporter()
        self.provider = LoggerProvider(resource=Resource.create({"service.name": "chatbot"}))
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter))
        self.logger = self.provider.get_logger("opentelemetry.instrumentation.openai_v2")

    def emit(self, event_name=None, body=None, attributes=None, span=(TRACE_ID, SPAN_ID), severity=None, timestamp=None):
        context = None
        if span:
            span_context = SpanContext(int(span[0], 16), int(span[1], 16), False, TraceFlags(1))
            context = trace.set_span_in_context(NonRecordingSpan(span_context))
        self.logger.emit(
            ApiLogRecord(
                event_name=event_name, body=body, attributes=attributes, context=context,
                severity_number=severity, timestamp=timestamp,
            )
        )  # fmt: skip

    def request(self) -> ExportLogsServiceRequest:
        records = self.exporter.get_finished_logs()
        self.exporter.clear()
        return encode_logs(records)


def legacy_chat(emitter: EventEmitter, span=(TRACE_ID, SPAN_ID)) -> None:
    """What contrib's openai-v2 instrumentation emits by default (OTel 1.28–1.36 events)."""
    emitter.emit("gen_ai.system.message", {"content": "You are terse."}, {"gen_ai.system": "openai"}, span)
    emitter.emit("gen_ai.user.message", {"content": "Weather in Paris?"}, {"gen_ai.system": "openai"}, span)
    emitter.emit(
        "gen_ai.choice",
        {
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
                ],
            },
        },
        {"gen_ai.system": "openai"},
        span,
    )


EXPECTED_INPUT = [
    {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
]
EXPECTED_OUTPUT = [
    {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}],
        "finish_reason": "tool_calls",
    }
]


def _span_content(engine, span=(TRACE_ID, SPAN_ID)):
    with engine.connect() as conn:
        row = conn.execute(
            select(SPANS.c.input, SPANS.c.output).where(SPANS.c.trace_id == span[0], SPANS.c.span_id == span[1])
        ).one()
    return (json.loads(row.input) if row.input else None, json.loads(row.output) if row.output else None)


def _log_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(LOGS)).scalar_one()


def test_events_after_their_span_fill_its_content(engine):
    insert_span(engine, TRACE_ID, SPAN_ID)
    emitter = EventEmitter()
    legacy_chat(emitter)
    assert write_logs(engine, emitter.request()) == 3
    assert _span_content(engine) == (EXPECTED_INPUT, EXPECTED_OUTPUT)


def test_events_before_their_span_are_pulled_on_when_it_arrives(engine):
    emitter = EventEmitter()
    legacy_chat(emitter)
    write_logs(engine, emitter.request())
    with engine.connect() as conn:
        stored = conn.execute(select(LOGS.c.event_name, LOGS.c.trace_id, LOGS.c.span_id).order_by(LOGS.c.seq)).all()
    assert stored == [
        ("gen_ai.system.message", TRACE_ID, SPAN_ID),
        ("gen_ai.user.message", TRACE_ID, SPAN_ID),
        ("gen_ai.choice", TRACE_ID, SPAN_ID),
    ]
    insert_span(engine, TRACE_ID, SPAN_ID)
    with engine.begin() as conn:  # the span writer's after_insert hook, in its transaction
        attach_pending_content(conn, [(TRACE_ID, SPAN_ID)])
    assert _span_content(engine) == (EXPECTED_INPUT, EXPECTED_OUTPUT)


def test_events_split_over_batches_and_resent_give_the_same_content(engine):
    emitter = EventEmitter()
    emitter.emit("gen_ai.user.message", {"content": "first"})
    first = emitter.request()
    emitter.emit("gen_ai.assistant.message", {"content": "reply"})
    emitter.emit("gen_ai.user.message", {"content": "second"})
    emitter.emit("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": {"content": "done"}})
    second = emitter.request()
    write_logs(engine, second)  # later batch first
    insert_span(engine, TRACE_ID, SPAN_ID)
    write_logs(engine, first)
    write_logs(engine, first)  # a retry
    assert _log_count(engine) == 4
    content_in, content_out = _span_content(engine)
    assert [(m["role"], m["parts"][0]["content"]) for m in content_in] == [
        ("user", "first"),
        ("assistant", "reply"),
        ("user", "second"),
    ]
    assert content_out == [{"role": "assistant", "parts": [{"type": "text", "content": "done"}], "finish_reason": "stop"}]


def test_operation_details_event_wins_and_keeps_what_it_lacks(engine):
    insert_span(engine, TRACE_ID, SPAN_ID, input='[{"role": "user", "parts": []}]', output=None)
    other_span = (TRACE_ID, "00000000000000aa")
    insert_span(engine, *other_span, input="from span attributes", output=None)
    messages_in = [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
    messages_out = [{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}], "finish_reason": "stop"}]
    emitter = EventEmitter()
    emitter.emit(
        "gen_ai.client.inference.operation.details",
        attributes={
            "gen_ai.input.messages": json.dumps(messages_in),
            "gen_ai.output.messages": json.dumps(messages_out),
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": "Be kind"}]),
        },
    )
    emitter.emit(  # older SDKs name the event with an attribute; this one carries only the output
        None,
        attributes={"event.name": "gen_ai.client.inference.operation.details", "gen_ai.output.messages": json.dumps(messages_out)},
        span=other_span,
    )
    write_logs(engine, emitter.request())
    content_in, content_out = _span_content(engine)
    assert content_in == [{"role": "system", "parts": [{"type": "text", "content": "Be kind"}]}, *messages_in]
    assert content_out == messages_out
    with engine.connect() as conn:
        kept = conn.execute(select(SPANS.c.input).where(SPANS.c.span_id == other_span[1])).scalar_one()
    assert kept == "from span attributes"
    with engine.connect() as conn:
        filled = conn.execute(select(SPANS.c.output).where(SPANS.c.span_id == other_span[1])).scalar_one()
    assert json.loads(filled) == messages_out


def test_legacy_prompt_and_completion_events(engine):
    insert_span(engine, TRACE_ID, SPAN_ID)
    emitter = EventEmitter()
    emitter.emit("gen_ai.content.prompt", attributes={"gen_ai.prompt": json.dumps([{"role": "user", "content": "2+2?"}])})
    emitter.emit("gen_ai.content.completion", attributes={"gen_ai.completion": "4"})
    write_logs(engine, emitter.request())
    assert _span_content(engine) == (
        [{"role": "user", "parts": [{"type": "text", "content": "2+2?"}]}],
        [{"role": "assistant", "parts": [{"type": "text", "content": "4"}]}],
    )


def test_other_log_records_are_stored_as_they_are(engine):
    insert_span(engine, TRACE_ID, SPAN_ID)
    emitter = EventEmitter()
    emitter.emit(
        body="cache miss for key 42",
        attributes={"code.function": "lookup", "retry": 2},
        severity=SeverityNumber.WARN,
        timestamp=1_795_000_000_123_456_789,
    )
    emitter.emit(body={"structured": True, "n": 3}, span=None, timestamp=1_795_000_000_000_000_000)
    emitter.emit("gen_ai.evaluation.result", attributes={"gen_ai.evaluation.name": "relevance", "gen_ai.evaluation.score.value": 0.9})
    request = emitter.request()
    assert write_logs(engine, request) == 3
    assert write_logs(engine, request) == 3
    with engine.connect() as conn:
        rows = conn.execute(select(LOGS).order_by(LOGS.c.seq)).all()
    assert len(rows) == 3
    plain, structured, evaluation = rows
    assert (plain.body, plain.severity_number, plain.trace_id, plain.span_id) == ("cache miss for key 42", 13, TRACE_ID, SPAN_ID)
    assert plain.attributes == {"code.function": "lookup", "retry": 2}
    assert plain.service_name == "chatbot" and plain.scope_name == "opentelemetry.instrumentation.openai_v2"
    assert plain.resource_attributes["service.name"] == "chatbot"
    assert plain.time_unix_nano == 1_795_000_000_123_456_789 and plain.timestamp.microsecond == 123456
    assert plain.event_name is None and len(plain.id) == 64
    assert json.loads(structured.body) == {"structured": True, "n": 3}
    assert structured.trace_id is None and structured.span_id is None
    assert evaluation.event_name == "gen_ai.evaluation.result"
    assert evaluation.attributes["gen_ai.evaluation.score.value"] == 0.9
    assert _span_content(engine) == (None, None)  # none of these is content


def test_content_is_redacted_before_storage(engine):
    from agentotel.processors.redact import redact_text

    secret = "Mail the invoice to alice.smith@example.com please"
    assert redact_text(secret) != secret, "the redactor must change an e-mail address"
    insert_span(engine, TRACE_ID, SPAN_ID)
    emitter = EventEmitter()
    emitter.emit("gen_ai.user.message", {"content": secret})
    emitter.emit(body=secret, span=None)
    write_logs(engine, emitter.request())
    with engine.connect() as conn:
        stored = [row.body for row in conn.execute(select(LOGS.c.body))]
        span_input = conn.execute(select(SPANS.c.input)).scalar_one()
    for text in [*stored, span_input]:
        assert "alice.smith@example.com" not in text
    assert json.loads(span_input)[0]["parts"][0]["content"] == redact_text(secret)


def test_content_from_span_events_matches_the_log_record_form():
    """The same legacy events carried as span events (fields in attributes, JSON strings) normalize alike."""
    from agentotel.processors.logs import content_from_events

    span_events = [
        ("gen_ai.system.message", None, {"content": "You are terse.", "gen_ai.system": "openai"}),
        ("gen_ai.user.message", None, {"content": "Weather in Paris?"}),
        ("gen_ai.choice", None, {"index": 0, "finish_reason": "tool_calls", "message": json.dumps(
            {"role": "assistant", "tool_calls": [{"id": "call_1", "type": "function",
             "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]})}),
    ]  # fmt: skip
    content_in, content_out = content_from_events(span_events)
    assert (json.loads(content_in), json.loads(content_out)) == (EXPECTED_INPUT, EXPECTED_OUTPUT)


@pytest.mark.slow
def test_events_written_while_their_span_commits_are_not_lost(engine, dialect):
    """PostgreSQL, two writers at once: the span transaction is open when the events arrive."""
    import threading

    from sqlalchemy import insert

    if dialect != "postgresql":
        pytest.skip("SQLite serializes writers (BEGIN IMMEDIATE)")
    emitter = EventEmitter()
    legacy_chat(emitter)
    request = emitter.request()
    done = threading.Event()
    with engine.connect() as span_conn:
        span_tx = span_conn.begin()
        # the span writer: insert the span and run the hook, but do not commit yet
        template = _span_row()
        span_conn.execute(insert(SPANS), template)
        attach_pending_content(span_conn, [(TRACE_ID, SPAN_ID)])
        writer = threading.Thread(target=lambda: (write_logs(engine, request), done.set()))
        writer.start()
        assert not done.wait(0.5), "the log writer must wait for the open span transaction"
        span_tx.commit()
        writer.join(timeout=10)
    assert done.is_set()
    assert _span_content(engine) == (EXPECTED_INPUT, EXPECTED_OUTPUT)


def _span_row() -> dict:
    from datetime import datetime, timedelta, timezone

    start = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    return {
        "trace_id": TRACE_ID, "span_id": SPAN_ID, "parent_span_id": None, "name": "chat", "kind": "CLIENT",
        "span_type": "llm", "service_name": "svc", "start_time": start, "end_time": start + timedelta(seconds=1),
        "duration_ms": 1000.0, "status_code": "UNSET", "start_time_unix_nano": 0, "end_time_unix_nano": 10**9,
    }  # fmt: skip


def test_content_events_fill_only_their_own_projects_span(engine):
    """A key of project alpha naming the trace and span ids of beta's span (issue 20): its content events are
    stored under alpha and never fill beta's span, whether they come after the span or before it; beta's own
    events do. (The receiver stamps each request with its key's project: ``otlp_receiver.tenancy``.)"""
    from sqlalchemy import update

    from agentotel.otlp_receiver.tenancy import stamp_project

    def events(project: str, span=(TRACE_ID, SPAN_ID)) -> ExportLogsServiceRequest:
        emitter = EventEmitter()
        legacy_chat(emitter, span)
        request = emitter.request()
        stamp_project(request, "logs", project)
        return request

    insert_span(engine, TRACE_ID, SPAN_ID)
    with engine.begin() as conn:
        conn.execute(update(SPANS).values(project_id="beta"))
    assert write_logs(engine, events("alpha")) == 3
    assert _span_content(engine) == (None, None)  # alpha's events stored, beta's span untouched
    with engine.connect() as conn:
        assert conn.execute(select(LOGS.c.project_id).distinct()).scalars().all() == ["alpha"]
    assert write_logs(engine, events("beta")) == 3
    assert _span_content(engine) == (EXPECTED_INPUT, EXPECTED_OUTPUT)

    other = ("1af7651916cd43dd8448eb211c80319c", "c7ad6b7169203331")  # events first, then the span arrives
    write_logs(engine, events("alpha", other))
    insert_span(engine, *other)
    with engine.begin() as conn:
        conn.execute(update(SPANS).where(SPANS.c.trace_id == other[0]).values(project_id="beta"))
        attach_pending_content(conn, [other])
    assert _span_content(engine, other) == (None, None)
