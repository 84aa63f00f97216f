"""End to end: an Anthropic agent, instrumented with ``instrument()`` and nothing else, in a fresh process →
OTLP/gRPC → ``agentotel receive`` → warehouse, on SQLite and PostgreSQL.

The agent is the SDK's own tool runner (``client.beta.messages.tool_runner``): anthropic 2.x traces itself
(``invoke_agent`` runner span, ``execute_tool`` tool span, one ``anthropic.messages.create`` span per model
call), our instrumentor adds what those spans lack (finish reasons, rate-limit status) and the metrics.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from agentotel.core import semconv as sc
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.models import AgentExecution, LLMCall, Metric, Span, ToolCall
from tests.instrumentation.fake_providers import FakeAnthropicServer
from tests.instrumentation.subprocess_support import CHILD_PRELUDE, run_python
from tests.instrumentation.test_e2e_receiver import _receiver, _rows
from tests.support.polling import wait_for

MODEL = "claude-sonnet-4-5"

AGENT = CHILD_PRELUDE + """
from agentotel.instrumentation import instrument
handle = instrument(service_name="e2e-anthropic", endpoint=ENDPOINT)

import anthropic
from anthropic import beta_tool


@beta_tool
def get_weather(city: str) -> str:
    \"\"\"Weather of a city.

    Args:
        city: the city
    \"\"\"
    return f"sunny in {city}"


client = anthropic.Anthropic(base_url=BASE_URL, api_key="k", max_retries=0)
runner = client.beta.messages.tool_runner(model=MODEL, max_tokens=256, tools=[get_weather],
                                          messages=[{"role": "user", "content": "weather in Paris?"}])
answers = [message.stop_reason for message in runner]
with client.messages.stream(model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi there"}]) as s:
    text = s.get_final_text()
print(json.dumps({"answers": answers, "text": text, "clean": handle.shutdown(timeout=15)}))
"""


def _ratio_points(engine, timeout: float = 15.0) -> list:
    """The rate-limit gauge's points (what ``metric:agentotel.ratelimit.tokens.remaining_ratio`` rules read)."""
    query = select(Metric.value).where(Metric.metric_name == "agentotel.ratelimit.tokens.remaining_ratio")

    def values() -> list:
        with engine.connect() as conn:
            return list(conn.execute(query).scalars())

    return wait_for(values, timeout=timeout, interval=0.2)


@pytest.fixture(scope="module")
def anthropic_api():
    with FakeAnthropicServer() as server:
        yield server


@pytest.mark.slow
def test_anthropic_agent_lands_in_the_warehouse(db_url, tmp_path, anthropic_api):
    anthropic_api.reset()
    anthropic_api.cache_read, anthropic_api.cache_creation = 40, 8
    anthropic_api.response_headers = {"anthropic-ratelimit-tokens-limit": "100000",
                                      "anthropic-ratelimit-tokens-remaining": "5000"}
    with _receiver(db_url, tmp_path) as grpc_port:
        code = (AGENT.replace("ENDPOINT", repr(f"http://127.0.0.1:{grpc_port}"))
                .replace("BASE_URL", repr(anthropic_api.base_url)).replace("MODEL", repr(MODEL)))
        result, _ = run_python(code, timeout=120)
        assert result["answers"] == ["tool_use", "end_turn"] and result["text"] == "t0 t1 t2 echo: hi there"
        assert result["clean"], result["_stderr"][-3000:]
        engine = create_db_engine(db_url)
        try:
            llm_calls = _rows(engine, LLMCall, expect=3)
            executions = _rows(engine, AgentExecution, expect=2)
            tool_calls = _rows(engine, ToolCall)
            spans = _rows(engine, Span, expect=7)
            ratios = _ratio_points(engine)
        finally:
            engine.dispose()
    log = (tmp_path / "receiver.log").read_text()[-3000:]
    assert len(llm_calls) == 3, (len(llm_calls), log)  # exactly one LLM row per model call
    for call in llm_calls:
        assert call["provider"] == "anthropic" and call["request_model"] == MODEL and call["operation"] == "chat"
        assert call["response_model"] == f"{MODEL}-20250929"
        assert call["cached_input_tokens"] == 40
        assert call["input_tokens"] > 48  # raw input + 40 cache reads + 8 cache writes
        assert call["total_tokens"] == call["input_tokens"] + call["output_tokens"]
        assert call["cost_usd"] and call["cost_usd"] > 0
        assert call["service_name"] == "e2e-anthropic"
    by_finish = sorted(c["finish_reason"] for c in llm_calls)
    assert by_finish == ["end_turn", "end_turn", "tool_use"]
    [streamed] = [c for c in llm_calls if c["streaming"]]
    assert streamed["time_to_first_token_ms"] > 0

    [tool] = tool_calls
    assert tool["tool_name"] == "get_weather" and tool["tool_call_id"] == "toolu_fake_1" and tool["success"]
    [agent] = [e for e in executions if e["id"] == tool["execution_id"]]
    agent_calls = [c for c in llm_calls if c["execution_id"] == tool["execution_id"]]
    assert len(agent_calls) == 2 and agent["success"]
    assert agent["tokens_used"] == sum(c["total_tokens"] for c in agent_calls)
    types = {s["name"]: s["span_type"] for s in spans}
    assert types["anthropic.messages.create"] == "llm" and types["anthropic.messages.tool_runner"] == "agent"
    assert {s["scope_name"] for s in spans if s["span_type"] == "llm"} == {"com.anthropic.sdk.python"}
    [runner] = [s for s in spans if s["name"] == "anthropic.messages.tool_runner"]  # the SDK's agent span
    attrs = runner["attributes"]
    assert attrs[sc.EXEC_RSS_PEAK] >= attrs[sc.EXEC_RSS_START] > 0 and attrs[sc.EXEC_THREAD_CPU_TIME] >= 0
    assert agent["metadata"][sc.EXEC_RSS_PEAK] == attrs[sc.EXEC_RSS_PEAK]  # stored with the execution
    assert ratios and ratios[-1] == pytest.approx(0.05)
