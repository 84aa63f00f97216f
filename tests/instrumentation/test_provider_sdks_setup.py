"""``instrument()`` and nothing else, in fresh processes, with the Anthropic and Google GenAI SDKs installed:
their instrumentors are enabled but import nothing until the application does; then an Anthropic client
(which traces itself once ``instrument()`` has set the global tracer provider) yields exactly one LLM span
per call, and a Gemini call ours."""

from __future__ import annotations

import json

import pytest

from tests.instrumentation.subprocess_support import CHILD_PRELUDE, run_python


@pytest.mark.slow
def test_enabled_lazily_and_one_span_per_call(tmp_path):
    path = tmp_path / "spans.jsonl"
    code = CHILD_PRELUDE + f"""
from agentotel.instrumentation import instrument
handle = instrument(service_name="sdks", otlp=False, performance_monitor=False, jsonl_path={str(path)!r})
names = [type(i).__name__ for i in handle.instrumentors]
before = sorted(m for m in ("anthropic", "google.genai") if m in sys.modules)
import anthropic
from google import genai
from tests.instrumentation.fake_providers import FakeAnthropicServer, FakeGeminiServer
with FakeAnthropicServer() as a, FakeGeminiServer() as g:
    a.cache_read = 7
    a.response_headers = {{"anthropic-ratelimit-tokens-remaining": "900", "anthropic-ratelimit-tokens-limit": "1000"}}
    client = anthropic.Anthropic(base_url=a.base_url, api_key="k", max_retries=0)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[{{"role": "user", "content": "hi"}}])
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=64,
                                messages=[{{"role": "user", "content": "hi"}}]) as stream:
        stream.until_done()
    gemini = genai.Client(api_key="k", http_options={{"base_url": g.base_url}})
    gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")
handle.shutdown()
print(json.dumps({{"names": names, "before": before}}))
"""
    result, _ = run_python(code)
    assert {"AnthropicInstrumentor", "GoogleGenAIInstrumentor"} <= set(result["names"])
    assert result["before"] == [], "instrument() must not import the SDKs"
    spans = [json.loads(line) for line in path.read_text().splitlines()]
    flat = [span for batch in spans for rs in batch["resourceSpans"] for ss in rs["scopeSpans"]
            for span in ss["spans"]]

    def attrs(span):
        return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}

    llm = [s for s in flat if attrs(s).get("gen_ai.operation.name") in ("chat", "generate_content")]
    assert sorted(s["name"] for s in llm) == ["anthropic.messages.create", "anthropic.messages.create",
                                              "generate_content gemini-2.5-flash"]
    for span in llm:
        a = attrs(span)
        if a.get("gen_ai.provider.name") == "anthropic":
            assert a["gen_ai.usage.input_tokens"] in ("8", 8)  # 1 + 7 cached
            assert a["gen_ai.usage.cache_read.input_tokens"] in ("7", 7)
            assert a["gen_ai.response.finish_reasons"] == {"values": [{"stringValue": "end_turn"}]}
            assert a["agentotel.ratelimit.tokens.remaining"] in ("900", 900)
