"""Helpers for receiver tests: GenAI traces from the real OTel SDK, row counts (the receiver itself:
``tests/support/receiver.py``)."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import func, select, text


def genai_spans(n_traces: int = 1, service: str = "svc", agent: str = "support-agent", error: bool = False):
    """Finished SDK spans: invoke_agent → chat, execute_tool, chat (GenAI semconv attributes)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": "2.1.0"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.receiver")
    for _ in range(n_traces):
        with tracer.start_as_current_span(f"invoke_agent {agent}", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.provider.name": "openai",
        }) as agent_span:  # fmt: skip
            for step, (tokens_in, tokens_out) in enumerate(((100, 20), (150, 30))):
                with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes={
                    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": tokens_in, "gen_ai.usage.output_tokens": tokens_out,
                    "gen_ai.response.finish_reasons": ["tool_calls" if step == 0 else "stop"],
                }):  # fmt: skip
                    pass
                if step == 0:
                    with tracer.start_as_current_span("execute_tool lookup", attributes={
                        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup",
                        "gen_ai.tool.call.id": "call_1",
                    }):  # fmt: skip
                        pass
            if error:
                agent_span.set_status(Status(StatusCode.ERROR, "agent failed"))
    provider.shutdown()
    return exporter.get_finished_spans()


def count(engine, table: str) -> int:
    from agentotel.warehouse.models import Base

    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Base.metadata.tables[table])).scalar_one()


def scalar(engine, sql: str):
    with engine.connect() as conn:
        return conn.execute(text(sql)).scalar()
