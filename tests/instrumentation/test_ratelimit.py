"""Provider rate-limit status: header parsing, span attributes and gauges (OpenAI here; Anthropic and
Google GenAI in their own test files)."""

from __future__ import annotations

import httpx2
import openai
import pytest

from agentotel.core import semconv as sc
from agentotel.instrumentation._ratelimit import rate_limit_attributes, reset_seconds, retry_info_attributes

OPENAI_HEADERS = {
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-reset-requests": "6ms",
    "x-ratelimit-limit-tokens": "200000",
    "x-ratelimit-remaining-tokens": "15000",
    "x-ratelimit-reset-tokens": "1m30.5s",
}
MESSAGES = [{"role": "user", "content": "hello there"}]


def key(kind: str, field: str) -> str:
    return sc.ratelimit_key(kind, field)


@pytest.mark.parametrize(("value", "seconds"), [
    ("6ms", 0.006), ("1m30.5s", 90.5), ("6m0s", 360.0), ("2h", 7200.0), ("17", 17.0), ("0.5", 0.5),
    ("", None), ("soon", None), ("inf", None), ("-3", 0.0),
])
def test_reset_formats(value, seconds):
    assert reset_seconds(value) == pytest.approx(seconds) if seconds is not None else reset_seconds(value) is None


def test_reset_as_a_time():
    assert reset_seconds("2030-01-01T00:00:10Z", now=1893456000.0) == pytest.approx(10.0)
    assert reset_seconds("2020-01-01T00:00:00+00:00") == 0.0  # in the past: now


def test_openai_and_anthropic_headers():
    attrs = rate_limit_attributes(httpx2.Headers({**OPENAI_HEADERS, "Content-Type": "application/json"}))
    assert attrs == {key("requests", "limit"): 10000, key("requests", "remaining"): 9999,
                     key("requests", "reset"): pytest.approx(0.006), key("tokens", "limit"): 200000,
                     key("tokens", "remaining"): 15000, key("tokens", "reset"): pytest.approx(90.5)}
    attrs = rate_limit_attributes({
        "Anthropic-RateLimit-Requests-Limit": "50", "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-input-tokens-limit": "30000", "anthropic-ratelimit-input-tokens-remaining": "29000",
        "anthropic-ratelimit-output-tokens-remaining": "7000", "anthropic-ratelimit-tokens-remaining": "36000",
        "retry-after": "12", "anthropic-ratelimit-tokens-limit": "not-a-number"})
    assert attrs == {key("requests", "limit"): 50, key("requests", "remaining"): 49,
                     key("input_tokens", "limit"): 30000, key("input_tokens", "remaining"): 29000,
                     key("output_tokens", "remaining"): 7000, key("tokens", "remaining"): 36000,
                     sc.RATELIMIT_RETRY_AFTER: 12.0}
    assert rate_limit_attributes(httpx2.Headers({"retry-after-ms": "1500", "retry-after": "2"})) == {
        sc.RATELIMIT_RETRY_AFTER: 1.5}
    assert rate_limit_attributes(httpx2.Headers({"content-type": "text/plain"})) is None
    assert rate_limit_attributes([(b"X-RateLimit-Remaining-Requests", b"3")]) == {key("requests", "remaining"): 3}


def test_google_error_details():
    body = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
            {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
             "quotaId": "GenerateContentInputTokensPerModelPerMinute-FreeTier", "quotaValue": "250000"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"}]}}
    assert retry_info_attributes(body) == {key("tokens", "remaining"): 0, key("tokens", "limit"): 250000,
                                           sc.RATELIMIT_RETRY_AFTER: 13.0}
    assert retry_info_attributes({"error": {"details": "junk"}}) is None
    assert retry_info_attributes(["not", "a", "dict"]) is None


def _gauges(metric_reader) -> dict[str, list]:
    found: dict[str, list] = {}
    data = metric_reader.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name.startswith("agentotel.ratelimit."):
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


def test_openai_answer_headers_on_span_and_gauges(instrument_openai, client, fake_llm, span_exporter,
                                                   metric_reader):
    fake_llm.response_headers = OPENAI_HEADERS
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    spans = span_exporter.get_finished_spans()
    assert len(spans) == 2
    for span in spans:
        assert span.attributes[key("tokens", "remaining")] == 15000
        assert span.attributes[key("requests", "limit")] == 10000
        assert span.attributes[key("tokens", "reset")] == pytest.approx(90.5)
    gauges = _gauges(metric_reader)
    [ratio] = gauges[sc.METRIC_RATELIMIT_TOKENS_REMAINING_RATIO]
    assert ratio.value == pytest.approx(0.075)
    assert dict(ratio.attributes) == {sc.PROVIDER: "openai", sc.REQUEST_MODEL: "gpt-4o-mini"}
    [remaining] = gauges[key("tokens", "remaining")]
    assert remaining.value == 15000
    assert [p.value for p in gauges[key("requests", "remaining_ratio")]] == [pytest.approx(0.9999)]


def test_openai_no_headers_no_attributes(instrument_openai, client, span_exporter, metric_reader):
    client.chat.completions.create(model="m", messages=MESSAGES)
    [span] = span_exporter.get_finished_spans()
    assert not [k for k in span.attributes if k.startswith("agentotel.ratelimit.")]
    assert _gauges(metric_reader) == {}


def test_openai_429_carries_retry_after(instrument_openai, client, fake_llm, span_exporter):
    fake_llm.response_headers = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-limit-tokens": "1000"}
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="m", messages=MESSAGES, extra_headers={"X-Fake-Status": "429"})
    [span] = span_exporter.get_finished_spans()
    assert span.attributes[sc.ERROR_TYPE] == "rate_limit_exceeded"
    assert span.attributes[key("tokens", "remaining")] == 0
    assert span.attributes[sc.RATELIMIT_RETRY_AFTER] == 0.0


async def test_openai_async(instrument_openai, async_client, fake_llm, span_exporter):
    fake_llm.response_headers = OPENAI_HEADERS
    await async_client.chat.completions.create(model="m", messages=MESSAGES)
    async for _ in await async_client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
        pass
    for span in span_exporter.get_finished_spans():
        assert span.attributes[key("requests", "remaining")] == 9999


def test_langchain_owned_llm_span_gets_them(instrument_langchain, fake_llm, span_exporter):
    from langchain_openai import ChatOpenAI

    fake_llm.response_headers = OPENAI_HEADERS
    ChatOpenAI(model="m", base_url=fake_llm.base_url, api_key="k", max_retries=0).invoke("hi")
    [llm] = [s for s in span_exporter.get_finished_spans() if s.attributes.get(sc.OPERATION) == "chat"]
    assert llm.attributes[key("tokens", "remaining")] == 15000


def test_hook_fault_never_reaches_the_host(instrument_openai, client, fake_llm, monkeypatch, caplog):
    from agentotel.instrumentation import _ratelimit

    def boom(*args, **kwargs):
        raise RuntimeError("rate-limit bug")

    monkeypatch.setattr(_ratelimit, "_deliver", boom)
    fake_llm.response_headers = OPENAI_HEADERS
    assert client.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == (
        "echo: hello there")
    assert "rate-limit bug" in caplog.text


def test_uninstrument_removes_the_hooks(tracer_provider, meter_provider, client, fake_llm, span_exporter):
    from openai._base_client import SyncAPIClient

    from agentotel.instrumentation.openai import OpenAIInstrumentor

    plain = SyncAPIClient._process_response
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    assert SyncAPIClient._process_response is not plain
    instrumentor.uninstrument()
    assert SyncAPIClient._process_response is plain
