"""LlamaIndex instrumentor with the real llama-index-core (workflow agents, tools, LLM, embeddings, retrieval)
against the loopback fake OpenAI server, with the OpenAI instrumentor on underneath (no doubled model spans)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation.llama_index import LlamaIndexInstrumentor, root_dispatcher
from tests.instrumentation.llama_fakes import FakeOpenAIEmbedding, FakeOpenAILLM
from tests.instrumentation.support import by_name, points


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def explode(a: int) -> int:
    """Always fails."""
    raise ValueError(f"cannot handle {a}")


@pytest.fixture
def instrument_llama(tracer_provider, meter_provider, content, instrument_openai) -> Iterator[Any]:
    instrumentor = LlamaIndexInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, content=content)
    yield instrumentor
    instrumentor.uninstrument()


@pytest.fixture
def llm(fake_llm) -> FakeOpenAILLM:
    return FakeOpenAILLM(api_base=fake_llm.base_url)


def _parent(span, spans):
    return next((s for s in spans if span.parent and s.context.span_id == span.parent.span_id), None)


def _model_spans(spans):
    return [s for s in spans if s.attributes.get(sc.OPERATION) in (sc.OP_CHAT, sc.OP_TEXT_COMPLETION, sc.OP_EMBEDDINGS)]


def _scopes(spans):
    return {s.instrumentation_scope.name for s in spans}


@pytest.mark.parametrize("streaming", [True, False])
async def test_function_agent_with_tool(instrument_llama, span_exporter, metric_reader, llm, fake_llm, streaming):
    agent = FunctionAgent(name="calc", tools=[add], llm=llm, system_prompt="You add.", streaming=streaming)
    result = await agent.run("add 3 and 3")
    assert str(result) == "Final answer: 6"
    spans = span_exporter.get_finished_spans()
    run = by_name(spans, "invoke_agent calc")
    assert run.parent is None and run.kind is SpanKind.INTERNAL and run.attributes[sc.AGENT_NAME] == "calc"
    assert run.attributes[sc.EXEC_RSS_PEAK] >= run.attributes[sc.EXEC_RSS_START] > 0
    tool = by_name(spans, "execute_tool add")
    assert _parent(tool, spans) is run
    assert tool.attributes[sc.TOOL_CALL_ID] == "call_fake_1" and tool.attributes[sc.AGENT_NAME] == "calc"
    assert sc.TOOL_CALL_ARGUMENTS not in tool.attributes  # content off
    models = _model_spans(spans)
    # one model span per HTTP call, LlamaIndex's; the OpenAI instrumentor saw the calls and stood aside
    assert len(models) == len(fake_llm.requests) == 2
    assert _scopes(models) == {"agentotel.instrumentation.llama_index"}
    for span in models:
        assert span.name == "chat gpt-4o-mini" and span.kind is SpanKind.CLIENT and _parent(span, spans) is run
        assert span.attributes[sc.PROVIDER] == "openai" and span.attributes[sc.RESPONSE_MODEL] == "gpt-4o-mini-2024-01-01"
        assert span.attributes[sc.USAGE_INPUT] > 0 and span.attributes[sc.AGENT_NAME] == "calc"
    assert [s.attributes[sc.RESPONSE_FINISH_REASONS] for s in models] == [("tool_calls",), ("stop",)]
    if streaming:
        assert all(s.attributes[sc.RESPONSE_TIME_TO_FIRST_CHUNK] >= 0 for s in models)
    assert points(metric_reader, sc.METRIC_AGENT_EXECUTIONS)[0].attributes == {
        sc.AGENT_NAME: "calc", sc.OUTCOME: "success"}
    assert [p.attributes[sc.TOOL_NAME] for p in points(metric_reader, sc.METRIC_TOOL_CALLS)] == ["add"]
    tokens = points(metric_reader, sc.METRIC_TOKEN_USAGE)
    assert sum(p.sum for p in tokens) == sum(s.attributes[sc.USAGE_INPUT] + s.attributes[sc.USAGE_OUTPUT]
                                             for s in models)


async def test_failing_tool(instrument_llama, span_exporter, llm):
    agent = FunctionAgent(name="boom", tools=[explode], llm=llm)
    await agent.run("explode 3")  # the agent hands the error to the model and goes on
    tool = by_name(span_exporter.get_finished_spans(), "execute_tool explode")
    assert tool.status.status_code is StatusCode.ERROR and tool.attributes[sc.ERROR_TYPE] == "tool_error"


async def test_failing_model_call(instrument_llama, span_exporter, metric_reader, llm, fake_llm):
    fake_llm.fail_next(500, times=5)
    agent = FunctionAgent(name="calc", tools=[add], llm=llm, streaming=False)
    with pytest.raises(Exception):  # noqa: B017 - whatever the workflow wraps the API error in
        await agent.run("add 3 and 3")
    spans = span_exporter.get_finished_spans()
    chat = by_name(spans, "chat gpt-4o-mini")
    assert chat.status.status_code is StatusCode.ERROR and chat.attributes[sc.ERROR_TYPE] == "server_error"
    run = by_name(spans, "invoke_agent calc")
    assert run.status.status_code is StatusCode.ERROR
    assert points(metric_reader, sc.METRIC_AGENT_EXECUTIONS)[0].attributes[sc.OUTCOME] == "error"


def test_direct_llm_calls_sync(instrument_llama, span_exporter, llm, fake_llm):
    llm.chat([ChatMessage(role="user", content="hello")])
    llm.complete("hi there")
    spans = span_exporter.get_finished_spans()
    assert [s.name for s in _model_spans(spans)] == ["chat gpt-4o-mini", "text_completion gpt-4o-mini"]
    assert len(fake_llm.requests) == 2 and _scopes(spans) == {"agentotel.instrumentation.llama_index"}
    assert all(s.parent is None for s in spans)


def test_embeddings_and_retrieval(instrument_llama, span_exporter, llm, fake_llm):
    embed = FakeOpenAIEmbedding(api_base=fake_llm.base_url)
    index = VectorStoreIndex.from_documents([Document(text="Oslo is rainy."), Document(text="Rome is sunny.")],
                                            embed_model=embed)
    span_exporter.clear()
    fake_llm.requests.clear()
    response = index.as_query_engine(llm=llm, similarity_top_k=1).query("weather in Oslo?")
    assert str(response).startswith("echo:")
    spans = span_exporter.get_finished_spans()
    retrieval = by_name(spans, "retrieval VectorIndexRetriever")
    assert retrieval.kind is SpanKind.CLIENT and retrieval.attributes[sc.OPERATION] == sc.OP_RETRIEVAL
    assert retrieval.attributes["gen_ai.retrieval.documents.count"] == 1
    embedding = by_name(spans, "embeddings text-embedding-3-small")
    assert _parent(embedding, spans) is retrieval and embedding.attributes[sc.PROVIDER] == "openai"
    assert embedding.attributes["gen_ai.embeddings.dimension.count"] == 8
    models = _model_spans(spans)
    assert len(models) == len(fake_llm.requests) == 2  # the query embedding and one chat
    assert _scopes(spans) == {"agentotel.instrumentation.llama_index"}


def test_tool_called_outside_an_agent(instrument_llama, span_exporter):
    from llama_index.core.tools import FunctionTool

    FunctionTool.from_defaults(fn=add).call(a=1, b=2)
    tool = by_name(span_exporter.get_finished_spans(), "execute_tool add")
    assert tool.attributes[sc.TOOL_NAME] == "add" and tool.status.status_code is StatusCode.UNSET


async def test_outer_span_parents_the_run(instrument_llama, span_exporter, tracer_provider, llm):
    agent = FunctionAgent(name="calc", tools=[add], llm=llm)
    with tracer_provider.get_tracer("app").start_as_current_span("request"):
        await agent.run("add")
    spans = span_exporter.get_finished_spans()
    assert _parent(by_name(spans, "invoke_agent calc"), spans) is by_name(spans, "request")
    assert len({s.context.trace_id for s in spans}) == 1


async def test_content_capture(tracer_provider, meter_provider, span_exporter, llm, instrument_openai):
    instrumentor = LlamaIndexInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                            content=ContentSettings(capture=True))
    try:
        await FunctionAgent(name="calc", tools=[add], llm=llm, system_prompt="You add.").run("add 3 and 3")
    finally:
        instrumentor.uninstrument()
    spans = span_exporter.get_finished_spans()
    tool = by_name(spans, "execute_tool add")
    assert json.loads(tool.attributes[sc.TOOL_CALL_ARGUMENTS]) == {"a": 3, "b": 3}
    assert tool.attributes[sc.TOOL_CALL_RESULT] == "6"
    first = _model_spans(spans)[0]
    assert json.loads(first.attributes[sc.SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "You add."}]
    assert json.loads(first.attributes[sc.INPUT_MESSAGES])[0]["role"] == "user"
    output = json.loads(first.attributes[sc.OUTPUT_MESSAGES])
    assert output[0]["parts"][0]["type"] == "tool_call" or output[0]["finish_reason"] == "tool_calls"


async def test_faults_never_reach_the_host(instrument_llama, llm):
    class Broken:
        def start_span(self, *args, **kwargs):
            raise RuntimeError("telemetry bug")

    instrument_llama.span_handler._state.tracer = Broken()
    result = await FunctionAgent(name="calc", tools=[add], llm=llm).run("add 3 and 3")
    assert str(result) == "Final answer: 6"


async def test_unsampled(meter_provider, span_exporter, llm):
    provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    instrumentor = LlamaIndexInstrumentor()
    instrumentor.instrument(tracer_provider=provider, meter_provider=meter_provider)
    try:
        result = await FunctionAgent(name="calc", tools=[add], llm=llm).run("add 3 and 3")
    finally:
        instrumentor.uninstrument()
    assert str(result) == "Final answer: 6" and span_exporter.get_finished_spans() == ()


def test_uninstrument_removes_the_handlers(tracer_provider, meter_provider):
    dispatcher = root_dispatcher()
    before = (len(dispatcher.span_handlers), len(dispatcher.event_handlers))
    instrumentor = LlamaIndexInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    assert (len(dispatcher.span_handlers), len(dispatcher.event_handlers)) == (before[0] + 1, before[1] + 1)
    instrumentor.uninstrument()
    assert (len(dispatcher.span_handlers), len(dispatcher.event_handlers)) == before
