"""httpx GenAI hooks: OpenAI-compatible calls made without the SDK still yield LLM spans."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from opentelemetry.trace import StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation.httpx import HTTPXGenAIInstrumentor
from tests.instrumentation.support import points

BODY = {"model": "raw-model", "messages": [{"role": "user", "content": "hi you"}], "temperature": 0.3}


@pytest.fixture
def instrument_httpx(tracer_provider, meter_provider, content):
    instrumentor = HTTPXGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, content=content)
    yield instrumentor
    instrumentor.uninstrument()


def test_raw_chat_call_is_an_llm_span(instrument_httpx, fake_llm, span_exporter, metric_reader):
    reply = httpx.post(f"{fake_llm.base_url}/chat/completions", json=BODY)
    assert reply.json()["choices"][0]["message"]["content"] == "echo: hi you"  # body replayed intact
    [span] = span_exporter.get_finished_spans()
    assert span.name == "chat raw-model"
    attrs = span.attributes
    assert attrs[sc.OPERATION] == "chat" and attrs[sc.PROVIDER] == "openai"
    assert attrs[sc.REQUEST_TEMPERATURE] == 0.3 and attrs[sc.SERVER_PORT] == fake_llm.port
    assert attrs[sc.USAGE_INPUT] == 2 and attrs[sc.USAGE_OUTPUT] == 3
    assert attrs[sc.RESPONSE_MODEL] == "raw-model-2024-01-01" and attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert {p.attributes[sc.TOKEN_TYPE] for p in points(metric_reader, sc.METRIC_TOKEN_USAGE)} == {"input", "output"}


async def test_async_embeddings_call(instrument_httpx, fake_llm, span_exporter):
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{fake_llm.base_url}/embeddings", json={"model": "emb", "input": "a b c"})
    assert len(reply.json()["data"][0]["embedding"]) == 8
    [span] = span_exporter.get_finished_spans()
    assert span.name == "embeddings emb" and span.attributes[sc.USAGE_INPUT] == 3


def test_error_status(instrument_httpx, fake_llm, span_exporter):
    reply = httpx.post(f"{fake_llm.base_url}/chat/completions", json=BODY, headers={"X-Fake-Status": "429"})
    assert reply.status_code == 429
    [span] = span_exporter.get_finished_spans()
    assert span.attributes[sc.ERROR_TYPE] == "429" and span.status.status_code is StatusCode.ERROR


def _plain_body(fake_llm, body: dict) -> bytes:
    """What the server streams for ``body`` (the fake is deterministic), read without instrumentation."""
    from tests.support.fake_openai import handle

    return handle("/v1/chat/completions" if "messages" in body else "/v1/responses", body)[2]


def test_streamed_raw_call_gets_usage_from_the_final_chunk(instrument_httpx, fake_llm, span_exporter,
                                                           metric_reader):
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", f"{fake_llm.base_url}/chat/completions", json=body) as reply:
        assert span_exporter.get_finished_spans() == ()  # the span lasts until the body is read
        received = b"".join(reply.iter_raw())
    assert received == _plain_body(fake_llm, body)  # passed through unchanged
    [span] = span_exporter.get_finished_spans()
    attrs = span.attributes
    assert span.name == "chat raw-model" and attrs[sc.REQUEST_STREAM] is True
    assert attrs[sc.USAGE_INPUT] == 2 and attrs[sc.USAGE_OUTPUT] == 5
    assert attrs[sc.RESPONSE_MODEL] == "raw-model-2024-01-01" and attrs[sc.RESPONSE_ID] == "chatcmpl-fake"
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert 0 < attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] < 5
    usage = {p.attributes[sc.TOKEN_TYPE]: p.sum for p in points(metric_reader, sc.METRIC_TOKEN_USAGE)}
    assert usage == {"input": 2, "output": 5}


def test_streamed_raw_call_without_usage(instrument_httpx, fake_llm, span_exporter, metric_reader):
    with httpx.stream("POST", f"{fake_llm.base_url}/chat/completions", json={**BODY, "stream": True}) as reply:
        lines = list(reply.iter_lines())
    assert lines[-2] == "data: [DONE]"
    [span] = span_exporter.get_finished_spans()
    assert sc.USAGE_INPUT not in span.attributes and span.attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert points(metric_reader, sc.METRIC_TOKEN_USAGE) == []


def test_abandoned_raw_stream_ends_the_span(instrument_httpx, fake_llm, span_exporter):
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.Client() as http:
        reply = http.send(http.build_request("POST", f"{fake_llm.base_url}/chat/completions", json=body),
                          stream=True)
        assert span_exporter.get_finished_spans() == ()
        reply.close()  # never read
        [span] = span_exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.UNSET and sc.USAGE_INPUT not in span.attributes


async def test_async_raw_stream_and_responses_api(instrument_httpx, fake_llm, span_exporter):
    body = {**BODY, "stream": True, "stream_options": {"include_usage": True}}
    async with httpx.AsyncClient() as http:
        async with http.stream("POST", f"{fake_llm.base_url}/chat/completions", json=body) as reply:
            received = b"".join([chunk async for chunk in reply.aiter_raw()])
        responses = {"model": "r", "input": "hi you", "stream": True}
        async with http.stream("POST", f"{fake_llm.base_url}/responses", json=responses) as reply:
            events = [line async for line in reply.aiter_lines() if line.startswith("event:")]
    assert received == _plain_body(fake_llm, body) and events[-1] == "event: response.completed"
    chat, resp = span_exporter.get_finished_spans()
    assert chat.attributes[sc.USAGE_OUTPUT] == 5 and chat.attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert resp.name == "chat r" and resp.attributes[sc.USAGE_INPUT] == 2 and resp.attributes[sc.USAGE_OUTPUT] == 3
    assert resp.attributes[sc.RESPONSE_ID] == "resp_fake"


def test_sse_watch_handles_lines_split_across_chunks():
    """Transport chunks need not end at line ends: every split of the body gives the same reading."""
    from agentotel.instrumentation.httpx.hooks import _SSEWatch
    from tests.support.fake_openai import handle

    body = {**BODY, "n": 1, "stream": True, "stream_options": {"include_usage": True}}
    raw = handle("/v1/chat/completions", body)[2]
    # as OpenAI sends it: "usage": null in every chunk but the last
    raw = b"\n".join(line.replace(b"data: {", b'data: {"usage": null, ', 1) if b'"usage"' not in line else line
                      for line in raw.split(b"\n"))
    assert raw.count(b'"usage": null') > 3
    for size in (1, 7, 64, len(raw)):
        seen = []
        watch = _SSEWatch([raw[i:i + size] for i in range(0, len(raw), size)], lambda w, exc, seen=seen: seen.append(exc))
        assert b"".join(watch) == raw and seen == [None]
        assert json.loads(watch.usage_line)["usage"]["prompt_tokens"] == 2, size
        assert watch.finish_reasons == {0: "stop"}


def test_raw_call_content_event(tracer_provider, meter_provider, logger_provider, fake_llm, span_exporter,
                                log_exporter):
    from agentotel.instrumentation._content import ContentSettings

    instrumentor = HTTPXGenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                            logger_provider=logger_provider, content=ContentSettings(capture=True, mode="EVENT_ONLY"))
    try:
        httpx.post(f"{fake_llm.base_url}/chat/completions", json=BODY)
    finally:
        instrumentor.uninstrument()
    [span] = span_exporter.get_finished_spans()
    [record] = [r.log_record for r in log_exporter.get_finished_logs()]
    assert record.event_name == sc.EVENT_INFERENCE_DETAILS
    assert (record.trace_id, record.span_id) == (span.context.trace_id, span.context.span_id)
    assert sc.INPUT_MESSAGES not in span.attributes and sc.OUTPUT_MESSAGES not in span.attributes
    assert "hi you" in record.attributes[sc.INPUT_MESSAGES]
    assert "echo: hi you" in record.attributes[sc.OUTPUT_MESSAGES] and record.attributes[sc.USAGE_INPUT] == 2


def test_other_urls_stay_plain_http_spans(instrument_httpx, fake_llm, span_exporter):
    httpx.post(f"{fake_llm.base_url}/files", json={})
    [span] = span_exporter.get_finished_spans()
    assert span.name == "POST" and sc.OPERATION not in span.attributes


def test_sdk_call_gives_one_llm_span(instrument_httpx, instrument_openai, fake_llm, span_exporter):
    with openai.OpenAI(base_url=fake_llm.base_url, api_key="k", http_client=httpx.Client()) as sdk:
        sdk.chat.completions.create(model="sdk", messages=BODY["messages"])
    spans = span_exporter.get_finished_spans()
    llm = [s for s in spans if sc.OPERATION in s.attributes]
    assert [s.name for s in llm] == ["chat sdk"]
    http = [s for s in spans if s.name == "POST"]
    assert len(http) == 1 and http[0].parent.span_id == llm[0].context.span_id
