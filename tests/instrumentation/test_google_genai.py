"""The real ``google-genai`` client against the loopback fake of the Gemini REST API, sync and async
(``client.aio``): one ``generate_content``/``embeddings`` span per model request, tool spans for automatic
function calling, metrics, content capture modes, rate-limit status, and never breaking the host."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings
from tests.instrumentation.fake_providers import FakeGeminiServer
from tests.instrumentation.support import points

MODEL = "gemini-2.5-flash"
GENERATE = "generate_content"


@pytest.fixture(scope="module")
def _gemini_server() -> Iterator[FakeGeminiServer]:
    with FakeGeminiServer() as server:
        yield server


@pytest.fixture
def fake(_gemini_server: FakeGeminiServer) -> FakeGeminiServer:
    _gemini_server.reset()
    return _gemini_server


def _instrument(tracer_provider, meter_provider, content: ContentSettings, logger_provider=None):
    from agentotel.instrumentation.google_genai import GoogleGenAIInstrumentor

    instrumentor = GoogleGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, content=content,
                            logger_provider=logger_provider)
    return instrumentor


@pytest.fixture
def instrumented(tracer_provider, meter_provider, content) -> Iterator[Any]:
    instrumentor = _instrument(tracer_provider, meter_provider, content)
    yield instrumentor
    instrumentor.uninstrument()


@pytest.fixture
def client(fake) -> genai.Client:
    return genai.Client(api_key="k", http_options={"base_url": fake.base_url})


def llm_spans(exporter, operation: str = GENERATE) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.attributes.get(sc.OPERATION) == operation]


def weather(city: str) -> str:
    """Weather of a city."""
    return f"sunny in {city}"


weather.__annotations__ = {"city": str, "return": str}  # real types (older SDKs cannot read string annotations)


def test_generate_content(instrumented, client, fake, span_exporter, metric_reader):
    fake.cache_read = 2
    response = client.models.generate_content(
        model=MODEL, contents="hello there",
        config={"system_instruction": "be brief", "temperature": 0.2, "max_output_tokens": 50, "top_k": 40,
                "stop_sequences": ["END"]})
    assert response.text == "echo: hello there"
    [span] = llm_spans(span_exporter)
    attrs = span.attributes
    assert span.name == f"{GENERATE} {MODEL}" and span.instrumentation_scope.name == (
        "agentotel.instrumentation.google_genai")
    assert attrs[sc.PROVIDER] == "gcp.gemini" and attrs[sc.REQUEST_MODEL] == MODEL
    assert attrs[sc.RESPONSE_MODEL] == f"{MODEL}-001" and attrs[sc.RESPONSE_ID] == "resp_fake"
    assert attrs[sc.REQUEST_TEMPERATURE] == 0.2 and attrs[sc.REQUEST_MAX_TOKENS] == 50
    assert attrs[sc.REQUEST_TOP_K] == 40.0 and attrs[sc.REQUEST_STOP] == ("END",)
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1" and attrs[sc.SERVER_PORT] == fake.port
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.USAGE_INPUT] == 4 and attrs[sc.USAGE_OUTPUT] == 3 and attrs[sc.USAGE_CACHE_READ] == 2
    assert sc.INPUT_MESSAGES not in attrs and sc.OUTPUT_MESSAGES not in attrs
    assert {p.attributes[sc.TOKEN_TYPE]: p.sum for p in points(metric_reader, sc.METRIC_TOKEN_USAGE)} == {
        "input": 4, "output": 3}
    [duration] = points(metric_reader, sc.METRIC_OPERATION_DURATION)
    assert duration.count == 1 and duration.attributes[sc.RESPONSE_MODEL] == f"{MODEL}-001"


def test_generate_content_stream(instrumented, client, span_exporter, metric_reader):
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="hello there"))
    assert "".join(c.text for c in chunks) == "t0 t1 t2 echo: hello there"
    [span] = llm_spans(span_exporter)
    assert span.attributes[sc.REQUEST_STREAM] is True
    assert span.attributes[sc.RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert span.attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.attributes[sc.USAGE_INPUT] == 2 and span.attributes[sc.USAGE_OUTPUT] == 3
    [ttfc] = points(metric_reader, sc.METRIC_TIME_TO_FIRST_CHUNK)
    assert ttfc.count == 1


def test_stream_abandoned_early_ends_the_span(instrumented, client, span_exporter):
    stream = client.models.generate_content_stream(model=MODEL, contents="hello there")
    next(iter(stream))
    stream.close()
    [span] = llm_spans(span_exporter)
    assert span.end_time is not None


def test_embed_content(instrumented, client, span_exporter, metric_reader):
    result = client.models.embed_content(model="gemini-embedding-001", contents=["a", "b"])
    assert len(result.embeddings) == 2
    [span] = llm_spans(span_exporter, sc.OP_EMBEDDINGS)
    assert span.name == "embeddings gemini-embedding-001" and span.attributes[sc.PROVIDER] == "gcp.gemini"
    assert sc.USAGE_INPUT not in span.attributes  # the Gemini API reports no embedding tokens
    assert points(metric_reader, sc.METRIC_OPERATION_DURATION)[0].attributes[sc.OPERATION] == sc.OP_EMBEDDINGS


async def test_async(instrumented, client, span_exporter, metric_reader):
    response = await client.aio.models.generate_content(model=MODEL, contents="hello there")
    assert response.text == "echo: hello there"
    texts = [c.text async for c in await client.aio.models.generate_content_stream(model=MODEL, contents="hi")]
    assert texts[-1] == "echo: hi"
    await client.aio.models.embed_content(model="gemini-embedding-001", contents="a")
    spans = llm_spans(span_exporter)
    assert len(spans) == 2 and len(llm_spans(span_exporter, sc.OP_EMBEDDINGS)) == 1
    assert [s.attributes.get(sc.REQUEST_STREAM) for s in spans] == [None, True]
    assert all(s.attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",) for s in spans)
    assert sum(p.count for p in points(metric_reader, sc.METRIC_OPERATION_DURATION)) == 3


@pytest.mark.parametrize("content", [ContentSettings(capture=True)])
def test_automatic_function_calling(instrumented, client, span_exporter, metric_reader):
    response = client.models.generate_content(model=MODEL, contents="weather in Paris?",
                                              config=types.GenerateContentConfig(tools=[weather]))
    assert response.text == 'Final answer: "sunny in x"'
    llm = llm_spans(span_exporter)
    [tool] = [s for s in span_exporter.get_finished_spans() if s.attributes.get(sc.OPERATION) == sc.OP_EXECUTE_TOOL]
    assert len(llm) == 2  # one span per model request, not one for the whole loop
    assert tool.name == "execute_tool weather" and tool.attributes[sc.TOOL_NAME] == "weather"
    assert json.loads(tool.attributes[sc.TOOL_CALL_ARGUMENTS]) == {"city": "x"}
    assert tool.attributes[sc.TOOL_CALL_RESULT] == "sunny in x"
    first, second = llm
    out = json.loads(first.attributes[sc.OUTPUT_MESSAGES])
    assert out[0]["parts"] == [{"type": "tool_call", "id": None, "name": "weather", "arguments": {"city": "x"}}]
    assert json.loads(first.attributes[sc.TOOL_DEFINITIONS])[0]["name"] == "weather"
    inputs = json.loads(second.attributes[sc.INPUT_MESSAGES])
    assert [m["role"] for m in inputs] == ["user", "assistant", "user"]
    assert inputs[2]["parts"][0]["type"] == "tool_call_response"
    [calls] = points(metric_reader, sc.METRIC_TOOL_CALLS)
    assert calls.value == 1 and calls.attributes[sc.TOOL_NAME] == "weather"


def test_failing_tool_is_an_error_span(instrumented, client, span_exporter):
    def broken(city: str) -> str:
        """Always fails."""
        raise ValueError("no weather today")

    broken.__annotations__ = {"city": str, "return": str}

    response = client.models.generate_content(model=MODEL, contents="weather?",
                                              config=types.GenerateContentConfig(tools=[broken]))
    assert "no weather today" in response.text  # the SDK hands the error to the model
    [tool] = [s for s in span_exporter.get_finished_spans() if s.attributes.get(sc.OPERATION) == sc.OP_EXECUTE_TOOL]
    assert tool.attributes[sc.ERROR_TYPE] == "ValueError" and not tool.status.is_ok


@pytest.mark.parametrize("content", [ContentSettings(capture=True)])
def test_thoughts(instrumented, client, fake, span_exporter):
    fake.stream_chunks = 1
    config = {"thinking_config": {"include_thoughts": True}}
    client.models.generate_content(model=MODEL, contents="hello there", config=config)
    list(client.models.generate_content_stream(model=MODEL, contents="hello there", config=config))
    for span in llm_spans(span_exporter):
        assert span.attributes[sc.RESPONSE_REASONING_BLOCKS] == 1
        assert span.attributes[sc.USAGE_REASONING] == 5
        assert span.attributes[sc.USAGE_OUTPUT] == 3 + 5  # candidates + thoughts
        [message] = json.loads(span.attributes[sc.OUTPUT_MESSAGES])
        assert message["parts"] == [{"type": "reasoning", "content": "Let me think about this."},
                                    {"type": "text", "content": "echo: hello there"}]


def test_thoughts_counted_not_captured(instrumented, client, span_exporter):
    client.models.generate_content(model=MODEL, contents="hi", config={"thinking_config": {"include_thoughts": True}})
    [span] = llm_spans(span_exporter)
    assert span.attributes[sc.RESPONSE_REASONING_BLOCKS] == 1 and sc.OUTPUT_MESSAGES not in span.attributes


def test_event_only(fake, client, tracer_provider, meter_provider, logger_provider, log_exporter, span_exporter):
    instrumentor = _instrument(tracer_provider, meter_provider, ContentSettings(capture=True, mode="EVENT_ONLY"),
                               logger_provider)
    try:
        client.models.generate_content(model=MODEL, contents="hello there", config={"system_instruction": "be brief"})
        list(client.models.generate_content_stream(model=MODEL, contents="hello there"))
    finally:
        instrumentor.uninstrument()
    spans = llm_spans(span_exporter)
    records = [r.log_record for r in log_exporter.get_finished_logs()]
    assert len(spans) == len(records) == 2
    for span, record in zip(spans, records):
        assert sc.INPUT_MESSAGES not in span.attributes and sc.OUTPUT_MESSAGES not in span.attributes
        assert (record.trace_id, record.span_id) == (span.context.trace_id, span.context.span_id)
        assert json.loads(record.attributes[sc.INPUT_MESSAGES]) == [
            {"role": "user", "parts": [{"type": "text", "content": "hello there"}]}]
        assert json.loads(record.attributes[sc.OUTPUT_MESSAGES])[0]["parts"][-1]["content"].endswith("hello there")
    assert json.loads(records[0].attributes[sc.SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "be brief"}]


def _failure(client, **kwargs):
    try:
        client.models.generate_content(model=MODEL, contents="x", **kwargs)
    except Exception as exc:  # noqa: BLE001
        frames = traceback.extract_tb(exc.__traceback__)
        return type(exc), str(exc), (frames[-1].filename, frames[-1].lineno, frames[-1].name)
    raise AssertionError("expected a failure")


def test_quota_exhausted(fake, client, tracer_provider, meter_provider, span_exporter, metric_reader):
    config = {"http_options": {"headers": {"X-Fake-Status": "429"}}}
    plain = _failure(client, config=config)
    instrumentor = _instrument(tracer_provider, meter_provider, ContentSettings())
    try:
        traced = _failure(client, config=config)
    finally:
        instrumentor.uninstrument()
    assert traced == plain
    [span] = llm_spans(span_exporter)
    assert span.attributes[sc.ERROR_TYPE] == "RESOURCE_EXHAUSTED" and not span.status.is_ok
    assert span.attributes[sc.RATELIMIT_RETRY_AFTER] == 13.0
    assert span.attributes[sc.ratelimit_key("tokens", "remaining")] == 0
    assert span.attributes[sc.ratelimit_key("tokens", "limit")] == 250000
    [ratio] = points(metric_reader, sc.METRIC_RATELIMIT_TOKENS_REMAINING_RATIO)
    assert ratio.value == 0.0 and ratio.attributes[sc.PROVIDER] == "gcp.gemini"


def test_rate_limit_headers(instrumented, client, fake, span_exporter):
    fake.response_headers = {"x-ratelimit-remaining-requests": "7", "x-ratelimit-limit-requests": "10"}
    client.models.generate_content(model=MODEL, contents="hi")
    list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    for span in llm_spans(span_exporter):
        assert span.attributes[sc.ratelimit_key("requests", "remaining")] == 7


def test_stream_failing_midway(instrumented, client, span_exporter):
    received = []
    try:
        for chunk in client.models.generate_content_stream(
                model=MODEL, contents="hi", config={"http_options": {"headers": {"X-Fake-Fail-Midstream": "1"}}}):
            received.append(chunk.text)
    except errors.ServerError:
        pass
    else:
        pytest.skip("this google-genai version does not raise on an error event mid-stream")
    assert received == ["t0 ", "t1 "]
    [span] = llm_spans(span_exporter)
    assert not span.status.is_ok and span.attributes[sc.ERROR_TYPE] == "INTERNAL"
    assert span.attributes[sc.RESPONSE_TIME_TO_FIRST_CHUNK] > 0


def _raise(*args, **kwargs):
    raise RuntimeError("telemetry bug")


@pytest.mark.parametrize("target", ["start", "chunk", "finish", "tool"])
def test_faults_of_ours_never_reach_the_host(instrumented, client, target, monkeypatch, caplog):
    from agentotel.instrumentation.google_genai import patch

    caplog.set_level(logging.DEBUG, logger="agentotel.instrumentation")
    if target == "start":
        monkeypatch.setattr(patch, "_start", _raise)
    elif target == "chunk":
        monkeypatch.setattr(patch.ContentStreamState, "on_chunk", _raise)
    elif target == "finish":
        monkeypatch.setattr(patch.GeminiCall, "succeed", _raise)
    else:
        monkeypatch.setattr(patch, "_tool_start", _raise)
    assert client.models.generate_content(model=MODEL, contents="hello there").text == "echo: hello there"
    assert "".join(c.text for c in client.models.generate_content_stream(model=MODEL, contents="hi")).endswith("hi")
    assert client.models.generate_content(model=MODEL, contents="weather?", config=types.GenerateContentConfig(
        tools=[weather])).text == 'Final answer: "sunny in x"'
    assert "telemetry bug" in caplog.text


def test_sampled_out(fake, client, meter_provider, span_exporter, metric_reader):
    provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    instrumentor = _instrument(provider, meter_provider, ContentSettings(capture=True))
    try:
        client.models.generate_content(model=MODEL, contents="hi")
        list(client.models.generate_content_stream(model=MODEL, contents="hi"))
    finally:
        instrumentor.uninstrument()
    assert span_exporter.get_finished_spans() == ()
    assert points(metric_reader, sc.METRIC_OPERATION_DURATION)[0].count == 2


def test_uninstrument_and_suppression(fake, client, tracer_provider, meter_provider, span_exporter):
    from google.genai.models import Models
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    plain = Models._generate_content
    instrumentor = _instrument(tracer_provider, meter_provider, ContentSettings())
    with suppress_instrumentation():
        client.models.generate_content(model=MODEL, contents="hi")
    assert span_exporter.get_finished_spans() == ()
    instrumentor.uninstrument()
    assert Models._generate_content is plain
    client.models.generate_content(model=MODEL, contents="hi")
    assert span_exporter.get_finished_spans() == ()


def test_function_calling_loop_is_one_agent_span(instrumented, client, span_exporter):
    client.models.generate_content(model=MODEL, contents="weather in Paris?",
                                   config=types.GenerateContentConfig(tools=[weather]))
    spans = span_exporter.get_finished_spans()
    [agent] = [s for s in spans if s.attributes.get(sc.OPERATION) == sc.OP_INVOKE_AGENT]
    assert agent.name == "invoke_agent gemini-automatic-function-calling"
    assert agent.attributes[sc.PROVIDER] == "gcp.gemini" and agent.attributes[sc.REQUEST_MODEL] == MODEL
    inner = [s for s in spans if s is not agent]
    assert len(inner) == 3 and all(s.parent.span_id == agent.context.span_id for s in inner)


def test_no_agent_span_without_functions_or_inside_an_agent(instrumented, client, tracer_provider, span_exporter):
    from agentotel.instrumentation.tracer import AgentTracer

    client.models.generate_content(model=MODEL, contents="hi")  # no tools: a plain model call
    disabled = types.GenerateContentConfig(tools=[weather],
                                           automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    client.models.generate_content(model=MODEL, contents="weather?", config=disabled)
    with AgentTracer(tracer_provider).trace_agent_call("planner"):  # the application's agent owns the loop
        client.models.generate_content(model=MODEL, contents="weather in Paris?",
                                       config=types.GenerateContentConfig(tools=[weather]))
    agents = [s for s in span_exporter.get_finished_spans() if s.attributes.get(sc.OPERATION) == sc.OP_INVOKE_AGENT]
    assert [s.name for s in agents] == ["invoke_agent planner"]
