"""End to end: instrumented LangGraph agent and OpenAI client → OTLP/gRPC → ``agentotel receive`` → warehouse."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import openai
import pytest
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import select

from agentotel.core import semconv as sc
from agentotel.instrumentation import AgentTracer, instrument
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.models import AgentExecution, LLMCall, Span, ToolCall
from tests.support.polling import wait_for
from tests.support.receiver import ReceiverProcess

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@contextmanager
def _receiver(db_url: str, tmp_path) -> Iterator[int]:
    """``agentotel receive`` in a subprocess (``tests/support/receiver.py``, its log in ``tmp_path``); yields its
    gRPC port."""
    with ReceiverProcess(db_url, tmp_path / "spool", tmp_path / "receiver.log") as receiver:
        yield receiver.grpc_port


def _rows(engine, model, timeout: float = 15.0, expect: int = 1):
    """The rows of ``model`` once there are at least ``expect`` (what there is when ``timeout`` runs out)."""
    rows: list = []

    def enough() -> bool:
        with engine.connect() as conn:
            rows[:] = conn.execute(select(model)).mappings().all()
        return len(rows) >= expect

    wait_for(enough, timeout=timeout, interval=0.2)
    return rows


@pytest.mark.slow
def test_agent_run_lands_in_the_warehouse(db_url, tmp_path, fake_llm):
    with _receiver(db_url, tmp_path) as grpc_port:
        tracer_provider, meter_provider = TracerProvider(shutdown_on_exit=False), MeterProvider(shutdown_on_exit=False)
        handle = instrument(service_name="e2e-agents", endpoint=f"http://127.0.0.1:{grpc_port}",
                            tracer_provider=tracer_provider, meter_provider=meter_provider,
                            performance_monitor=False, instrumentors=["openai", "langchain"])
        try:
            llm = ChatOpenAI(model="gpt-4o-mini", base_url=fake_llm.base_url, api_key="k", max_retries=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                agent = create_react_agent(llm, [add], name="calc")
            assert agent.invoke({"messages": [("user", "add 3 and 3")]})["messages"][-1].content == "Final answer: 6"
            client = openai.OpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0)
            with AgentTracer(tracer_provider=tracer_provider).trace_agent_call("streamer"):
                chunks = list(client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
                    stream_options={"include_usage": True}))
            assert chunks[-1].usage.total_tokens == 6
        finally:
            assert handle.shutdown(timeout=10)
        engine = create_db_engine(db_url)
        try:
            executions = {r["agent_name"]: r for r in _rows(engine, AgentExecution, expect=2)}
            llm_calls = _rows(engine, LLMCall, expect=3)
            tool_calls = _rows(engine, ToolCall)
            spans = _rows(engine, Span, expect=10)
        finally:
            engine.dispose()

    assert set(executions) == {"calc", "streamer"}, (tmp_path / "receiver.log").read_text()[-3000:]
    calc, streamer = executions["calc"], executions["streamer"]
    calc_llm = [c for c in llm_calls if c["execution_id"] == calc["id"]]
    assert len(calc_llm) == 2
    for call in calc_llm:
        assert call["provider"] == "openai" and call["request_model"] == "gpt-4o-mini"
        assert call["response_model"] == "gpt-4o-mini-2024-01-01" and call["operation"] == "chat"
        assert call["total_tokens"] == call["input_tokens"] + call["output_tokens"] > 0
    assert sorted(c["finish_reason"] for c in calc_llm) == ["stop", "tool_calls"]
    assert calc["tokens_used"] == sum(c["total_tokens"] for c in calc_llm)
    assert calc["success"] and calc["llm_call_count"] == 2 and calc["tool_call_count"] == 1
    assert calc["service_name"] == "e2e-agents" or calc["service_name"] is not None
    [tool_row] = tool_calls
    assert tool_row["tool_name"] == "add" and tool_row["tool_call_id"] == "call_fake_1" and tool_row["success"]
    assert tool_row["execution_id"] == calc["id"]

    [stream_call] = [c for c in llm_calls if c["execution_id"] == streamer["id"]]
    assert stream_call["streaming"] is True and stream_call["time_to_first_token_ms"] > 0
    assert stream_call["input_tokens"] == 1 and stream_call["output_tokens"] == 5
    assert streamer["tokens_used"] == 6

    types = {s["name"]: s["span_type"] for s in spans}
    assert types["invoke_agent calc"] == "agent" and types["chat gpt-4o-mini"] == "llm"
    assert types["execute_tool add"] == "tool" and types["invoke_agent streamer"] == "agent"
    assert {s["scope_name"] for s in spans if s["span_type"] == "llm"} == {
        "agentotel.instrumentation.langchain", "agentotel.instrumentation.openai"}


def test_content_event_fills_the_span_content(db_url, tmp_path, fake_llm):
    """EVENT_ONLY: the span carries no content; the gen_ai.client.inference.operation.details log record
    travels the OTLP logs path and the receiver puts its content onto that span."""
    from opentelemetry.sdk._logs import LoggerProvider

    from agentotel.warehouse.models import LogRecord

    with _receiver(db_url, tmp_path) as grpc_port:
        handle = instrument(service_name="e2e-events", endpoint=f"http://127.0.0.1:{grpc_port}",
                            tracer_provider=TracerProvider(shutdown_on_exit=False),
                            meter_provider=MeterProvider(shutdown_on_exit=False),
                            logger_provider=LoggerProvider(shutdown_on_exit=False), capture_content="EVENT_ONLY",
                            performance_monitor=False, instrumentors=["openai"])
        try:
            client = openai.OpenAI(base_url=fake_llm.base_url, api_key="k", max_retries=0)
            client.chat.completions.create(model="gpt-4o-mini", messages=[
                {"role": "system", "content": "be brief"}, {"role": "user", "content": "what is up"}])
        finally:
            assert handle.shutdown(timeout=10)
        engine = create_db_engine(db_url)
        try:
            wait_for(lambda: _rows(engine, Span)[0]["output"] is not None, timeout=15, interval=0.2)
            [span] = _rows(engine, Span)
            logs = [r for r in _rows(engine, LogRecord) if r["event_name"] == sc.EVENT_INFERENCE_DETAILS]
        finally:
            engine.dispose()
    assert span["name"] == "chat gpt-4o-mini", (tmp_path / "receiver.log").read_text()[-3000:]
    assert sc.INPUT_MESSAGES not in span["attributes"] and sc.OUTPUT_MESSAGES not in span["attributes"]
    [event] = logs
    assert (event["trace_id"], event["span_id"]) == (span["trace_id"], span["span_id"])
    assert event["scope_name"] == "agentotel.instrumentation.openai"
    assert json.loads(span["input"])[0] == {"role": "system", "parts": [{"type": "text", "content": "be brief"}]}
    assert json.loads(span["input"])[1]["parts"][0]["content"] == "what is up"
    assert json.loads(span["output"])[0]["parts"][0]["content"] == "echo: what is up"
