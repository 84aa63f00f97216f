"""The LLM judge against a loopback OpenAI-compatible server, with the real openai client and OTel SDK."""

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentotel.evaluation.agents import CallableAgent
from agentotel.evaluation.base import AgentResponse, TestCase
from agentotel.evaluation.benchmark import BenchmarkSuite
from agentotel.evaluation.factory import EvaluatorConfigError, build_evaluator
from agentotel.evaluation.judge import JudgeParseError, LLMJudgeEvaluator, parse_judgement
from agentotel.evaluation.suite import suite_from_cases
from tests.evaluation.sample_agents import qa_agent, wrong_agent
from tests.support.fake_openai import FakeLLMServer, last_user_text


def grader(body):
    """Grades 5 when the answer contains the expected answer, 1 otherwise; odd formats on request."""
    prompt = last_user_text(body)
    expected = prompt.split("EXPECTED ANSWER:\n")[1].split("\n")[0] if "EXPECTED ANSWER:" in prompt else ""
    answer = prompt.split("ANSWER:\n")[-1]
    if "garbage" in answer:
        return "I cannot decide."
    if "fenced" in answer:
        return '```json\n{"score": 4, "explanation": "mostly right"}\n```'
    good = expected and expected.lower() in answer.lower()
    return json.dumps({"score": 5 if good else 1, "explanation": "matches" if good else f"expected {expected}"})


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"score": 4, "explanation": "good"}', (4.0, "good")),
        ('Sure!\n```json\n{"score": 2, "reason": "thin"}\n```', (2.0, "thin")),
        ("Score: 3/5 - partially correct", (3.0, "partially correct")),
        ('prefix {"score": "5", "explanation": "x"} suffix', (5.0, "x")),
    ],
)
def test_parse_judgement_formats(reply, expected):
    assert parse_judgement(reply, 1, 5) == expected


def test_parse_judgement_rejects_missing_or_out_of_scale_scores():
    with pytest.raises(JudgeParseError, match="no score"):
        parse_judgement("looks fine to me", 1, 5)
    with pytest.raises(JudgeParseError, match="outside 1..5"):
        parse_judgement('{"score": 9}', 1, 5)


async def test_judge_scores_through_the_server_and_is_traced():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with FakeLLMServer(responder=grader) as server:
        judge = LLMJudgeEvaluator("accuracy", model="judge-model", base_url=server.base_url, tracer_provider=provider)
        case = TestCase("fr", "What is the capital of France?", expected="Paris", context=("Paris is the capital.",))
        good = await judge.ascore(case, AgentResponse(output="It is Paris."))
        bad = await judge.ascore(case, AgentResponse(output="It is Berlin."))
        fenced = await judge.ascore(case, AgentResponse(output="fenced"))
        with pytest.raises(JudgeParseError):
            await judge.ascore(case, AgentResponse(output="garbage"))
    assert (good[0].name, good[0].value, good[0].label) == ("judge.accuracy", 1.0, "pass")
    assert bad[0].value == 0.0 and bad[0].label == "fail" and "expected Paris" in bad[0].explanation
    assert fenced[0].value == 0.75 and fenced[0].explanation == "4/5: mostly right"
    request = server.bodies[0]
    assert request["model"] == "judge-model" and request["temperature"] == 0
    assert "RUBRIC:" in request["messages"][1]["content"] and "REFERENCE CONTEXT:" in request["messages"][1]["content"]
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["chat judge-model"] * 4
    assert spans[0].attributes["gen_ai.operation.name"] == "chat"
    assert spans[0].attributes["gen_ai.request.model"] == "judge-model"
    assert spans[0].attributes["gen_ai.usage.output_tokens"] > 0
    assert spans[0].attributes["gen_ai.evaluation.name"] == "judge.accuracy"
    provider.shutdown()


def test_judge_inside_a_benchmark_compares_two_agents():
    cases = [TestCase("fr", "What is the capital of France?", expected="Paris"),
             TestCase("jp", "What is the capital of Japan?", expected="Tokyo"),
             TestCase("hamlet", "Who is the author of Hamlet?", expected="Shakespeare")]
    suite = suite_from_cases("judged", cases)
    with FakeLLMServer(responder=grader) as server:
        judge = build_evaluator({"name": "judge", "metric": "accuracy", "model": "judge-model", "base_url": server.base_url})
        good = BenchmarkSuite([judge], show_progress=False).run(suite, CallableAgent(qa_agent))
        worse = BenchmarkSuite([judge], show_progress=False).run(suite, CallableAgent(wrong_agent))
    assert [c.scores["judge.accuracy"].value for c in good.cases] == [1.0, 1.0, 1.0]
    assert [c.scores["judge.accuracy"].value for c in worse.cases] == [0.0, 0.0, 1.0]


def test_judge_configuration_errors():
    with pytest.raises(EvaluatorConfigError, match="no built-in rubric"):
        build_evaluator({"name": "judge", "metric": "humour", "base_url": "http://127.0.0.1:9/v1"})
    with pytest.raises(EvaluatorConfigError, match="unknown evaluator 'acuracy'"):
        build_evaluator("acuracy")
    with pytest.raises(EvaluatorConfigError, match="bad parameters"):
        build_evaluator({"name": "accuracy", "fuzzy": 1})
    custom = build_evaluator({"name": "judge", "metric": "humour", "rubric": "Is it funny?", "scale": [0, 10],
                              "base_url": "http://127.0.0.1:9/v1"})
    assert custom.scale == (0.0, 10.0) and "judge.humour" in custom.get_metrics()
