"""The real ``anthropic`` client against the loopback fake of the Messages API, sync and async, in both modes:

- ``native``: the client traces itself (anthropic 2.x with a tracer provider); we add what its span lacks,
  and the metrics and events, and never a second span;
- ``own``: the client's tracing is off (as with SDKs without native tracing); our ``chat {model}`` span.

Every call yields exactly one LLM span either way. Against an SDK without native tracing (e.g. the oldest
supported, run with ``PYTHONPATH=build/package-tree:.`` from a venv holding it) the ``native`` cases skip.
"""

from __future__ import annotations

import importlib.util
import json
import traceback
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings
from tests.instrumentation.fake_providers import FakeAnthropicServer
from tests.instrumentation.support import points

MODEL = "claude-sonnet-4-5"
MESSAGES = [{"role": "user", "content": "hello there"}]
TOOLS = [{"name": "get_weather", "description": "Weather of a city",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
RATE_HEADERS = {"anthropic-ratelimit-tokens-limit": "80000", "anthropic-ratelimit-tokens-remaining": "6000",
                "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49",
                "anthropic-ratelimit-input-tokens-reset": "2099-01-01T00:00:00Z"}
MODES = ("native", "own")
CACHE_CREATION = {"native": "gen_ai.usage.cache_write.input_tokens", "own": sc.USAGE_CACHE_CREATION}


@pytest.fixture(scope="module")
def _anthropic_server() -> Iterator[FakeAnthropicServer]:
    with FakeAnthropicServer() as server:
        yield server


@pytest.fixture
def fake(_anthropic_server: FakeAnthropicServer) -> FakeAnthropicServer:
    _anthropic_server.reset()
    return _anthropic_server


def _instrument(tracer_provider, meter_provider, content: ContentSettings, logger_provider=None):
    from agentotel.instrumentation.anthropic import AnthropicInstrumentor

    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, content=content,
                            logger_provider=logger_provider)
    return instrumentor


@pytest.fixture
def instrumented(tracer_provider, meter_provider, content) -> Iterator[Any]:
    instrumentor = _instrument(tracer_provider, meter_provider, content)
    yield instrumentor
    instrumentor.uninstrument()


NATIVE_SDK = importlib.util.find_spec("anthropic._tracing") is not None  # anthropic ≥ 2 traces itself


def _telemetry(mode: str, tracer_provider) -> dict[str, Any]:
    """The client's ``open_telemetry`` option for ``mode`` (none at all on SDKs without native tracing)."""
    if not NATIVE_SDK:
        if mode == "native":
            pytest.skip("this anthropic version has no tracing of its own")
        return {}
    return {"open_telemetry": {"tracer_provider": tracer_provider} if mode == "native" else False}


@pytest.fixture(params=MODES)
def mode(request) -> str:
    return request.param


@pytest.fixture
def client(fake, mode, tracer_provider) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0,
                             **_telemetry(mode, tracer_provider)) as c:
        yield c


@pytest.fixture
async def async_client(fake, mode, tracer_provider):
    async with anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="k", max_retries=0,
                                        **_telemetry(mode, tracer_provider)) as c:
        yield c


def llm_spans(exporter) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.attributes.get(sc.OPERATION) == sc.OP_CHAT]


