"""H2: faults inside the instrumentation never change what the host sees."""

from __future__ import annotations

import traceback

import openai
import pytest
from opentelemetry.sdk.trace import Span

from agentotel.core import semconv as sc
from agentotel.instrumentation.openai.patch import ChatStreamState

MESSAGES = [{"role": "user", "content": "hello there"}]


def _call(client, **kwargs):
    return client.chat.completions.create(model="m", messages=MESSAGES, **kwargs)


def _failure(client, **kwargs):
    try:
        _call(client, **kwargs)
    except Exception as exc:  # noqa: BLE001
        frames = traceback.extract_tb(exc.__traceback__)
        return type(exc), str(exc), (frames[-1].filename, frames[-1].lineno, frames[-1].name), type(exc.__cause__)
    raise AssertionError("expected a failure")


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_malformed_response_reaches_the_host_unchanged(client, tracer_provider, meter_provider, span_exporter):
    from agentotel.instrumentation.openai import OpenAIInstrumentor

    headers = {"X-Fake-Malformed": "1"}
    plain = _call(client, extra_headers=headers).model_dump()
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        traced = _call(client, extra_headers=headers).model_dump()
    finally:
        instrumentor.uninstrument()
    assert traced == plain
    [span] = span_exporter.get_finished_spans()
    assert sc.USAGE_INPUT not in span.attributes and sc.USAGE_OUTPUT not in span.attributes  # "seven", -1
    assert sc.RESPONSE_ID not in span.attributes and span.attributes[sc.RESPONSE_FINISH_REASONS] == ("", "")


def test_missing_usage(instrument_openai, client, span_exporter):
    assert _call(client, extra_headers={"X-Fake-No-Usage": "1"}).usage is None
    [span] = span_exporter.get_finished_spans()
    assert sc.USAGE_INPUT not in span.attributes and span.attributes[sc.RESPONSE_FINISH_REASONS] == ("stop",)


@pytest.mark.parametrize("status", [429, 500])
def test_host_exceptions_unchanged(client, fake_llm, tracer_provider, status):
    from agentotel.instrumentation.openai import OpenAIInstrumentor

    headers = {"X-Fake-Status": str(status)}
    plain = _failure(client, extra_headers=headers)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        traced = _failure(client, extra_headers=headers)
    finally:
        instrumentor.uninstrument()
    assert traced == plain  # type, message, innermost traceback frame, cause


def _raise(*args, **kwargs):
    raise RuntimeError("telemetry bug")


def test_attribute_setters_raising(instrument_langchain, client, fake_llm, monkeypatch, caplog):
    from langchain_openai import ChatOpenAI

    monkeypatch.setattr(Span, "set_attributes", _raise)
    monkeypatch.setattr(Span, "set_attribute", _raise)
    assert _call(client).choices[0].message.content == "echo: hello there"
    chunks = list(_call(client, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage.prompt_tokens == 2
    llm = ChatOpenAI(model="m", base_url=fake_llm.base_url, api_key="k", max_retries=0)
    assert llm.invoke("hi").content == "echo: hi"
    assert "telemetry bug" in caplog.text  # logged, swallowed


def test_span_start_raising(instrument_openai, client, monkeypatch):
    from opentelemetry.sdk.trace import Tracer

    monkeypatch.setattr(Tracer, "start_span", _raise)
    assert _call(client).choices[0].message.content == "echo: hello there"


def test_metric_recording_raising(instrument_openai, client, monkeypatch):
    from opentelemetry.sdk.metrics._internal.instrument import Histogram

    monkeypatch.setattr(Histogram, "record", _raise)
    assert _call(client).choices[0].message.content == "echo: hello there"
    assert [c.choices[0].delta.content for c in _call(client, stream=True) if c.choices][-2] == "echo: hello there"


def test_chunk_handler_raising(instrument_openai, client, monkeypatch, span_exporter):
    monkeypatch.setattr(ChatStreamState, "on_chunk", _raise)
    contents = [c.choices[0].delta.content for c in _call(client, stream=True) if c.choices]
    assert contents[-2] == "echo: hello there"
    assert len(span_exporter.get_finished_spans()) == 1  # still finalized once


def test_wrapped_stream_is_still_an_openai_stream(instrument_openai, client):
    stream = _call(client, stream=True)
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200
    stream.close()


def test_metric_queue_is_bounded_and_drops_are_counted(meter_provider, metric_reader, monkeypatch):
    from agentotel.instrumentation.instruments import RECORDER, build_instruments
    from tests.instrumentation.support import points

    instruments = build_instruments("agentotel.test", meter_provider)
    RECORDER.drain()
    monkeypatch.setattr(RECORDER, "MAX_PENDING", 10)
    monkeypatch.setattr(RECORDER, "WAKE_AT", 10**9)
    before = RECORDER.dropped
    for _ in range(25):
        instruments.record_duration(0.1, {sc.OPERATION: "chat"})
    assert RECORDER.dropped - before >= 10
    [duration] = points(metric_reader, sc.METRIC_OPERATION_DURATION)  # collection drains what is pending
    assert duration.count + (RECORDER.dropped - before) == 25  # each one recorded or counted as dropped
    [dropped] = points(metric_reader, "agentotel.instrumentation.dropped_measurements")
    assert dropped.value >= RECORDER.dropped - before
