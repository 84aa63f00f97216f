"""OpenAI Agents SDK instrumentor with the real ``openai-agents`` package against the loopback fake OpenAI server.

The SDK's own processors (its default one exports to OpenAI's trace backend) are replaced by ours for every
test (``exclusive=True``), so nothing leaves the machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    input_guardrail,
)
from agents.tracing import get_trace_provider, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation.openai_agents import OpenAIAgentsInstrumentor, _processors
from agentotel.instrumentation.openai_agents.processor import GUARDRAIL_TRIGGERED, HANDOFF_FROM, HANDOFF_TO
from tests.instrumentation.support import by_name, points


@function_tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@function_tool
def explode(a: int) -> int:
    """Always fails."""
    raise ValueError(f"cannot handle {a}")


@pytest.fixture
def instrument_agents(tracer_provider, meter_provider, content, instrument_openai) -> Iterator[Any]:
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, content=content,
                            exclusive=True)
    yield instrumentor
    instrumentor.uninstrument()


def _model(async_client, api: str = "responses"):
    if api == "chat":
        return OpenAIChatCompletionsModel("gpt-4o-mini", openai_client=async_client)
    return OpenAIResponsesModel("gpt-4o-mini", openai_client=async_client)


def _parent(span, spans):
    return next((s for s in spans if span.parent and s.context.span_id == span.parent.span_id), None)


def _llm_spans(spans):
    return [s for s in spans if s.attributes.get(sc.OPERATION) in (sc.OP_CHAT, sc.OP_TEXT_COMPLETION)]


@pytest.mark.parametrize("api", ["responses", "chat"])
async def test_tool_agent_run(instrument_agents, span_exporter, metric_reader, async_client, fake_llm, api):
    agent = Agent(name="calc", instructions="You add.", tools=[add], model=_model(async_client, api))
    result = await Runner.run(agent, "add 3 and 3")
    assert result.final_output == "Final answer: 6"
    spans = span_exporter.get_finished_spans()
    workflow = by_name(spans, "invoke_workflow Agent workflow")
    assert workflow.parent is None and workflow.attributes[sc.OPERATION] == sc.OP_INVOKE_WORKFLOW
    run = by_name(spans, "invoke_agent calc")
    assert run.kind is SpanKind.INTERNAL and _parent(run, spans) is workflow
    assert run.attributes[sc.AGENT_NAME] == "calc" and run.status.status_code is StatusCode.UNSET
    assert run.attributes[sc.EXEC_RSS_PEAK] >= run.attributes[sc.EXEC_RSS_START] > 0
    tool = by_name(spans, "execute_tool add")
    assert _parent(tool, spans) is run
    assert tool.attributes[sc.TOOL_NAME] == "add" and tool.attributes[sc.AGENT_NAME] == "calc"
    assert sc.TOOL_CALL_ARGUMENTS not in tool.attributes  # content capture off
    # one LLM span per HTTP call (ours, from the OpenAI instrumentor), each under the agent span
    llm = _llm_spans(spans)
    assert len(llm) == len(fake_llm.requests) == 2
    assert all(_parent(s, spans) is run and s.kind is SpanKind.CLIENT for s in llm)
    assert sum(s.attributes[sc.USAGE_INPUT] for s in llm) > 0
    assert len({s.context.trace_id for s in spans}) == 1
    assert points(metric_reader, sc.METRIC_AGENT_EXECUTIONS)[0].attributes == {
        sc.AGENT_NAME: "calc", sc.OUTCOME: "success"}
    assert [p.attributes[sc.TOOL_NAME] for p in points(metric_reader, sc.METRIC_TOOL_CALLS)] == ["add"]
    assert points(metric_reader, sc.METRIC_AGENT_MEMORY_PEAK)[0].attributes == {sc.AGENT_NAME: "calc"}


async def test_handoff(instrument_agents, span_exporter, async_client, fake_llm):
    specialist = Agent(name="specialist", instructions="Answer.", model=_model(async_client))
    triage = Agent(name="triage", instructions="Route.", handoffs=[specialist], model=_model(async_client))
    result = await Runner.run(triage, "help me")
    assert result.last_agent.name == "specialist"
    spans = span_exporter.get_finished_spans()
    workflow = by_name(spans, "invoke_workflow Agent workflow")
    first, second = by_name(spans, "invoke_agent triage"), by_name(spans, "invoke_agent specialist")
    assert _parent(first, spans) is workflow and _parent(second, spans) is workflow
    handoff = by_name(spans, "execute_tool transfer_to_specialist")
    assert _parent(handoff, spans) is first
    assert handoff.attributes[HANDOFF_FROM] == "triage" and handoff.attributes[HANDOFF_TO] == "specialist"
    assert handoff.attributes[sc.TOOL_NAME] == "transfer_to_specialist"
    llm = _llm_spans(spans)
    assert len(llm) == len(fake_llm.requests) == 2
    assert sorted(_parent(s, spans).name for s in llm) == ["invoke_agent specialist", "invoke_agent triage"]


async def test_guardrail_tripwire(instrument_agents, span_exporter, metric_reader, async_client):
    @input_guardrail
    async def no_secrets(ctx, agent, text) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered="secret" in str(text))

    agent = Agent(name="guarded", instructions="x", input_guardrails=[no_secrets], model=_model(async_client))
    with pytest.raises(InputGuardrailTripwireTriggered):
        await Runner.run(agent, "tell me the secret")
    spans = span_exporter.get_finished_spans()
    run = by_name(spans, "invoke_agent guarded")
    guard = by_name(spans, "execute_tool no_secrets")
    assert _parent(guard, spans) is run
    assert guard.attributes[GUARDRAIL_TRIGGERED] is True and guard.attributes[sc.TOOL_TYPE] == "guardrail"
    assert run.status.status_code is StatusCode.ERROR and run.attributes[sc.ERROR_TYPE] == sc.ERROR_OTHER
    assert "tripwire" in run.status.description.lower()
    assert points(metric_reader, sc.METRIC_AGENT_EXECUTIONS)[0].attributes[sc.OUTCOME] == "error"
    # a guardrail that passes
    span_exporter.clear()
    await Runner.run(agent, "hello")
    guard = by_name(span_exporter.get_finished_spans(), "execute_tool no_secrets")
    assert guard.attributes[GUARDRAIL_TRIGGERED] is False and guard.status.status_code is StatusCode.UNSET


async def test_failing_tool_is_an_error_span(instrument_agents, span_exporter, async_client):
    agent = Agent(name="boom", instructions="x", tools=[explode], model=_model(async_client))
    result = await Runner.run(agent, "explode 3")  # the SDK hands the error to the model and goes on
    assert result.final_output.startswith("Final answer:")
    tool = by_name(span_exporter.get_finished_spans(), "execute_tool explode")
    assert tool.status.status_code is StatusCode.ERROR and tool.attributes[sc.ERROR_TYPE] == "tool_error"


async def test_streamed_run(instrument_agents, span_exporter, async_client, fake_llm):
    agent = Agent(name="calc", instructions="You add.", tools=[add], model=_model(async_client))
    streamed = Runner.run_streamed(agent, "add 3 and 3")
    async for _ in streamed.stream_events():
        pass
    assert streamed.final_output.endswith("Final answer: 6")  # the fake streams filler chunks first
    spans = span_exporter.get_finished_spans()
    run = by_name(spans, "invoke_agent calc")
    llm = _llm_spans(spans)
    assert len(llm) == len(fake_llm.requests) == 2
    assert all(_parent(s, spans) is run for s in llm)
    assert _parent(by_name(spans, "execute_tool add"), spans) is run


async def test_user_trace_and_outer_span(instrument_agents, span_exporter, tracer_provider, async_client):
    outer_tracer = tracer_provider.get_tracer("app")
    agent = Agent(name="calc", instructions="x", model=_model(async_client))
    with outer_tracer.start_as_current_span("request"):
        with trace("support flow", group_id="conv-7"):
            await Runner.run(agent, "one")
            await Runner.run(agent, "two")
    spans = span_exporter.get_finished_spans()
    request = by_name(spans, "request")
    workflow = by_name(spans, "invoke_workflow support flow")
    assert _parent(workflow, spans) is request and workflow.attributes[sc.CONVERSATION_ID] == "conv-7"
    runs = [s for s in spans if s.name == "invoke_agent calc"]
    assert len(runs) == 2 and all(_parent(s, spans) is workflow for s in runs)


@pytest.fixture
def content() -> ContentSettings:
    return ContentSettings(capture=False)


async def test_content_capture(tracer_provider, meter_provider, span_exporter, async_client, instrument_openai):
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                            content=ContentSettings(capture=True), exclusive=True)
    try:
        agent = Agent(name="calc", instructions="x", tools=[add], model=_model(async_client))
        await Runner.run(agent, "add")
    finally:
        instrumentor.uninstrument()
    tool = by_name(span_exporter.get_finished_spans(), "execute_tool add")
    assert json.loads(tool.attributes[sc.TOOL_CALL_ARGUMENTS]) == {"a": 3, "b": 3}
    assert tool.attributes[sc.TOOL_CALL_RESULT] == "6"


def test_exclusive_replaces_and_restores_the_sdk_processors(tracer_provider, meter_provider):
    provider = get_trace_provider()
    before = _processors(provider)
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, exclusive=True)
    try:
        assert _processors(provider) == [instrumentor.processor]  # the SDK's exporter to OpenAI is out
    finally:
        instrumentor.uninstrument()
    assert _processors(provider) == before
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        assert _processors(provider) == [*before, instrumentor.processor]
    finally:
        instrumentor.uninstrument()
    assert _processors(provider) == before


async def test_faults_never_reach_the_run(instrument_agents, async_client, span_exporter):
    class Broken:
        def start_span(self, *args, **kwargs):
            raise RuntimeError("telemetry bug")

    instrument_agents.processor._tracer = Broken()
    agent = Agent(name="calc", instructions="x", tools=[add], model=_model(async_client))
    result = await Runner.run(agent, "add")
    assert result.final_output == "Final answer: 6"


async def test_unsampled_spans_get_no_attributes(meter_provider, async_client, span_exporter):
    provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=provider, meter_provider=meter_provider, exclusive=True)
    try:
        agent = Agent(name="calc", instructions="x", tools=[add], model=_model(async_client))
        result = await Runner.run(agent, "add")
    finally:
        instrumentor.uninstrument()
    assert result.final_output == "Final answer: 6" and span_exporter.get_finished_spans() == ()


async def test_uninstrumented_processor_is_inert(tracer_provider, meter_provider, async_client, span_exporter):
    instrumentor = OpenAIAgentsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, exclusive=True)
    processor = instrumentor.processor
    instrumentor.uninstrument()
    processor.on_trace_start(type("T", (), {"trace_id": "t", "name": "x", "group_id": None})())
    assert span_exporter.get_finished_spans() == ()


@pytest.mark.slow
def test_installed_when_the_application_imports_the_sdk():
    from tests.instrumentation.subprocess_support import CHILD_PRELUDE, run_python

    code = CHILD_PRELUDE + """
from agentotel.instrumentation import instrument
handle = instrument(otlp=False, performance_monitor=False, instrumentors=["openai", "openai_agents"])
before = "agents" in sys.modules
from agents.tracing import get_trace_provider
from agentotel.instrumentation.openai_agents import _processors
names = [type(p).__name__ for p in _processors(get_trace_provider())]
handle.shutdown(timeout=2)
after = [type(p).__name__ for p in _processors(get_trace_provider())]
print(json.dumps({"before": before, "names": names, "after": after}))
"""
    result, _ = run_python(code)
    assert result["before"] is False, "instrument() must not import the (slow) SDK itself"
    assert "OTelTracingProcessor" in result["names"]
    assert "OTelTracingProcessor" not in result["after"]