def one_llm_span(exporter, mode: str) -> Any:
    spans = llm_spans(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    [span] = spans
    assert span.name == ("anthropic.messages.create" if mode == "native" else f"chat {MODEL}")
    assert span.instrumentation_scope.name == (
        "com.anthropic.sdk.python" if mode == "native" else "agentotel.instrumentation.anthropic")
    return span


def _check_usage(span, mode: str, input_tokens: int, output_tokens: int) -> None:
    assert span.attributes[sc.USAGE_INPUT] == input_tokens + 5 + 3  # raw input + cache read + cache write
    assert span.attributes[sc.USAGE_CACHE_READ] == 5
    assert span.attributes[CACHE_CREATION[mode]] == 3
    assert span.attributes[sc.USAGE_OUTPUT] == output_tokens


def _token_points(metric_reader) -> dict[str, int]:
    return {p.attributes[sc.TOKEN_TYPE]: p.sum for p in points(metric_reader, sc.METRIC_TOKEN_USAGE)}


# ---------------------------------------------------------------------------------------------------- calls

def test_create(instrumented, client, fake, mode, span_exporter, metric_reader):
    fake.cache_read, fake.cache_creation = 5, 3
    message = client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stop_sequences=["END"])
    assert message.content[0].text == "echo: hello there"
    span = one_llm_span(span_exporter, mode)
    attrs = span.attributes
    assert attrs[sc.PROVIDER] == "anthropic" and attrs[sc.REQUEST_MODEL] == MODEL
    assert attrs[sc.RESPONSE_MODEL] == f"{MODEL}-20250929" and attrs[sc.RESPONSE_ID] == "msg_fake"
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert attrs[sc.REQUEST_MAX_TOKENS] == 64
    assert attrs[sc.REQUEST_STOP] == ("END",)
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1" and attrs[sc.SERVER_PORT] == fake.port
    _check_usage(span, mode, 2, 3)
    assert sc.INPUT_MESSAGES not in attrs and sc.OUTPUT_MESSAGES not in attrs  # content off by default
    assert _token_points(metric_reader) == {"input": 10, "output": 3}
    [duration] = points(metric_reader, sc.METRIC_OPERATION_DURATION)
    assert duration.count == 1 and duration.attributes[sc.PROVIDER] == "anthropic"
    assert duration.attributes[sc.RESPONSE_MODEL] == f"{MODEL}-20250929"


