"""``instrument()`` and nothing else, in fresh processes, with the Anthropic and Google GenAI SDKs installed:
their instrumentors are enabled but import nothing until the application does; then an Anthropic client
(which traces itself once ``instrument()`` has set the global tracer provider) yields exactly one LLM span
per call, and a Gemini call ours."""

from __future__ import annotations

import json

import pytest

from tests.instrumentation.subprocess_support import CHILD_PRELUDE, run_opentelemetry_instrument, run_python


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


@pytest.mark.slow
def test_opentelemetry_instrument_cli_picks_up_the_provider_sdk_instrumentors(tmp_path):
    """``opentelemetry-instrument`` with no code change: the agentotel_anthropic and agentotel_google_genai
    entry points are loaded by the CLI; the Anthropic call (which traces itself on the application's provider)
    gets our finish reasons and rate-limit status on its one span, the Gemini call our one span."""
    app = tmp_path / "app.py"
    app.write_text("""
import json
import anthropic
from google import genai
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from tests.instrumentation.fake_providers import FakeAnthropicServer, FakeGeminiServer

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
with FakeAnthropicServer() as a, FakeGeminiServer() as g:
    a.response_headers = {"anthropic-ratelimit-tokens-remaining": "900", "anthropic-ratelimit-tokens-limit": "1000"}
    claude = anthropic.Anthropic(base_url=a.base_url, api_key="k", max_retries=0)
    claude.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    gemini = genai.Client(api_key="k", http_options={"base_url": g.base_url})
    gemini.models.generate_content(model="gemini-2.5-flash", contents="hi")
print(json.dumps([{"name": s.name, "scope": s.instrumentation_scope.name, "attributes": dict(s.attributes)}
                  for s in exporter.get_finished_spans()], default=list))
""")
    proc = run_opentelemetry_instrument(app, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    spans = json.loads(proc.stdout.splitlines()[-1])
    llm = [s for s in spans if s["attributes"].get("gen_ai.operation.name") in ("chat", "generate_content")]
    assert sorted((s["name"], s["scope"]) for s in llm) == [
        ("anthropic.messages.create", "com.anthropic.sdk.python"),
        ("generate_content gemini-2.5-flash", "agentotel.instrumentation.google_genai")]
    claude, gemini = sorted(llm, key=lambda s: s["name"])
    assert claude["attributes"]["gen_ai.response.finish_reasons"] == ["end_turn"]
    assert claude["attributes"]["agentotel.ratelimit.tokens.remaining"] == 900
    assert gemini["attributes"]["gen_ai.usage.input_tokens"] > 0
