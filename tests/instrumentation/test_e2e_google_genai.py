"""End to end: a Google GenAI agent (the SDK's automatic function calling), instrumented with
``instrument()`` and nothing else, in a fresh process → OTLP/gRPC → ``agentotel receive`` → warehouse, on
SQLite and PostgreSQL. google-genai does not trace itself: every span is ours."""

from __future__ import annotations

import pytest

from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.models import AgentExecution, LLMCall, Span, ToolCall
from tests.instrumentation.fake_providers import FakeGeminiServer
from tests.instrumentation.subprocess_support import CHILD_PRELUDE, run_python
from tests.instrumentation.test_e2e_receiver import _receiver, _rows

MODEL = "gemini-2.5-flash"

AGENT = CHILD_PRELUDE + """
from agentotel.instrumentation import instrument
handle = instrument(service_name="e2e-gemini", endpoint=ENDPOINT)

from google import genai
from google.genai import types


def weather(city: str) -> str:
    \"\"\"Weather of a city.\"\"\"
    return f"sunny in {city}"


client = genai.Client(api_key="k", http_options={"base_url": BASE_URL})
answer = client.models.generate_content(model=MODEL, contents="weather in Paris?",
                                        config=types.GenerateContentConfig(tools=[weather]))
streamed = "".join(chunk.text or "" for chunk in client.models.generate_content_stream(model=MODEL, contents="hi"))
print(json.dumps({"answer": answer.text, "streamed": streamed, "clean": handle.shutdown(timeout=15)}))
"""


@pytest.fixture(scope="module")
def gemini_api():
    with FakeGeminiServer() as server:
        yield server


@pytest.mark.slow
def test_google_genai_agent_lands_in_the_warehouse(db_url, tmp_path, gemini_api):
    gemini_api.reset()
    with _receiver(db_url, tmp_path) as grpc_port:
        code = (AGENT.replace("ENDPOINT", repr(f"http://127.0.0.1:{grpc_port}"))
                .replace("BASE_URL", repr(gemini_api.base_url)).replace("MODEL", repr(MODEL)))
        result, _ = run_python(code, timeout=120)
        assert result["answer"] and result["streamed"], result
        assert result["clean"], result["_stderr"][-3000:]
        engine = create_db_engine(db_url)
        try:
            llm_calls = _rows(engine, LLMCall, expect=3)
            tool_calls = _rows(engine, ToolCall, expect=1)
            spans = _rows(engine, Span, expect=5)
            executions = _rows(engine, AgentExecution, expect=2)
        finally:
            engine.dispose()
    assert len(llm_calls) == 3  # one row per model request: two for the function-calling turn, one streamed
    for call in llm_calls:
        assert call["provider"] == "gcp.gemini" and call["request_model"] == MODEL
        assert call["input_tokens"] > 0 and call["output_tokens"] > 0 and call["cost_usd"] > 0
    [tool] = tool_calls
    assert tool["tool_name"] == "weather" and tool["success"]
    # the function-calling loop is one agent execution holding its two model requests and the tool call
    [agent_span] = [s for s in spans if s["span_type"] == "agent"]
    [loop] = [e for e in executions if e["span_id"] == agent_span["span_id"]]
    loop_calls = [c for c in llm_calls if c["execution_id"] == loop["id"]]
    assert len(loop_calls) == 2 and tool["execution_id"] == loop["id"] and loop["success"]
    assert loop["agent_name"] == "gemini-automatic-function-calling" and loop["tool_call_count"] == 1
    assert loop["tokens_used"] == sum(c["total_tokens"] for c in loop_calls)
    assert loop["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in loop_calls))
    # the streamed call without tools is an execution of its own (a trace with no agent span)
    assert sum(e["tokens_used"] for e in executions) == sum(c["total_tokens"] for c in llm_calls)