def test_create_stream(instrumented, client, fake, mode, span_exporter, metric_reader):
    fake.cache_read, fake.cache_creation = 5, 3
    events = list(client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True))
    assert [e.type for e in events][0] == "message_start" and events[-1].type == "message_stop"
    span = one_llm_span(span_exporter, mode)
    assert span.attributes[sc.REQUEST_STREAM] is True
    assert span.attributes[sc.RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert span.attributes[sc.RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    _check_usage(span, mode, 2, 4)  # message_delta's output count
    assert _token_points(metric_reader) == {"input": 10, "output": 4}
    [ttfc] = points(metric_reader, sc.METRIC_TIME_TO_FIRST_CHUNK)
    [per_chunk] = points(metric_reader, sc.METRIC_TIME_PER_OUTPUT_CHUNK)
    assert ttfc.count == per_chunk.count == 1


def test_stream_helper_with_tool_use_and_thinking(instrumented, client, mode, span_exporter):
    with client.messages.stream(model=MODEL, max_tokens=2048, messages=[{"role": "user", "content": "weather?"}],
                                tools=TOOLS, thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert texts == [] and final.stop_reason == "tool_use"
    assert [b.type for b in final.content] == ["thinking", "tool_use"] and final.content[1].input == {"city": "x"}
    span = one_llm_span(span_exporter, mode)
    assert span.attributes[sc.RESPONSE_FINISH_REASONS] == ("tool_use",)
    assert span.attributes[sc.RESPONSE_REASONING_BLOCKS] == 1  # counted, not captured
    assert sc.OUTPUT_MESSAGES not in span.attributes


def test_stream_helper_left_early_ends_the_span(instrumented, client, mode, span_exporter):
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        for _event in stream:
            break
    span = one_llm_span(span_exporter, mode)
    assert span.end_time is not None


def test_raw_response(instrumented, client, mode, span_exporter):
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert raw.parse().content[0].text == "echo: hello there"
    span = one_llm_span(span_exporter, mode)
    assert span.attributes[sc.USAGE_OUTPUT] == 3


async def test_async(instrumented, async_client, fake, mode, span_exporter, metric_reader):
    fake.cache_read, fake.cache_creation = 5, 3
    message = await async_client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert message.content[0].text == "echo: hello there"
    events = [e async for e in await async_client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES,
                                                                    stream=True)]
    assert events[-1].type == "message_stop"
    async with async_client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        final = await stream.get_final_message()
    assert final.content[0].text == "t0 t1 t2 echo: hello there"
    spans = llm_spans(span_exporter)
    assert len(spans) == 3
    for span in spans:
        assert span.attributes[sc.RESPONSE_FINISH_REASONS] == ("end_turn",)
        _check_usage(span, mode, 2, span.attributes[sc.USAGE_OUTPUT])
    assert points(metric_reader, sc.METRIC_OPERATION_DURATION)[0].count == 3


# ----------------------------------------------------------------------------------------- tools and content

def _tool_round_trip(client) -> list[Any]:
    first = client.messages.create(model=MODEL, max_tokens=64, tools=TOOLS,
                                   messages=[{"role": "user", "content": "weather in Paris?"}])
    [call] = [b for b in first.content if b.type == "tool_use"]
    second = client.messages.create(model=MODEL, max_tokens=64, tools=TOOLS, system="be brief", messages=[
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny"}]}])
    return [first, second]


@pytest.mark.parametrize("content", [ContentSettings(capture=True)])
def test_tool_use_with_content_on_span(instrumented, client, mode, span_exporter):
    first, second = _tool_round_trip(client)
    assert second.content[0].text == "Final answer: sunny"
    spans = llm_spans(span_exporter)
    assert len(spans) == 2
    assert [s.attributes[sc.RESPONSE_FINISH_REASONS] for s in spans] == [("tool_use",), ("end_turn",)]
    out = json.loads(spans[0].attributes[sc.OUTPUT_MESSAGES])
    assert out == [{"role": "assistant", "finish_reason": "tool_call", "parts": [
        {"type": "tool_call", "id": "toolu_fake_1", "name": "get_weather", "arguments": {"city": "x"}}]}]
    inputs = json.loads(spans[1].attributes[sc.INPUT_MESSAGES])
    assert inputs[1]["parts"][0]["type"] == "tool_call"
    assert inputs[2] == {"role": "user", "parts": [
        {"type": "tool_call_response", "id": "toolu_fake_1", "response": "sunny"}]}
    assert json.loads(spans[1].attributes[sc.SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "be brief"}]
    assert json.loads(spans[1].attributes[sc.TOOL_DEFINITIONS])[0]["name"] == "get_weather"
    assert json.loads(spans[1].attributes[sc.OUTPUT_MESSAGES])[0]["parts"] == [
        {"type": "text", "content": "Final answer: sunny"}]


@pytest.mark.parametrize("content", [ContentSettings(capture=True)])
def test_thinking_captured_with_content_on(instrumented, client, fake, mode, span_exporter):
    fake.stream_chunks = 1
    thinking = {"type": "enabled", "budget_tokens": 1024}
    client.messages.create(model=MODEL, max_tokens=2048, messages=MESSAGES, thinking=thinking)
    with client.messages.stream(model=MODEL, max_tokens=2048, messages=MESSAGES, thinking=thinking) as stream:
        stream.until_done()
    for span in llm_spans(span_exporter):
        assert span.attributes[sc.RESPONSE_REASONING_BLOCKS] == 1
        [message] = json.loads(span.attributes[sc.OUTPUT_MESSAGES])
        assert message["parts"] == [{"type": "reasoning", "content": "Let me think about this."},
                                    {"type": "text", "content": "echo: hello there"}]
        assert message["finish_reason"] == "stop"


@pytest.mark.parametrize("mode", MODES)
def test_event_only_content_event(fake, mode, tracer_provider, meter_provider, logger_provider, log_exporter,
                                  span_exporter):
    instrumentor = _instrument(tracer_provider, meter_provider, ContentSettings(capture=True, mode="EVENT_ONLY"),
                               logger_provider)
    try:
        with anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0,
                                 **_telemetry(mode, tracer_provider)) as client:
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, system="be brief")
            list(client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True))
    finally:
        instrumentor.uninstrument()
    spans = llm_spans(span_exporter)
    records = [r.log_record for r in log_exporter.get_finished_logs()]
    assert len(spans) == len(records) == 2
    for span, record in zip(spans, records):
        assert sc.INPUT_MESSAGES not in span.attributes and sc.OUTPUT_MESSAGES not in span.attributes
        assert record.event_name == sc.EVENT_INFERENCE_DETAILS
        assert (record.trace_id, record.span_id) == (span.context.trace_id, span.context.span_id)
        assert json.loads(record.attributes[sc.INPUT_MESSAGES])[0]["parts"][0]["content"] == "hello there"
        assert json.loads(record.attributes[sc.OUTPUT_MESSAGES])[0]["parts"][-1]["content"].endswith("hello there")
        assert record.attributes[sc.USAGE_OUTPUT] > 0 and record.attributes[sc.PROVIDER] == "anthropic"


# ------------------------------------------------------------------------------------------ errors, limits

def _failure(client, **kwargs):
    try:
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, **kwargs)
    except Exception as exc:  # noqa: BLE001
        frames = traceback.extract_tb(exc.__traceback__)
        return type(exc), str(exc), (frames[-1].filename, frames[-1].lineno, frames[-1].name)
    raise AssertionError("expected a failure")


