"""The OpenAI ``.stream()`` helpers (chat completions, beta chat completions, Responses), sync and async."""

from __future__ import annotations

import openai
import pytest
from opentelemetry.trace import StatusCode

from agentotel.core import semconv as sc
from tests.instrumentation.support import points

MESSAGES = [{"role": "user", "content": "hello there"}]
USAGE = {"include_usage": True}


def _llm_spans(span_exporter):
    return [s for s in span_exporter.get_finished_spans() if sc.OPERATION in s.attributes]


def _shape(span) -> set[str]:
    return set(span.attributes)


def test_chat_stream_helper_has_the_create_stream_span(instrument_openai, client, span_exporter, metric_reader):
    list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True, stream_options=USAGE))
    [reference] = _llm_spans(span_exporter)
    span_exporter.clear()
    with client.chat.completions.stream(model="m", messages=MESSAGES, stream_options=USAGE) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_completion()
    assert "content.delta" in kinds and final.choices[0].message.content == "t0 t1 t2 t3 echo: hello there"
    [span] = _llm_spans(span_exporter)  # one LLM span: the helper's create(stream=True) call
    assert span.name == "chat m" and _shape(span) == _shape(reference)
    attrs = span.attributes
    assert attrs[sc.REQUEST_STREAM] is True and attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.USAGE_INPUT] == final.usage.prompt_tokens and attrs[sc.USAGE_OUTPUT] == final.usage.completion_tokens
    assert 0 < attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] < 5
    assert span.status.status_code is StatusCode.UNSET
    assert points(metric_reader, sc.METRIC_TIME_TO_FIRST_CHUNK)[0].count == 2


def test_beta_chat_stream_helper(instrument_openai, client, span_exporter):
    beta = getattr(getattr(client, "beta", None), "chat", None)
    if beta is None or not hasattr(beta.completions, "stream"):
        pytest.skip("this openai has no beta.chat.completions.stream")
    with beta.completions.stream(model="b", messages=MESSAGES, stream_options=USAGE) as stream:
        stream.until_done()
    [span] = _llm_spans(span_exporter)
    assert span.name == "chat b" and span.attributes[sc.USAGE_INPUT] == 2


def test_leaving_the_helper_early_ends_the_span(instrument_openai, client, span_exporter):
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        next(iter(stream))
        assert _llm_spans(span_exporter) == []
    [span] = _llm_spans(span_exporter)  # at __exit__, while `stream` is still referenced
    assert span.status.status_code is StatusCode.UNSET and sc.RESPONSE_TIME_TO_FIRST_CHUNK in span.attributes
    stream.close()  # closing again adds nothing
    assert len(_llm_spans(span_exporter)) == 1


def test_helper_stream_error(instrument_openai, client, span_exporter):
    with pytest.raises(openai.APIError, match="stream broke"):
        with client.chat.completions.stream(model="m", messages=MESSAGES,
                                            extra_headers={"X-Fake-Fail-Midstream": "1"}) as stream:
            for _ in stream:
                pass
    [span] = _llm_spans(span_exporter)
    assert span.status.status_code is StatusCode.ERROR and span.attributes[sc.ERROR_TYPE] == "server_error"


def test_helper_request_error(instrument_openai, client, fake_llm, span_exporter):
    fake_llm.fail_next(429)
    with pytest.raises(openai.RateLimitError):
        with client.chat.completions.stream(model="m", messages=MESSAGES):
            pass
    [span] = _llm_spans(span_exporter)
    assert span.attributes[sc.ERROR_TYPE] == "rate_limit_exceeded"


async def test_async_chat_stream_helper(instrument_openai, async_client, span_exporter):
    async with async_client.chat.completions.stream(model="a", messages=MESSAGES, stream_options=USAGE) as stream:
        async for _ in stream:
            pass
    async with async_client.chat.completions.stream(model="early", messages=MESSAGES) as stream:
        await stream.__anext__()
    full, early = _llm_spans(span_exporter)
    assert full.name == "chat a" and full.attributes[sc.USAGE_OUTPUT] == 5
    assert full.attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert early.name == "chat early" and sc.RESPONSE_FINISH_REASONS not in early.attributes


def test_responses_stream_helper(instrument_openai, client, span_exporter):
    with client.responses.stream(model="gpt-4.1", input="hi you") as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == "t0 t1 t2 t3 echo: hi you"
    with client.responses.stream(model="early", input="hi") as stream:
        next(iter(stream))
    full, early = _llm_spans(span_exporter)
    assert full.name == "chat gpt-4.1" and full.attributes[sc.REQUEST_STREAM] is True
    assert full.attributes[sc.USAGE_OUTPUT] == final.usage.output_tokens
    assert full.attributes[sc.RESPONSE_ID] == "resp_fake" and full.attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert sc.RESPONSE_TIME_TO_FIRST_CHUNK in full.attributes
    assert early.name == "chat early" and early.end_time is not None


async def test_async_responses_stream_helper(instrument_openai, async_client, span_exporter):
    async with async_client.responses.stream(model="r", input="hi") as stream:
        final = await stream.get_final_response()
    [span] = _llm_spans(span_exporter)
    assert span.name == "chat r" and span.attributes[sc.USAGE_INPUT] == final.usage.input_tokens


def test_helpers_untraced_after_uninstrument(tracer_provider, client, span_exporter):
    from agentotel.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    instrumentor.uninstrument()
    with client.chat.completions.stream(model="m", messages=MESSAGES) as stream:
        stream.until_done()
    assert span_exporter.get_finished_spans() == ()
