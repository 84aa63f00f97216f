"""Content capture modes and the ``gen_ai.client.inference.operation.details`` event (OTel Logs API)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import (
    EVENT_ONLY,
    SPAN_AND_EVENT,
    SPAN_ONLY,
    ContentSettings,
)

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
TOOLS = [{"type": "function", "function": {"name": "add", "description": "Add",
                                           "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}]
CONTENT_KEYS = set(sc.CONTENT_KEYS)


@pytest.mark.parametrize(("env", "argument", "expected"), [
    (None, None, (False, False)),
    ("false", None, (False, False)),
    ("NO_CONTENT", None, (False, False)),
    ("true", None, (True, False)),
    ("SPAN_ONLY", None, (True, False)),
    ("EVENT_ONLY", None, (False, True)),
    ("span_and_event", None, (True, True)),
    ("EVENT_ONLY", True, (False, True)),  # True: on, in the environment's mode
    (None, True, (True, False)),
    ("SPAN_AND_EVENT", False, (False, False)),
    (None, "EVENT_ONLY", (False, True)),
    ("SPAN_ONLY", "SPAN_AND_EVENT", (True, True)),
])
def test_capture_modes(monkeypatch, env, argument, expected):
    if env is None:
        monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    else:
        monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", env)
    settings = ContentSettings.resolve(argument)
    assert (settings.on_span, settings.on_event) == expected
    assert settings.capture == any(expected)


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode"):
        ContentSettings(capture=True, mode="LOUD")


@pytest.fixture(params=[EVENT_ONLY, SPAN_AND_EVENT])
def mode(request) -> str:
    return request.param


@pytest.fixture
def events_openai(tracer_provider, meter_provider, logger_provider, mode) -> Iterator[Any]:
    from agentotel.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                            logger_provider=logger_provider, content=ContentSettings(capture=True, mode=mode))
    yield instrumentor
    instrumentor.uninstrument()


def _events(log_exporter) -> list[Any]:
    records = [r.log_record for r in log_exporter.get_finished_logs()]
    assert all(r.event_name == sc.EVENT_INFERENCE_DETAILS for r in records)
    return records


def _check_pairing(span, record, mode: str) -> dict[str, Any]:
    """The event names its span; the span has content only in SPAN_AND_EVENT (then the same as the event)."""
    assert record.trace_id == span.context.trace_id and record.span_id == span.context.span_id
    attrs = dict(record.attributes)
    for key in (sc.OPERATION, sc.PROVIDER, sc.REQUEST_MODEL, sc.SERVER_ADDRESS, sc.SERVER_PORT):
        assert attrs[key] == span.attributes[key], key
    on_span = CONTENT_KEYS & set(span.attributes)
    if mode == EVENT_ONLY:
        assert on_span == set(), on_span
    else:
        assert on_span and all(span.attributes[k] == attrs[k] for k in on_span)
    return attrs


def test_chat_event(events_openai, client, span_exporter, log_exporter, mode):
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS, temperature=0.5)
    [span] = span_exporter.get_finished_spans()
    [record] = _events(log_exporter)
    attrs = _check_pairing(span, record, mode)
    assert attrs[sc.REQUEST_TEMPERATURE] == 0.5 and attrs[sc.RESPONSE_MODEL] == "gpt-4o-mini-2024-01-01"
    assert attrs[sc.USAGE_INPUT] == 4 and attrs[sc.RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert json.loads(attrs[sc.SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "be brief"}]
    assert json.loads(attrs[sc.INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "hello there"}]}]
    assert json.loads(attrs[sc.TOOL_DEFINITIONS])[0]["function"]["name"] == "add"
    [output] = json.loads(attrs[sc.OUTPUT_MESSAGES])
    assert output["finish_reason"] == "tool_calls" and output["parts"][0]["name"] == "add"
    assert CONTENT_KEYS <= set(attrs)


def test_streamed_chat_event(events_openai, client, span_exporter, log_exporter, mode):
    list(client.chat.completions.create(model="s", messages=MESSAGES, stream=True,
                                        stream_options={"include_usage": True}))
    [span] = span_exporter.get_finished_spans()
    [record] = _events(log_exporter)
    attrs = _check_pairing(span, record, mode)
    assert attrs[sc.USAGE_OUTPUT] == 5 and attrs[sc.REQUEST_STREAM] is True
    assert attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    [output] = json.loads(attrs[sc.OUTPUT_MESSAGES])
    assert output["parts"] == [{"type": "text", "content": "t0 t1 t2 t3 echo: hello there"}]


async def test_async_chat_and_responses_events(events_openai, async_client, span_exporter, log_exporter, mode):
    await async_client.chat.completions.create(model="a", messages=MESSAGES)
    stream = await async_client.chat.completions.create(model="b", messages=MESSAGES, stream=True)
    [_ async for _ in stream]
    await async_client.responses.create(model="c", input="hi you", instructions="answer in French")
    stream = await async_client.responses.create(model="d", input="hi", stream=True)
    [_ async for _ in stream]
    spans = {s.name: s for s in span_exporter.get_finished_spans()}
    records = _events(log_exporter)
    assert len(spans) == len(records) == 4
    by_span = {r.span_id: r for r in records}
    for name in ("chat a", "chat b", "chat c", "chat d"):
        _check_pairing(spans[name], by_span[spans[name].context.span_id], mode)
    responses = dict(by_span[spans["chat c"].context.span_id].attributes)
    assert json.loads(responses[sc.SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "answer in French"}]
    assert json.loads(responses[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "echo: hi you"
    streamed = dict(by_span[spans["chat d"].context.span_id].attributes)
    assert json.loads(streamed[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "t0 t1 t2 t3 echo: hi"


def test_failed_call_event_has_error_type(events_openai, client, fake_llm, span_exporter, log_exporter, mode):
    fake_llm.fail_next(429)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=MESSAGES)
    [span] = span_exporter.get_finished_spans()
    [record] = _events(log_exporter)
    attrs = _check_pairing(span, record, mode)
    assert attrs[sc.ERROR_TYPE] == "rate_limit_exceeded" and sc.OUTPUT_MESSAGES not in attrs
    assert "hello there" in attrs[sc.INPUT_MESSAGES]


def test_span_only_and_default_emit_no_events(tracer_provider, logger_provider, client, span_exporter, log_exporter):
    from agentotel.instrumentation.openai import OpenAIInstrumentor

    for settings in (ContentSettings(), ContentSettings(capture=True, mode=SPAN_ONLY)):
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider, content=settings)
        try:
            client.chat.completions.create(model="m", messages=MESSAGES)
        finally:
            instrumentor.uninstrument()
    off, span_only = span_exporter.get_finished_spans()
    assert CONTENT_KEYS & set(off.attributes) == set()
    assert sc.INPUT_MESSAGES in span_only.attributes
    assert log_exporter.get_finished_logs() == ()


def test_langchain_chat_model_event(tracer_provider, meter_provider, logger_provider, fake_llm, span_exporter,
                                    log_exporter, mode):
    from langchain_openai import ChatOpenAI

    from agentotel.instrumentation.langchain import LangChainInstrumentor
    from agentotel.instrumentation.openai import OpenAIInstrumentor

    settings = ContentSettings(capture=True, mode=mode)
    instrumentors = [OpenAIInstrumentor(), LangChainInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                                logger_provider=logger_provider, content=settings)
    try:
        llm = ChatOpenAI(model="gpt-4o-mini", base_url=fake_llm.base_url, api_key="k", max_retries=0)
        assert llm.invoke([("system", "be brief"), ("user", "hello there")]).content == "echo: hello there"
        streamed = "".join(chunk.content for chunk in llm.stream("stream me"))
        assert streamed.endswith("echo: stream me")
    finally:
        for instrumentor in reversed(instrumentors):
            instrumentor.uninstrument()
    chats = [s for s in span_exporter.get_finished_spans() if s.attributes.get(sc.OPERATION) == "chat"]
    assert [s.instrumentation_scope.name for s in chats] == ["agentotel.instrumentation.langchain"] * 2
    records = _events(log_exporter)
    assert len(records) == 2  # one per model call: the OpenAI instrumentor stayed out of it
    plain = _check_pairing(chats[0], records[0], mode)
    assert json.loads(plain[sc.SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "be brief"}]
    assert json.loads(plain[sc.OUTPUT_MESSAGES])[0]["parts"][0]["content"] == "echo: hello there"
    assert plain[sc.USAGE_INPUT] > 0 and plain[sc.RESPONSE_MODEL] == "gpt-4o-mini-2024-01-01"
    stream = _check_pairing(chats[1], records[1], mode)
    assert "stream me" in stream[sc.INPUT_MESSAGES]