def test_rate_limit_error(fake, mode, tracer_provider, meter_provider, span_exporter, metric_reader):
    fake.response_headers = {**RATE_HEADERS, "anthropic-ratelimit-tokens-remaining": "0"}
    headers = {"X-Fake-Status": "429"}
    with anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0,
                             **_telemetry(mode, tracer_provider)) as client:
        plain = _failure(client, extra_headers=headers)
        span_exporter.clear()
        instrumentor = _instrument(tracer_provider, meter_provider, ContentSettings())
        try:
            traced = _failure(client, extra_headers=headers)
        finally:
            instrumentor.uninstrument()
    assert traced == plain  # type, message, innermost frame
    span = one_llm_span(span_exporter, mode)
    assert span.attributes[sc.ERROR_TYPE] == "rate_limit_error" and not span.status.is_ok
    assert span.attributes[sc.ratelimit_key("tokens", "remaining")] == 0
    assert span.attributes[sc.RATELIMIT_RETRY_AFTER] == 0.0
    [duration] = points(metric_reader, sc.METRIC_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == "rate_limit_error"


def test_rate_limit_headers(instrumented, client, fake, mode, span_exporter, metric_reader):
    fake.response_headers = RATE_HEADERS
    client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    list(client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True))
    for span in llm_spans(span_exporter):
        assert span.attributes[sc.ratelimit_key("tokens", "remaining")] == 6000
        assert span.attributes[sc.ratelimit_key("requests", "limit")] == 50
        assert span.attributes[sc.ratelimit_key("input_tokens", "reset")] > 1e9
    [ratio] = points(metric_reader, sc.METRIC_RATELIMIT_TOKENS_REMAINING_RATIO)
    assert ratio.value == pytest.approx(0.075)
    assert dict(ratio.attributes) == {sc.PROVIDER: "anthropic", sc.REQUEST_MODEL: MODEL}


def test_stream_failing_midway(instrumented, client, mode, span_exporter):
    with pytest.raises(anthropic.APIStatusError):
        list(client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True,
                                    extra_headers={"X-Fake-Fail-Midstream": "1"}))
    span = one_llm_span(span_exporter, mode)
    assert span.attributes[sc.ERROR_TYPE] == "overloaded_error" and not span.status.is_ok


def test_connection_refused(instrumented, mode, tracer_provider, span_exporter, metric_reader):
    from tests.conftest import free_port

    with anthropic.Anthropic(base_url=f"http://127.0.0.1:{free_port()}", api_key="k", max_retries=0,
                             **_telemetry(mode, tracer_provider)) as client:
        with pytest.raises(anthropic.APIConnectionError):
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    span = one_llm_span(span_exporter, mode)
    assert not span.status.is_ok
    [duration] = points(metric_reader, sc.METRIC_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE]


