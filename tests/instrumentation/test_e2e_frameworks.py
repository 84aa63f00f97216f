"""End to end: a LangGraph (LangChain) agent, an OpenAI Agents SDK agent and a LlamaIndex agent, each
instrumented with ``instrument()`` and nothing else, in a fresh process → OTLP/gRPC → ``agentotel receive`` → warehouse, on SQLite and PostgreSQL.

Both call the loopback fake OpenAI server through the real ``openai`` client; the rows must show one LLM call
per HTTP call (the framework's model spans are not doubled), the tool call, and the agent execution with the
tokens of its LLM calls and its per-execution resources on the agent span.
"""

from __future__ import annotations

import pytest

from agentotel.core import semconv as sc
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.models import AgentExecution, LLMCall, Span, ToolCall
from tests.instrumentation.subprocess_support import CHILD_PRELUDE, run_python
from tests.instrumentation.test_e2e_receiver import _receiver, _rows

LANGGRAPH = CHILD_PRELUDE + """
from agentotel.instrumentation import instrument
handle = instrument(service_name="e2e-langgraph", endpoint=ENDPOINT)

import warnings
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from langgraph.prebuilt import create_react_agent


@tool
def add(a: int, b: int) -> int:
    \"\"\"Add two numbers.\"\"\"
    return a + b


llm = ChatOpenAI(model="gpt-4o-mini", base_url=BASE_URL, api_key="k", max_retries=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    agent = create_react_agent(llm, [add], name="calc")
answer = agent.invoke({"messages": [("user", "add 3 and 3")]})["messages"][-1].content
print(json.dumps({"answer": answer, "clean": handle.shutdown(timeout=15)}))
"""

AGENTS_SDK = CHILD_PRELUDE + """
from agentotel.instrumentation import instrument
handle = instrument(service_name="e2e-openai-agents", endpoint=ENDPOINT)

import asyncio
import openai
from agents import Agent, OpenAIResponsesModel, Runner, function_tool


@function_tool
def add(a: int, b: int) -> int:
    \"\"\"Add two numbers.\"\"\"
    return a + b


client = openai.AsyncOpenAI(base_url=BASE_URL, api_key="k", max_retries=0)
agent = Agent(name="calc", instructions="You add.", tools=[add], model=OpenAIResponsesModel("gpt-4o-mini", client))
result = asyncio.run(Runner.run(agent, "add 3 and 3"))
print(json.dumps({"answer": result.final_output, "clean": handle.shutdown(timeout=15)}))
"""

LLAMA_INDEX = CHILD_PRELUDE + """
from agentotel.instrumentation import instrument
handle = instrument(service_name="e2e-llama-index", endpoint=ENDPOINT)

import asyncio
from llama_index.core.agent.workflow import FunctionAgent
from tests.instrumentation.llama_fakes import FakeOpenAILLM


def add(a: int, b: int) -> int:
    \"\"\"Add two numbers.\"\"\"
    return a + b


async def main():
    agent = FunctionAgent(name="calc", tools=[add], llm=FakeOpenAILLM(api_base=BASE_URL), system_prompt="You add.")
    return str(await agent.run("add 3 and 3"))

answer = asyncio.run(main())
print(json.dumps({"answer": answer, "clean": handle.shutdown(timeout=15)}))
"""


def _land(code: str, db_url: str, tmp_path, fake_llm) -> dict:
    with _receiver(db_url, tmp_path) as grpc_port:
        code = code.replace("ENDPOINT", repr(f"http://127.0.0.1:{grpc_port}")).replace(
            "BASE_URL", repr(fake_llm.base_url))
        result, _ = run_python(code, env={"OPENAI_API_KEY": ""}, timeout=180)  # no key: the SDK exports nothing
        assert result["answer"] == "Final answer: 6", result
        assert result["clean"], result.get("_stderr", "")[-3000:]
        engine = create_db_engine(db_url)
        try:
            rows = {"executions": _rows(engine, AgentExecution), "llm": _rows(engine, LLMCall, expect=2),
                    "tools": _rows(engine, ToolCall), "spans": _rows(engine, Span, expect=4)}
        finally:
            engine.dispose()
    rows["log"] = (tmp_path / "receiver.log").read_text()[-3000:]
    return rows


def _check(rows: dict, fake_llm, service: str, call_id: str | None = "call_fake_1") -> dict:
    llm_calls, spans = rows["llm"], rows["spans"]
    assert len(llm_calls) == len(fake_llm.requests) == 2, (llm_calls, rows["log"])  # one row per model call
    for call in llm_calls:
        assert call["provider"] == "openai" and call["request_model"] == "gpt-4o-mini"
        assert call["response_model"] == "gpt-4o-mini-2024-01-01"
        assert call["total_tokens"] == call["input_tokens"] + call["output_tokens"] > 0
        assert call["cost_usd"] and call["cost_usd"] > 0
    [tool] = rows["tools"]
    assert tool["tool_name"] == "add" and tool["tool_call_id"] == call_id and tool["success"]
    [execution] = [e for e in rows["executions"] if e["agent_name"] == "calc"]
    assert execution["success"] and tool["execution_id"] == execution["id"]
    assert all(c["execution_id"] == execution["id"] for c in llm_calls)
    assert execution["tokens_used"] == sum(c["total_tokens"] for c in llm_calls)
    [agent_span] = [s for s in spans if s["name"] == "invoke_agent calc"]
    assert agent_span["span_type"] == "agent" and agent_span["service_name"] == service
    attrs = agent_span["attributes"]
    assert attrs[sc.EXEC_RSS_PEAK] >= attrs[sc.EXEC_RSS_START] > 0 and attrs[sc.EXEC_THREAD_CPU_TIME] >= 0
    return {s["name"]: s for s in spans}


@pytest.mark.slow
def test_langgraph_agent_lands_in_the_warehouse(db_url, tmp_path, fake_llm):
    rows = _land(LANGGRAPH, db_url, tmp_path, fake_llm)
    by_name = _check(rows, fake_llm, "e2e-langgraph")
    assert by_name["execute_tool add"]["span_type"] == "tool"
    assert sorted(c["finish_reason"] for c in rows["llm"]) == ["stop", "tool_calls"]
    # the LangChain instrumentor owns each model call; the OpenAI client's call underneath makes no span
    assert {s["scope_name"] for s in rows["spans"] if s["span_type"] == "llm"} == {
        "agentotel.instrumentation.langchain"}


@pytest.mark.slow
def test_openai_agents_sdk_agent_lands_in_the_warehouse(db_url, tmp_path, fake_llm):
    rows = _land(AGENTS_SDK, db_url, tmp_path, fake_llm)
    # the SDK's function span does not carry the model's call id (FunctionSpanData has none)
    by_name = _check(rows, fake_llm, "e2e-openai-agents", call_id=None)
    assert by_name["invoke_workflow Agent workflow"]["span_type"] == "chain"
    assert by_name["execute_tool add"]["span_type"] == "tool"
    assert {s["scope_name"] for s in rows["spans"] if s["span_type"] == "llm"} == {"agentotel.instrumentation.openai"}


@pytest.mark.slow
def test_llama_index_agent_lands_in_the_warehouse(db_url, tmp_path, fake_llm):
    rows = _land(LLAMA_INDEX, db_url, tmp_path, fake_llm)
    by_name = _check(rows, fake_llm, "e2e-llama-index")
    assert by_name["execute_tool add"]["span_type"] == "tool"
    assert {s["scope_name"] for s in rows["spans"] if s["span_type"] == "llm"} == {
        "agentotel.instrumentation.llama_index"}
