"""AgentTracer: context managers and decorators, sync and async, emitting GenAI semconv spans."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation import AgentTracer
from tests.instrumentation.support import by_name, points


@pytest.fixture
def tracer(tracer_provider, meter_provider) -> AgentTracer:
    return AgentTracer(tracer_provider=tracer_provider, meter_provider=meter_provider)


def test_context_managers_build_the_tree(tracer, span_exporter, metric_reader):
    with tracer.trace_agent_call("planner", agent_id="a1", version="2", conversation_id="c9") as run:
        with tracer.trace_llm_call("gpt-4o-mini", server_address="api.example.com", server_port=443) as llm:
            llm.record_response({"id": "r1", "model": "gpt-4o-mini-2024", "usage": {
                "prompt_tokens": 12, "completion_tokens": 3}, "choices": [{"finish_reason": "tool_calls"}]})
        with tracer.trace_tool_call("search", call_id="call_1", arguments={"q": "x"}) as tool:
            tool.set_result("found")
        tracer.add_span_attribute("custom.key", "v")
        run.set_attribute("other.key", 1)
    spans = span_exporter.get_finished_spans()
    agent = by_name(spans, "invoke_agent planner")
    assert agent.attributes[sc.AGENT_ID] == "a1" and agent.attributes[sc.CONVERSATION_ID] == "c9"
    assert agent.attributes["custom.key"] == "v" and agent.attributes["other.key"] == 1
    llm_span = by_name(spans, "chat gpt-4o-mini")
    assert llm_span.kind is SpanKind.CLIENT and llm_span.parent.span_id == agent.context.span_id
    assert llm_span.attributes[sc.USAGE_INPUT] == 12 and llm_span.attributes[sc.RESPONSE_ID] == "r1"
    assert llm_span.attributes[sc.RESPONSE_FINISH_REASONS] == ("tool_calls",)
    tool_span = by_name(spans, "execute_tool search")
    assert tool_span.attributes[sc.TOOL_CALL_ID] == "call_1" and tool_span.parent.span_id == agent.context.span_id
    assert sc.TOOL_CALL_ARGUMENTS not in tool_span.attributes and sc.TOOL_CALL_RESULT not in tool_span.attributes
    assert points(metric_reader, sc.METRIC_AGENT_EXECUTIONS)[0].attributes[sc.OUTCOME] == "success"
    assert points(metric_reader, sc.METRIC_TOOL_CALLS)[0].value == 1
    assert sum(p.sum for p in points(metric_reader, sc.METRIC_TOKEN_USAGE)) == 15


def test_decorators_sync_and_async(tracer, span_exporter):
    @tracer.trace_tool_call()
    def lookup(city: str) -> str:
        return f"sunny in {city}"

    @tracer.trace_agent_call("weather")
    async def agent(city: str) -> str:
        await asyncio.sleep(0)
        return lookup(city)

    assert asyncio.run(agent("Oslo")) == "sunny in Oslo"
    assert asyncio.run(agent("Rome")) == "sunny in Rome"
    spans = span_exporter.get_finished_spans()
    agents = [s for s in spans if s.name == "invoke_agent weather"]
    tools = [s for s in spans if s.name == "execute_tool lookup"]
    assert len(agents) == 2 and len(tools) == 2
    assert {t.parent.span_id for t in tools} == {a.context.span_id for a in agents}
    assert len({a.context.trace_id for a in agents}) == 2


async def test_async_context_manager(tracer, span_exporter):
    async with tracer.trace_agent_call("a"):
        async with tracer.trace_tool_call("t"):
            await asyncio.sleep(0)
    tool = by_name(span_exporter.get_finished_spans(), "execute_tool t")
    assert tool.parent is not None


def test_errors_propagate_unchanged_and_mark_spans(tracer, span_exporter, metric_reader):
    error = KeyError("missing")

    @tracer.trace_tool_call("fragile")
    def fragile() -> None:
        raise error

    with pytest.raises(KeyError) as info, tracer.trace_agent_call("runner"):
        fragile()
    assert info.value is error
    spans = span_exporter.get_finished_spans()
    for name in ("execute_tool fragile", "invoke_agent runner"):
        span = by_name(spans, name)
        assert span.status.status_code is StatusCode.ERROR and span.attributes[sc.ERROR_TYPE] == "KeyError"
    assert points(metric_reader, sc.METRIC_AGENT_EXECUTIONS)[0].attributes[sc.OUTCOME] == "error"


def test_start_and_end_trace(tracer, span_exporter):
    tracer.trace_agent_call("loop").start()
    tracer.trace_tool_call("step").start()
    tracer.end_trace()
    assert [s.name for s in span_exporter.get_finished_spans()] == ["execute_tool step"]
    tracer.trace_tool_call("step2").start()
    tracer.end_trace(root=True)
    assert [s.name for s in span_exporter.get_finished_spans()][-1] == "invoke_agent loop"
    tracer.end_trace()  # nothing open: no error


def test_openai_call_inside_llm_scope_makes_no_second_span(tracer, instrument_openai, client, span_exporter):
    @tracer.trace_llm_call("gpt-4o-mini")
    def ask(question: str):
        return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": question}])

    ask("why")
    [span] = span_exporter.get_finished_spans()
    assert span.instrumentation_scope.name == "agentotel.instrumentation.agent_tracer"
    assert span.attributes[sc.USAGE_INPUT] == 1 and span.attributes[sc.RESPONSE_MODEL] == "gpt-4o-mini-2024-01-01"


def test_content_capture_opt_in(tracer_provider, span_exporter):
    tracer = AgentTracer(tracer_provider=tracer_provider, capture_content=True)

    @tracer.trace_tool_call("calc")
    def calc(a: int, b: int = 2) -> int:
        return a * b

    calc(4)
    [span] = span_exporter.get_finished_spans()
    assert json.loads(span.attributes[sc.TOOL_CALL_ARGUMENTS]) == {"a": 4}
    assert span.attributes[sc.TOOL_CALL_RESULT] == "8"