# ---------------------------------------------------------------------------------------- never break host

def _raise(*args, **kwargs):
    raise RuntimeError("telemetry bug")


@pytest.mark.parametrize("target", ["start", "chunk", "finish", "limits"])
def test_faults_of_ours_never_reach_the_host(instrumented, client, fake, target, monkeypatch, caplog):
    import logging

    from agentotel.instrumentation import _ratelimit
    from agentotel.instrumentation.anthropic import patch

    caplog.set_level(logging.DEBUG, logger="agentotel.instrumentation")
    fake.response_headers = RATE_HEADERS
    if target == "start":
        monkeypatch.setattr(patch, "_start", _raise)
    elif target == "chunk":
        monkeypatch.setattr(patch.MessageStreamState, "on_chunk", _raise)
    elif target == "finish":
        monkeypatch.setattr(patch.AnthropicCall, "succeed", _raise)
    else:
        monkeypatch.setattr(_ratelimit, "rate_limit_attributes", _raise)
        monkeypatch.setattr(patch, "rate_limit_attributes", _raise)
    assert client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES).content[0].text == (
        "echo: hello there")
    events = list(client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True))
    assert events[-1].type == "message_stop"
    with client.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
        assert "".join(stream.text_stream).endswith("echo: hello there")
    assert "telemetry bug" in caplog.text


def test_sampled_out(fake, mode, meter_provider, span_exporter, metric_reader):
    provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    instrumentor = _instrument(provider, meter_provider, ContentSettings(capture=True))
    try:
        with anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0,
                                 **_telemetry(mode, provider)) as client:
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
            list(client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True))
    finally:
        instrumentor.uninstrument()
    assert span_exporter.get_finished_spans() == ()
    assert points(metric_reader, sc.METRIC_OPERATION_DURATION)[0].count == 2  # metrics still count every call


def test_sdk_span_sampled_out_leaves_the_callers_span_alone(fake, tracer_provider, meter_provider, span_exporter,
                                                             metric_reader):
    """The SDK's tracer drops its span; the application's own span, current around the call, must not get the
    call's attributes (finish reasons, rate limits) in its place. Metrics still count the call."""
    if not NATIVE_SDK:
        pytest.skip("this anthropic version has no tracing of its own")
    fake.response_headers = RATE_HEADERS
    dropping = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    instrumentor = _instrument(tracer_provider, meter_provider, ContentSettings())
    try:
        with anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0,
                                 open_telemetry={"tracer_provider": dropping}) as client:
            with tracer_provider.get_tracer("app").start_as_current_span("invoke_agent app"):
                client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
                list(client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True))
    finally:
        instrumentor.uninstrument()
    [outer] = span_exporter.get_finished_spans()
    assert sc.RESPONSE_FINISH_REASONS not in outer.attributes
    assert not [k for k in outer.attributes if k.startswith("agentotel.ratelimit.")]
    assert points(metric_reader, sc.METRIC_OPERATION_DURATION)[0].count == 2


def test_suppressed_and_uninstrumented(fake, tracer_provider, meter_provider, span_exporter):
    from anthropic._base_client import SyncAPIClient
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    plain = SyncAPIClient.request
    instrumentor = _instrument(tracer_provider, meter_provider, ContentSettings())
    with anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=0,
                             **_telemetry("own", tracer_provider)) as client:
        with suppress_instrumentation():
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        assert llm_spans(span_exporter) == []
        instrumentor.uninstrument()
        assert SyncAPIClient.request is plain
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert llm_spans(span_exporter) == []


def test_count_tokens_is_not_an_llm_call(instrumented, client, span_exporter):
    try:
        client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    except anthropic.NotFoundError:
        pass  # the fake does not serve it
    assert llm_spans(span_exporter) == []
