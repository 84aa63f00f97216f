"""httpx GenAI hooks: OpenAI-compatible calls made without the SDK still yield LLM spans."""

from __future__ import annotations

import httpx
import openai
import pytest
from opentelemetry.trace import StatusCode

from agentotel.instrumentation import semconv as sc
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


def test_streamed_raw_call_keeps_request_attributes(instrument_httpx, fake_llm, span_exporter):
    with httpx.stream("POST", f"{fake_llm.base_url}/chat/completions", json={**BODY, "stream": True}) as reply:
        assert b"[DONE]" in reply.read()
    [span] = span_exporter.get_finished_spans()
    assert span.name == "chat raw-model" and span.attributes[sc.REQUEST_STREAM] is True


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
