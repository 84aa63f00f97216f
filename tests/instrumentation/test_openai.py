"""OpenAI instrumentor against the real ``openai`` client and the loopback fake server."""

from __future__ import annotations

import gc
import json

import openai
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation.openai import OpenAIInstrumentor
from tests.instrumentation.support import points

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
TOOLS = [{"type": "function", "function": {"name": "add", "description": "Add",
                                           "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}]


def test_chat_completion_span_and_metrics(instrument_openai, client, fake_llm, span_exporter, metric_reader):
    result = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.2, top_p=0.9,
                                            max_tokens=50, seed=7, stop=["END"], n=2)
    assert result.choices[0].message.content == "echo: hello there"
    [span] = span_exporter.get_finished_spans()
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT
    assert span.instrumentation_scope.name == "agentotel.instrumentation.openai"
    assert span.instrumentation_scope.schema_url == sc.SCHEMA_URL
    attrs = dict(span.attributes)
    assert attrs[sc.OPERATION] == "chat" and attrs[sc.PROVIDER] == "openai"
    assert attrs[sc.REQUEST_MODEL] == "gpt-4o-mini"
    assert attrs[sc.RESPONSE_MODEL] == "gpt-4o-mini-2024-01-01"
    assert attrs[sc.RESPONSE_ID] == "chatcmpl-fake"
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1" and attrs[sc.SERVER_PORT] == fake_llm.port
    assert attrs[sc.REQUEST_TEMPERATURE] == 0.2 and attrs[sc.REQUEST_TOP_P] == 0.9
    assert attrs[sc.REQUEST_MAX_TOKENS] == 50 and attrs[sc.REQUEST_SEED] == 7
    assert attrs[sc.REQUEST_STOP] == ("END",) and attrs[sc.REQUEST_CHOICE_COUNT] == 2
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop", "stop")
    assert attrs[sc.USAGE_INPUT] == result.usage.prompt_tokens == 4
    assert attrs[sc.USAGE_OUTPUT] == result.usage.completion_tokens
    assert "gen_ai.system" not in attrs and "gen_ai.usage.total_tokens" not in attrs
    assert span.status.status_code is StatusCode.UNSET

    [duration] = points(metric_reader, sc.METRIC_OPERATION_DURATION)
    assert duration.count == 1 and tuple(duration.explicit_bounds) == sc.DURATION_BUCKETS
    assert duration.attributes[sc.RESPONSE_MODEL] == "gpt-4o-mini-2024-01-01"
    usage = {p.attributes[sc.TOKEN_TYPE]: p for p in points(metric_reader, sc.METRIC_TOKEN_USAGE)}
    assert usage["input"].sum == 4 and usage["output"].sum == result.usage.completion_tokens
    assert tuple(usage["input"].explicit_bounds) == sc.TOKEN_BUCKETS


async def test_async_chat_completion(instrument_openai, async_client, span_exporter):
    result = await async_client.chat.completions.create(model="m-async", messages=MESSAGES)
    [span] = span_exporter.get_finished_spans()
    assert span.name == "chat m-async"
    assert span.attributes[sc.USAGE_OUTPUT] == result.usage.completion_tokens


def test_streaming_usage_from_final_chunk(instrument_openai, client, span_exporter, metric_reader):
    stream = client.chat.completions.create(model="s", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    usage = chunks[-1].usage
    [span] = span_exporter.get_finished_spans()
    attrs = span.attributes
    assert attrs[sc.REQUEST_STREAM] is True
    assert attrs[sc.USAGE_INPUT] == usage.prompt_tokens and attrs[sc.USAGE_OUTPUT] == usage.completion_tokens
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert 0 < attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] < 5
    assert points(metric_reader, sc.METRIC_TIME_TO_FIRST_CHUNK)[0].count == 1
    assert points(metric_reader, sc.METRIC_TIME_PER_OUTPUT_CHUNK)[0].count == 1


def test_streaming_without_usage_records_no_tokens(instrument_openai, client, span_exporter, metric_reader):
    list(client.chat.completions.create(model="s", messages=MESSAGES, stream=True))
    [span] = span_exporter.get_finished_spans()
    assert sc.USAGE_INPUT not in span.attributes and sc.USAGE_OUTPUT not in span.attributes
    assert points(metric_reader, sc.METRIC_TOKEN_USAGE) == []


async def test_async_streaming(instrument_openai, async_client, span_exporter):
    stream = await async_client.chat.completions.create(model="as", messages=MESSAGES, stream=True,
                                                        stream_options={"include_usage": True})
    texts = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
    assert texts[-1] == "echo: hello there"
    [span] = span_exporter.get_finished_spans()
    assert span.attributes[sc.USAGE_INPUT] == 4


def test_abandoned_stream_ends_span(instrument_openai, client, span_exporter):
    stream = client.chat.completions.create(model="s", messages=MESSAGES, stream=True)
    next(stream)
    next(stream)
    assert span_exporter.get_finished_spans() == ()
    del stream
    gc.collect()
    [span] = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET
    assert sc.RESPONSE_TIME_TO_FIRST_CHUNK in span.attributes


def test_stream_closed_by_context_manager(instrument_openai, client, span_exporter):
    with client.chat.completions.create(model="s", messages=MESSAGES, stream=True) as stream:
        next(stream)
    assert len(span_exporter.get_finished_spans()) == 1


def test_stream_error_midstream(instrument_openai, client, span_exporter):
    stream = client.chat.completions.create(model="s", messages=MESSAGES, stream=True,
                                            extra_headers={"X-Fake-Fail-Midstream": "1"})
    with pytest.raises(openai.APIError, match="stream broke"):
        for _ in stream:
            pass
    [span] = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "server_error"


@pytest.mark.parametrize(("status", "exc_type", "etype"), [
    (429, openai.RateLimitError, "rate_limit_exceeded"), (500, openai.InternalServerError, "server_error")])
def test_http_errors(instrument_openai, client, fake_llm, span_exporter, metric_reader, status, exc_type, etype):
    fake_llm.fail_next(status)
    with pytest.raises(exc_type) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.status_code == status
    [span] = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == etype
    [duration] = points(metric_reader, sc.METRIC_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == etype


def test_connection_error_type(instrument_openai, span_exporter):
    from tests.conftest import free_port

    dead = openai.OpenAI(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k", max_retries=0, timeout=2)
    with pytest.raises(openai.APIConnectionError):
        dead.chat.completions.create(model="m", messages=MESSAGES)
    [span] = span_exporter.get_finished_spans()
    assert span.attributes[sc.ERROR_TYPE] == "APIConnectionError"


def test_tool_calls_requested(instrument_openai, client, span_exporter):
    result = client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)
    assert result.choices[0].message.tool_calls[0].function.name == "add"
    [span] = span_exporter.get_finished_spans()
    assert span.attributes[sc.RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert sc.OUTPUT_MESSAGES not in span.attributes and sc.TOOL_DEFINITIONS not in span.attributes


def test_embeddings(instrument_openai, client, span_exporter, metric_reader):
    client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"], encoding_format="float")
    [span] = span_exporter.get_finished_spans()
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes[sc.OPERATION] == "embeddings"
    assert span.attributes[sc.USAGE_INPUT] == 3 and sc.USAGE_OUTPUT not in span.attributes
    assert span.attributes[sc.REQUEST_ENCODING_FORMATS] == ("float",)
    assert [p.attributes[sc.TOKEN_TYPE] for p in points(metric_reader, sc.METRIC_TOKEN_USAGE)] == ["input"]


def test_responses_api(instrument_openai, client, span_exporter):
    result = client.responses.create(model="gpt-4.1", input="hi you", max_output_tokens=30, temperature=0.1)
    assert result.output_text == "echo: hi you"
    [span] = span_exporter.get_finished_spans()
    assert span.name == "chat gpt-4.1"
    attrs = span.attributes
    assert attrs[sc.RESPONSE_ID] == "resp_fake" and attrs[sc.REQUEST_MAX_TOKENS] == 30
    assert attrs[sc.USAGE_INPUT] == result.usage.input_tokens and attrs[sc.USAGE_OUTPUT] == result.usage.output_tokens
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)


async def test_responses_api_streaming(instrument_openai, async_client, span_exporter):
    stream = await async_client.responses.create(model="gpt-4.1", input="hi", stream=True)
    kinds = [event.type async for event in stream]
    assert kinds[-1] == "response.completed"
    [span] = span_exporter.get_finished_spans()
    assert span.attributes[sc.USAGE_OUTPUT] == 2 and sc.RESPONSE_TIME_TO_FIRST_CHUNK in span.attributes


def test_content_not_captured_by_default(instrument_openai, client, span_exporter, monkeypatch):
    client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)
    list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    for span in span_exporter.get_finished_spans():
        text = json.dumps(dict(span.attributes))
        assert "hello there" not in text and "be brief" not in text and "echo" not in text


@pytest.fixture
def capture_content() -> ContentSettings:
    return ContentSettings(capture=True, max_length=200)


def test_content_capture_on(tracer_provider, meter_provider, capture_content, client, span_exporter):
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, content=capture_content)
    try:
        client.chat.completions.create(model="m", messages=MESSAGES, tools=TOOLS)
        list(client.chat.completions.create(model="m", messages=MESSAGES + [{"role": "user", "content": "x" * 500}],
                                            stream=True))
    finally:
        instrumentor.uninstrument()
    plain, streamed = span_exporter.get_finished_spans()
    assert json.loads(plain.attributes[sc.SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "be brief"}]
    assert json.loads(plain.attributes[sc.INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hello there"}]}]
    output = json.loads(plain.attributes[sc.OUTPUT_MESSAGES])
    assert output[0]["finish_reason"] == "tool_calls"
    assert output[0]["parts"][0] == {"type": "tool_call", "id": "call_fake_1", "name": "add", "arguments": '{"a": 3}'}
    assert json.loads(plain.attributes[sc.TOOL_DEFINITIONS])[0]["function"]["name"] == "add"
    long_input = json.loads(streamed.attributes[sc.INPUT_MESSAGES])[1]["parts"][0]["content"]
    assert len(long_input) == 200 and long_input.endswith("[truncated]")
    streamed_text = json.loads(streamed.attributes[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"]
    assert streamed_text.startswith("t0 t1 t2 t3 echo: xxx") and len(streamed_text) == 200


def test_capture_env_variable(tracer_provider, client, span_exporter, monkeypatch):
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        client.chat.completions.create(model="m", messages=MESSAGES)
    finally:
        instrumentor.uninstrument()
    [span] = span_exporter.get_finished_spans()
    assert "hello there" in span.attributes[sc.INPUT_MESSAGES]


def test_not_recording_still_works_and_records_metrics(meter_provider, metric_reader, client, span_exporter):
    provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider, meter_provider=meter_provider)
    try:
        result = client.chat.completions.create(model="m", messages=MESSAGES)
        list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    finally:
        instrumentor.uninstrument()
    assert result.choices[0].message.content == "echo: hello there"
    assert span_exporter.get_finished_spans() == ()
    assert points(metric_reader, sc.METRIC_OPERATION_DURATION)[0].count == 2


def test_suppressed_context_makes_no_span(instrument_openai, client, span_exporter):
    with suppress_instrumentation():
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert span_exporter.get_finished_spans() == ()


def test_uninstrument_restores_the_client(tracer_provider, client, span_exporter):
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    instrumentor.uninstrument()
    client.chat.completions.create(model="m", messages=MESSAGES)
    assert span_exporter.get_finished_spans() == ()
    import wrapt

    assert not isinstance(openai.resources.chat.completions.Completions.__dict__["create"], wrapt.ObjectProxy)


def test_raw_response_api(instrument_openai, client, span_exporter):
    raw = client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "echo: hello there"
    [span] = span_exporter.get_finished_spans()
    assert span.attributes[sc.USAGE_INPUT] == 4


def test_parse_helpers_are_traced(instrument_openai, client, span_exporter):
    completion = client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content == "echo: hello there"
    response = client.responses.parse(model="gpt-4.1", input="hi")
    assert response.output_text == "echo: hi"
    chat, resp = span_exporter.get_finished_spans()
    assert chat.name == "chat gpt-4o-mini" and chat.attributes[sc.USAGE_INPUT] == 4
    assert resp.name == "chat gpt-4.1" and resp.attributes[sc.RESPONSE_ID] == "resp_fake"


async def test_async_parse_helper(instrument_openai, async_client, span_exporter):
    await async_client.chat.completions.parse(model="m", messages=MESSAGES)
    [span] = span_exporter.get_finished_spans()
    assert span.attributes[sc.USAGE_OUTPUT] == 3
