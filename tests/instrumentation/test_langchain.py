"""LangChain / LangGraph instrumentor with the real langchain-core, langgraph and langchain-openai packages."""

from __future__ import annotations

import json
import warnings

import pytest
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from opentelemetry.trace import SpanKind, StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings
from tests.instrumentation.support import by_name, points

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@tool
def explode(a: int) -> int:
    """Always fails."""
    raise ValueError(f"cannot handle {a}")


def _llm(fake_llm, **kwargs):
    return ChatOpenAI(model="gpt-4o-mini", base_url=fake_llm.base_url, api_key="test-key", max_retries=0, **kwargs)


def _agent(fake_llm, name="calc"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(_llm(fake_llm), [add], name=name)


def _parent_of(span, spans):
    return next((s for s in spans if span.parent and s.context.span_id == span.parent.span_id), None)


def _ancestors(span, spans):
    out = []
    while (parent := _parent_of(span, spans)) is not None:
        out.append(parent)
        span = parent
    return out


def _check_agent_trace(spans):
    agent = by_name(spans, "invoke_agent calc")
    assert agent.parent is None and agent.kind is SpanKind.INTERNAL
    assert agent.attributes[sc.OPERATION] == "invoke_agent" and agent.attributes[sc.AGENT_NAME] == "calc"
    chats = [s for s in spans if s.attributes.get(sc.OPERATION) == "chat"]
    assert len(chats) == 2, "one LLM span per model call (OpenAI and LangChain de-duplicated)"
    assert {s.instrumentation_scope.name for s in chats} == {"agentotel.instrumentation.langchain"}
    for chat in chats:
        assert chat.name == "chat gpt-4o-mini" and chat.kind is SpanKind.CLIENT
        assert chat.attributes[sc.PROVIDER] == "openai"
        assert chat.attributes[sc.RESPONSE_MODEL] == "gpt-4o-mini-2024-01-01"
        assert chat.attributes[sc.USAGE_INPUT] > 0 and chat.attributes[sc.USAGE_OUTPUT] > 0
        assert agent in _ancestors(chat, spans)
    assert chats[0].attributes[sc.RESPONSE_FINISH_REASONS] == ("tool_calls",)
    tool_span = by_name(spans, "execute_tool add")
    assert tool_span.attributes[sc.TOOL_CALL_ID] == "call_fake_1"
    assert tool_span.attributes[sc.TOOL_DESCRIPTION] == "Add two numbers."
    assert agent in _ancestors(tool_span, spans)
    assert len({s.context.trace_id for s in spans}) == 1
    assert sc.TOOL_CALL_ARGUMENTS not in tool_span.attributes and sc.INPUT_MESSAGES not in chats[0].attributes
    return agent, chats, tool_span


def test_react_agent_trace(instrument_langchain, fake_llm, span_exporter, metric_reader):
    out = _agent(fake_llm).invoke({"messages": [("user", "add 3 and 3")]})
    assert out["messages"][-1].content == "Final answer: 6"
    _check_agent_trace(span_exporter.get_finished_spans())
    [executions] = points(metric_reader, sc.METRIC_AGENT_EXECUTIONS)
    assert executions.value == 1 and executions.attributes == {sc.AGENT_NAME: "calc", sc.OUTCOME: "success"}
    [tools] = points(metric_reader, sc.METRIC_TOOL_CALLS)
    assert tools.value == 1 and tools.attributes[sc.TOOL_NAME] == "add"
    usage = points(metric_reader, sc.METRIC_TOKEN_USAGE)
    assert {p.attributes[sc.TOKEN_TYPE] for p in usage} == {"input", "output"}


async def test_async_react_agent_and_later_calls_are_not_misparented(
        instrument_langchain, fake_llm, span_exporter, async_client):
    out = await _agent(fake_llm).ainvoke({"messages": [("user", "add 3 and 3")]})
    assert out["messages"][-1].content == "Final answer: 6"
    agent, _, _ = _check_agent_trace(span_exporter.get_finished_spans())
    span_exporter.clear()
    await async_client.chat.completions.create(model="after", messages=[{"role": "user", "content": "x"}])
    [after] = span_exporter.get_finished_spans()
    assert after.parent is None and after.context.trace_id != agent.context.trace_id


def test_chain_without_tools_is_a_workflow(instrument_langchain, fake_llm, span_exporter):
    chain = ChatPromptTemplate.from_messages([("system", "be brief"), ("user", "{q}")]) | _llm(fake_llm)
    assert chain.invoke({"q": "hi"}).content == "echo: hi"
    spans = span_exporter.get_finished_spans()
    root = by_name(spans, "invoke_workflow RunnableSequence")
    assert root.attributes[sc.OPERATION] == "invoke_workflow" and root.parent is None
    chat = by_name(spans, "chat gpt-4o-mini")
    assert root in _ancestors(chat, spans)
    prompt = by_name(spans, "ChatPromptTemplate")
    assert sc.OPERATION not in prompt.attributes and _parent_of(prompt, spans) is root


def test_streaming_chat_model_usage(instrument_langchain, fake_llm, span_exporter, metric_reader):
    text = "".join(chunk.content for chunk in _llm(fake_llm, streaming=True, stream_usage=True).stream("hello"))
    assert text.endswith("echo: hello")
    [chat] = [s for s in span_exporter.get_finished_spans() if s.name.startswith("chat")]
    assert chat.attributes[sc.USAGE_INPUT] == 1 and chat.attributes[sc.USAGE_OUTPUT] == 5
    assert chat.attributes[sc.REQUEST_STREAM] is True
    assert chat.attributes[sc.RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert points(metric_reader, sc.METRIC_TIME_TO_FIRST_CHUNK)[0].count == 1


def test_model_error(instrument_langchain, fake_llm, span_exporter):
    import openai

    fake_llm.fail_next(500)
    with pytest.raises(openai.InternalServerError):
        _llm(fake_llm).invoke("hi")
    [chat] = [s for s in span_exporter.get_finished_spans() if s.name.startswith("chat")]
    assert chat.status.status_code is StatusCode.ERROR and chat.attributes[sc.ERROR_TYPE] == "server_error"


def test_tool_error_propagates_unchanged(instrument_langchain, span_exporter, metric_reader):
    with pytest.raises(ValueError, match="cannot handle 4"):
        explode.invoke({"a": 4})
    [span] = span_exporter.get_finished_spans()
    assert span.name == "execute_tool explode"
    assert span.status.status_code is StatusCode.ERROR and span.attributes[sc.ERROR_TYPE] == "ValueError"
    [calls] = points(metric_reader, sc.METRIC_TOOL_CALLS)
    assert calls.attributes[sc.OUTCOME] == "error"


def test_explicit_agent_metadata_and_nested_openai_call(instrument_langchain, fake_llm, span_exporter, client):
    def step(text: str) -> str:
        return client.chat.completions.create(model="inner", messages=[{"role": "user", "content": text}]
                                              ).choices[0].message.content

    runnable = RunnableLambda(step).with_config(metadata={"agent_name": "helper"}, run_name="step")
    assert runnable.invoke("yo") == "echo: yo"
    spans = span_exporter.get_finished_spans()
    agent = by_name(spans, "invoke_agent helper")
    inner = by_name(spans, "chat inner")
    assert inner.instrumentation_scope.name == "agentotel.instrumentation.openai"
    assert _parent_of(inner, spans) is agent


def test_lc_agent_name_marks_only_the_agent_boundary(instrument_langchain, span_exporter):
    inner = RunnableLambda(lambda x: x + 1).with_config(run_name="step")
    outer = RunnableLambda(lambda x: inner.invoke(x)).with_config(run_name="researcher",
                                                                  metadata={"lc_agent_name": "researcher"})
    assert outer.invoke(1) == 2
    spans = span_exporter.get_finished_spans()
    agent = by_name(spans, "invoke_agent researcher")
    step = by_name(spans, "step")  # inherits lc_agent_name metadata, but is not an agent
    assert sc.OPERATION not in step.attributes and _parent_of(step, spans) is agent


class _Docs(BaseRetriever):
    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun):
        return [Document(page_content=f"doc about {query}"), Document(page_content="other")]


def test_retriever_span(instrument_langchain, span_exporter):
    assert len(_Docs().invoke("cats")) == 2
    [span] = span_exporter.get_finished_spans()
    assert span.name == "retrieval _Docs" and span.attributes[sc.OPERATION] == "retrieval"
    assert span.attributes["gen_ai.retrieval.documents.count"] == 2


class TestContentCapture:
    @pytest.fixture
    def content(self) -> ContentSettings:
        return ContentSettings(capture=True)

    def test_content_capture_on(self, instrument_langchain, fake_llm, span_exporter):
        _agent(fake_llm).invoke({"messages": [("user", "add 3 and 3")]})
        spans = span_exporter.get_finished_spans()
        tool_span = by_name(spans, "execute_tool add")
        assert json.loads(tool_span.attributes[sc.TOOL_CALL_ARGUMENTS]) == {"a": 3, "b": 3}
        assert tool_span.attributes[sc.TOOL_CALL_RESULT] == "6"
        first_chat = [s for s in spans if s.name.startswith("chat")][0]
        assert json.loads(first_chat.attributes[sc.INPUT_MESSAGES]) == [
            {"role": "user", "parts": [{"type": "text", "content": "add 3 and 3"}]}]
        output = json.loads(first_chat.attributes[sc.OUTPUT_MESSAGES])
        assert output[0]["parts"][-1]["name"] == "add" and output[0]["finish_reason"] == "tool_calls"
        assert json.loads(first_chat.attributes[sc.TOOL_DEFINITIONS])[0]["function"]["name"] == "add"
