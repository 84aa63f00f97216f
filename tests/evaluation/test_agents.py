"""Agents under evaluation: callables, the real openai client against a loopback server, recordings."""

from datetime import datetime, timedelta, timezone

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import insert

from agentotel.evaluation.agents import (
    AgentLoadError,
    CallableAgent,
    OpenAIEndpointAgent,
    RecordedAgent,
    load_callable,
)
from agentotel.evaluation.base import TestCase
from agentotel.evaluation.benchmark import BenchmarkSuite
from agentotel.evaluation.factory import build_evaluators
from agentotel.evaluation.suite import suite_from_cases
from agentotel.warehouse.models import AgentExecution
from tests.evaluation.sample_agents import qa_agent
from tests.support.fake_openai import FakeLLMServer, last_user_text


def test_load_callable_by_module_and_by_file(tmp_path):
    assert load_callable("tests.evaluation.sample_agents:qa_agent") is qa_agent
    path = tmp_path / "my_agent.py"
    path.write_text("def answer(q):\n    return q.upper()\n")
    assert load_callable(f"{path}:answer")("hi") == "HI"
    for ref, message in [
        ("no_colon", "expected 'module:function'"),
        ("tests.evaluation.nope:fn", "cannot import module"),
        ("tests.evaluation.sample_agents:missing", "has no attribute 'missing'"),
        ("tests.evaluation.sample_agents:FACTS", "is not callable"),
        (f"{tmp_path}/absent.py:fn", "no such file"),
    ]:
        with pytest.raises(AgentLoadError, match=message):
            load_callable(ref)


async def test_callable_agent_variants():
    case = TestCase("c", "What is the capital of France?")

    def with_case(question, case):
        return {"output": f"{case.id}:{question}", "usage": {"prompt_tokens": 3, "completion_tokens": 4}}

    response = await CallableAgent(with_case).run(case)
    assert response.output == "c:What is the capital of France?"
    assert (response.input_tokens, response.output_tokens) == (3, 4) and response.latency_ms > 0

    class AsyncCallable:
        async def __call__(self, question):
            return "async " + question

    assert (await CallableAgent(AsyncCallable()).run(case)).output.startswith("async ")

    async def slow(question):
        import asyncio

        await asyncio.sleep(5)

    timed_out = await CallableAgent(slow, timeout=0.05).run(case)
    assert timed_out.error_type == "TimeoutError" and not timed_out.ok


async def test_openai_endpoint_agent_with_the_real_client():
    def responder(body):
        question = last_user_text(body)
        if "fail" in question:
            raise RuntimeError("model overloaded")
        return qa_agent(question)

    with FakeLLMServer(responder=responder) as server:
        agent = OpenAIEndpointAgent(server.base_url, "gpt-4o-mini", system_prompt="Answer briefly.", temperature=0.0)
        ok = await agent.run(TestCase("fr", "What is the capital of France?"))
        failed = await agent.run(TestCase("x", "please fail"))
        await agent.aclose()
    assert ok.output == "The capital of France is Paris." and ok.model == "gpt-4o-mini"
    assert ok.input_tokens == 2 + 6 and ok.output_tokens == 6
    assert server.bodies[0]["messages"][0] == {"role": "system", "content": "Answer briefly."}
    assert server.bodies[0]["temperature"] == 0.0
    assert failed.error_type == "InternalServerError:500" and "model overloaded" in failed.error


def test_benchmark_over_an_openai_endpoint_prices_tokens():
    with FakeLLMServer(responder=lambda body: qa_agent(last_user_text(body))) as server:
        agent = OpenAIEndpointAgent(server.base_url, "gpt-4o-mini")
        suite = suite_from_cases("endpoint", [TestCase("fr", "What is the capital of France?", expected="Paris"),
                                              TestCase("jp", "What is the capital of Japan?", expected="Tokyo")])
        run = BenchmarkSuite(build_evaluators(["accuracy"]), show_progress=False).run(suite, agent)
    assert [c.scores["accuracy.fuzzy"].value for c in run.cases] == [0.9, 0.9]
    assert run.cases[0].cost_usd == pytest.approx((6 * 0.15 + 6 * 0.60) / 1e6)


def _execution(i, agent_version, when, output, success=True):
    return {
        "id": f"{i:032x}-{i:016x}", "trace_id": f"{i:032x}", "span_id": f"{i:016x}", "timestamp": when,
        "input": "What is the capital of France?" if i % 2 else "What is the capital of Japan?",
        "output": output, "duration_ms": 100.0 + i, "success": success, "agent_name": "support-bot",
        "agent_version": agent_version, "input_tokens": 10, "output_tokens": 5, "cost_usd": 0.001,
        "error_message": None if success else "upstream timeout",
    }


def test_recorded_executions_are_evaluated_after_the_fact(engine):
    now = datetime.now(timezone.utc)
    rows = [
        _execution(1, "1.0", now - timedelta(hours=3), "Paris is the capital of France."),
        _execution(2, "1.0", now - timedelta(hours=2), "It is Tokyo."),
        _execution(3, "1.0", now - timedelta(hours=1), None, success=False),
        _execution(4, "2.0", now - timedelta(minutes=5), "Lyon."),
        _execution(5, "1.0", now - timedelta(days=3), "Old answer about France."),
    ]
    with engine.begin() as conn:
        conn.execute(insert(AgentExecution), rows)

    agent = RecordedAgent.from_warehouse(engine, "support-bot", "1.0", since=now - timedelta(days=1))
    assert len(agent) == 3
    cases = agent.test_cases()
    assert {c.id for c in cases} == {rows[0]["id"], rows[1]["id"], rows[2]["id"]}

    suite = suite_from_cases("recorded", [TestCase("fr", "what is the capital of   France?", expected="Paris"),
                                          TestCase("jp", "What is the capital of Japan?", expected="Tokyo"),
                                          TestCase("de", "What is the capital of Germany?", expected="Berlin")])
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    run = BenchmarkSuite(build_evaluators(["accuracy"]), tracer_provider=provider, show_progress=False).run(suite, agent)
    fr, jp, de = run.cases
    # Each evaluation span is a child of the recorded execution's span: it joins the production trace.
    spans = {s.attributes["agentotel.evaluation.case_id"]: s for s in exporter.get_finished_spans()}
    assert format(spans["jp"].context.trace_id, "032x") == rows[1]["trace_id"] == jp.trace_id
    assert format(spans["jp"].parent.span_id, "016x") == rows[1]["span_id"]
    assert spans["de"].parent is None
    # The France question was asked twice in the window; the latest recording (a failure) is used.
    assert fr.error == "upstream timeout" and fr.error_type == "RecordedError"
    assert jp.output == "It is Tokyo." and jp.latency_ms == 102.0 and jp.scores["accuracy.fuzzy"].value >= 0.8
    assert de.error_type == "NotRecorded"

    by_id = BenchmarkSuite(build_evaluators(["accuracy"]), show_progress=False).run(suite_from_cases("ids", cases), agent)
    assert [c.output for c in by_id.cases if c.error is None] == ["It is Tokyo.", "Paris is the capital of France."]
