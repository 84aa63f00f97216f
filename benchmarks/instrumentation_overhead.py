"""Median µs our OpenAI instrumentation adds per LLM call, side by side with the peers.

    .venv/bin/python benchmarks/instrumentation_overhead.py [--rounds 7] [--transport mock,loopback]
    .venv/bin/python benchmarks/instrumentation_overhead.py --sdk anthropic,google_genai [--rounds 7]
    .venv/bin/python benchmarks/instrumentation_overhead.py --micro
    .venv/bin/python benchmarks/instrumentation_overhead.py --frameworks [--rounds 15]   (OpenAI Agents SDK, LlamaIndex)

Method: every variant (uninstrumented, one hand-written span, agentotel, and — when installed (the
``bench`` extra) — opentelemetry-instrumentation-openai-v2, OpenInference, OpenLLMetry) runs in its own
worker process with a ``TracerProvider`` + ``BatchSpanProcessor`` (dropping exporter) and a
``MeterProvider`` (in-memory reader); the parent interleaves rounds over the workers (one at a time) so
machine noise hits all alike. Each call is timed in CPU time of the calling thread (robust on a shared machine;
work moved to background threads — span export, our deferred metric recording — is not counted); the
overhead of a variant in a round is its median call time minus the uninstrumented median of the same
round (paired, so drift cancels); the figure is the median over rounds (the mean over all calls too). Scenarios: non-streaming chat, streamed chat with 20 and 100 chunks
(usage requested); per-chunk cost = (overhead@100 − overhead@20) / 80. Transports: ``mock`` (httpx2
``MockTransport`` in-process, the precise figure; its streams replay pre-built chunk objects because
openai 3.x spends ≈300 µs parsing each SSE chunk, the same for every variant) and ``loopback`` (the fake server of
``tests/support/fake_openai.py`` in the parent process; network noise dominates there).
Content capture off (peers configured to hide content) and on (peers' capture enabled).

``--sdk anthropic,google_genai``: the same method for the Anthropic and Google GenAI clients over an
in-process ``MockTransport`` serving ``tests/instrumentation/fake_providers.py``. Anthropic variants: SDK
tracing off (the baseline), the SDK's own tracing alone (anthropic 2.x), agentotel's own spans (SDK tracing
off), and agentotel on top of the SDK's tracing (what ``instrument()`` gives with anthropic 2.x; its cost is
also shown against the SDK's tracing alone). Anthropic streams replay pre-built events (as for openai);
Gemini streams are parsed by the SDK (pydantic per chunk, the same for every variant: per-chunk figures
noisier there). ``--micro``: our wrappers alone in a hot loop (no SDK, no transport), every SDK.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MESSAGES = [
    {"role": "system", "content": "You are a concise assistant that answers questions about the weather."},
    {"role": "user", "content": "What is the weather like in Oslo today, and should I bring an umbrella?"},
]
SCENARIOS = {"plain": 0, "stream20": 20, "stream100": 100}
CALLS = {"mock": {"plain": 100, "stream20": 60, "stream100": 30},
         "loopback": {"plain": 40, "stream20": 20, "stream100": 10}}

# name → (label, capture)
VARIANTS = {
    "none": ("uninstrumented", False),
    "manual": ("one hand-written span", False),
    "agentotel": ("agentotel", False),
    "openai-v2": ("opentelemetry-instrumentation-openai-v2", False),
    "openinference": ("openinference-instrumentation-openai", False),
    "openllmetry": ("opentelemetry-instrumentation-openai (OpenLLMetry)", False),
    "agentotel+content": ("agentotel", True),
    "openai-v2+content": ("opentelemetry-instrumentation-openai-v2", True),
    "openinference+content": ("openinference-instrumentation-openai", True),
    "openllmetry+content": ("opentelemetry-instrumentation-openai (OpenLLMetry)", True),
}
PEER_MODULES = {"openai-v2": "opentelemetry.instrumentation.openai_v2",
                "openinference": "openinference.instrumentation.openai",
                "openllmetry": "opentelemetry.instrumentation.openai"}


# --- worker ------------------------------------------------------------------------------------------------
def _content_env(capture: bool) -> None:
    flag = "true" if capture else "false"
    os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = flag
    os.environ["TRACELOOP_TRACE_CONTENT"] = flag
    for name in ("OPENINFERENCE_HIDE_INPUTS", "OPENINFERENCE_HIDE_OUTPUTS", "OPENINFERENCE_HIDE_INPUT_MESSAGES",
                 "OPENINFERENCE_HIDE_OUTPUT_MESSAGES"):
        os.environ[name] = "false" if capture else "true"


def _providers():
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return tracer_provider, meter_provider


def _instrument(variant: str, tracer_provider, meter_provider) -> Any:
    """Returns a callable wrapping each call (the manual span) or None."""
    base, _, content = variant.partition("+")
    if base == "none":
        return None
    if base == "manual":
        tracer = tracer_provider.get_tracer("manual")

        def manual(call):
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes={"gen_ai.operation.name": "chat"}):
                return call()

        return manual
    if base == "agentotel":
        from agentotel.instrumentation._content import ContentSettings
        from agentotel.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                                        content=ContentSettings(capture=bool(content)))
        return None
    import importlib

    module = importlib.import_module(PEER_MODULES[base])
    module.OpenAIInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    return None


_PREBUILT: dict[int, list[Any]] = {}
_CURRENT = {"chunks": 0}


def _use_prebuilt_chunks(client) -> None:
    """Replace the SDK's per-chunk SSE parsing (≈300 µs/chunk in openai 3.x, identical for every variant)
    by pre-built chunk objects, so that a variant's per-chunk cost is measurable."""
    import openai

    for chunks in (20, 100):
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                stream_options={"include_usage": True},
                                                extra_headers={"X-Fake-Chunks": str(chunks)})
        _PREBUILT[chunks] = list(stream)

    def prebuilt_stream(self):
        try:
            yield from _PREBUILT[_CURRENT["chunks"]]
        finally:
            self.response.close()

    openai.Stream.__stream__ = prebuilt_stream


def _mock_client():
    import httpx2
    import openai

    from tests.support.fake_openai import handle

    cache: dict[tuple[str, bytes, str], tuple[int, str, bytes]] = {}

    def respond(request):
        chunks = request.headers.get("x-fake-chunks", "5")
        key = (request.url.path, request.content, chunks)
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = handle(request.url.path, json.loads(request.content), {"x-fake-chunks": chunks})
        status, ctype, payload = hit
        return httpx2.Response(status, headers={"content-type": ctype}, content=payload)

    http = httpx2.Client(transport=httpx2.MockTransport(respond))
    return openai.OpenAI(base_url="http://mock.invalid/v1", api_key="bench", http_client=http, max_retries=0)


def _call_fn(client, scenario: str):
    chunks = SCENARIOS[scenario]
    create = client.chat.completions.create
    if not chunks:
        def plain():
            return create(model="gpt-4o-mini", messages=MESSAGES).choices[0].message.content

        return plain
    headers = {"X-Fake-Chunks": str(chunks)}

    def streamed():
        _CURRENT["chunks"] = chunks
        n = 0
        for _chunk in create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                             stream_options={"include_usage": True}, extra_headers=headers):
            n += 1
        return n

    return streamed


def worker(variant: str, transport: str, base_url: str | None) -> None:
    _content_env(VARIANTS[variant][1])
    tracer_provider, meter_provider = _providers()
    try:
        around = _instrument(variant, tracer_provider, meter_provider)
    except Exception as exc:  # noqa: BLE001 - a peer that does not work with this openai is skipped
        print(json.dumps({"skip": f"{type(exc).__name__}: {exc}"}), flush=True)
        return
    import openai

    client = _mock_client() if transport == "mock" else openai.OpenAI(base_url=base_url, api_key="bench",
                                                                      max_retries=0)
    if transport == "mock":
        _use_prebuilt_chunks(client)  # before instrumenting: the stream class is patched, not wrapped
    calls = {name: _call_fn(client, name) for name in SCENARIOS}
    if around is not None:
        calls = {name: (lambda fn=fn: around(fn)) for name, fn in calls.items()}
    for fn in calls.values():  # warm-up (imports, caches, connections)
        for _ in range(20):
            fn()
    print(json.dumps({"ready": True}), flush=True)
    perf = time.thread_time_ns  # CPU time of this thread: robust against other processes on the machine
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        scenario, n = command[1], int(command[2])
        fn = calls[scenario]
        samples = []
        for _ in range(n):
            start = perf()
            fn()
            samples.append(perf() - start)
        print(json.dumps({"samples": samples}), flush=True)
    tracer_provider.shutdown()


# --- micro: our wrapper alone, hot loop, in-process -----------------------------------------------------------
def micro(n: int = 20000) -> None:
    """Cost of agentotel's wrapper around a call that returns a pre-built result (no SDK, no transport),
    next to a bare hand-written span: stable figures on a busy machine (warm caches, so lower than the
    end-to-end ones)."""
    from opentelemetry.trace import SpanKind

    from agentotel.instrumentation._content import ContentSettings
    from agentotel.instrumentation.instruments import build_instruments
    from agentotel.instrumentation.openai import patch

    tracer_provider, meter_provider = _providers()
    client = _mock_client()
    _use_prebuilt_chunks(client)
    result = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    tracer = tracer_provider.get_tracer("bench")
    instruments = build_instruments("bench", meter_provider)
    resource = client.chat.completions

    class Replay:  # an openai.Stream stand-in over pre-built chunks
        def __init__(self, chunks):
            self._iterator = iter(chunks)

        def __iter__(self):
            return self._iterator

        def __next__(self):
            return next(self._iterator)

    def timed(fn) -> float:
        for _ in range(n // 10):
            fn()
        samples = []
        perf = time.perf_counter_ns
        for _ in range(n):
            start = perf()
            fn()
            samples.append(perf() - start)
        return statistics.median(samples) / 1000

    def span() -> None:
        with tracer.start_as_current_span("chat gpt-4o-mini", kind=SpanKind.CLIENT,
                                          attributes={"gen_ai.operation.name": "chat"}):
            pass

    rows = [("one hand-written span (1 attribute)", timed(span))]
    kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES}
    for capture in (False, True):
        wrapper = patch.sync_wrapper("chat", tracer, instruments, ContentSettings(capture=capture))
        rows.append((f"agentotel chat call, content {'on' if capture else 'off'}",
                     timed(lambda w=wrapper: w(lambda *a, **k: result, resource, (), kwargs))))
    stream_kwargs = {**kwargs, "stream": True}
    wrapper = patch.sync_wrapper("chat", tracer, instruments, ContentSettings(capture=False))
    streamed = {}
    for chunks in (20, 100):
        plain = timed(lambda c=chunks: [None for _ in Replay(_PREBUILT[c])])
        traced = timed(lambda c=chunks: [None for _ in wrapper(lambda *a, **k: Replay(_PREBUILT[c]), resource, (),
                                                                stream_kwargs)])
        streamed[chunks] = traced - plain
    rows.append(("agentotel streamed call, 20 chunks", streamed[20]))
    rows.append(("agentotel per streamed chunk", (streamed[100] - streamed[20]) / 80))
    print(f"\n## micro (in-process hot loop, median of {n} calls)")
    print("| what | µs |")
    print("|---|---|")
    for label, value in rows:
        print(f"| {label} | {value:.2f} |")


# --- Anthropic and Google GenAI -------------------------------------------------------------------------------
# sdk → {variant: (label, capture)}
SDK_VARIANTS: dict[str, dict[str, tuple[str, bool]]] = {
    "anthropic": {"none": ("uninstrumented (SDK tracing off)", False),
                  "native": ("the SDK's own tracing (anthropic 2.x)", False),
                  "agentotel": ("agentotel, own spans (SDK tracing off)", False),
                  "agentotel+native": ("agentotel on the SDK's own tracing", False),
                  "agentotel+content": ("agentotel, own spans, content on", True)},
    "google_genai": {"none": ("uninstrumented", False), "manual": ("one hand-written span", False),
                     "agentotel": ("agentotel", False), "agentotel+content": ("agentotel, content on", True)},
}
SDK_MODEL = {"anthropic": "claude-sonnet-4-5", "google_genai": "gemini-2.5-flash"}
PROMPT = MESSAGES[1]["content"]


def _sdk_mock_client(sdk: str, native: bool, tracer_provider) -> Any:
    """The SDK's client over an in-process mock transport answering like the loopback fakes."""
    import httpx2

    from tests.instrumentation.fake_providers import FakeAnthropicServer, FakeGeminiServer

    fake = FakeAnthropicServer() if sdk == "anthropic" else FakeGeminiServer()  # only its answers, no server
    cache: dict[tuple[str, bytes, int], tuple[int, str, bytes, dict[str, str]]] = {}

    def respond(request):
        key = (request.url.raw_path.decode(), request.content, _CURRENT["chunks"])
        hit = cache.get(key)
        if hit is None:
            hit = cache[key] = fake.answer(key[0], json.loads(request.content or b"{}"),
                                           {"x-fake-chunks": str(max(1, key[2]))})
        status, ctype, payload, extra = hit
        return httpx2.Response(status, headers={"content-type": ctype, **extra}, content=payload)

    transport = httpx2.MockTransport(respond)
    if sdk == "anthropic":
        import anthropic

        return anthropic.Anthropic(base_url="http://mock.invalid", api_key="bench", max_retries=0,
                                   http_client=httpx2.Client(transport=transport),
                                   open_telemetry={"tracer_provider": tracer_provider} if native else False)
    from google import genai

    return genai.Client(api_key="bench", http_options={"base_url": "http://mock.invalid",
                                                       "client_args": {"transport": transport}})


def _anthropic_prebuilt_events(client) -> None:
    """Replace the SDK's per-event SSE parsing (the same for every variant) by pre-built event objects."""
    import anthropic

    for chunks in (20, 100):
        _CURRENT["chunks"] = chunks
        _PREBUILT[chunks] = list(client.messages.create(model=SDK_MODEL["anthropic"], max_tokens=256,
                                                        messages=[{"role": "user", "content": PROMPT}], stream=True))

    def prebuilt_stream(self):
        try:
            yield from _PREBUILT[_CURRENT["chunks"]]
        finally:
            self.response.close()

    anthropic.Stream.__stream__ = prebuilt_stream


def _sdk_calls(sdk: str, client) -> dict[str, Any]:
    model = SDK_MODEL[sdk]

    def plain_call():
        _CURRENT["chunks"] = 0
        if sdk == "anthropic":
            return client.messages.create(model=model, max_tokens=256,
                                          messages=[{"role": "user", "content": PROMPT}]).content
        return client.models.generate_content(model=model, contents=PROMPT).text

    def streamed(chunks: int):
        def call():
            _CURRENT["chunks"] = chunks
            if sdk == "anthropic":
                stream = client.messages.create(model=model, max_tokens=256,
                                                messages=[{"role": "user", "content": PROMPT}], stream=True)
            else:
                stream = client.models.generate_content_stream(model=model, contents=PROMPT)
            return sum(1 for _ in stream)

        return call

    return {"plain": plain_call, "stream20": streamed(20), "stream100": streamed(100)}


def sdk_worker(sdk: str, variant: str) -> None:
    capture = SDK_VARIANTS[sdk][variant][1]
    tracer_provider, meter_provider = _providers()
    base = variant.partition("+")[0]
    client = _sdk_mock_client(sdk, "native" in variant, tracer_provider)
    if sdk == "anthropic":
        _anthropic_prebuilt_events(client)  # before instrumenting
    if base == "agentotel":
        from agentotel.instrumentation._content import ContentSettings

        if sdk == "anthropic":
            from agentotel.instrumentation.anthropic import AnthropicInstrumentor as Instrumentor
        else:
            from agentotel.instrumentation.google_genai import GoogleGenAIInstrumentor as Instrumentor  # type: ignore
        Instrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                                  content=ContentSettings(capture=capture))
    calls = _sdk_calls(sdk, client)
    if base == "manual":
        tracer = tracer_provider.get_tracer("manual")

        def around(fn):
            with tracer.start_as_current_span(f"chat {SDK_MODEL[sdk]}", attributes={"gen_ai.operation.name": "chat"}):
                return fn()

        calls = {name: (lambda fn=fn: around(fn)) for name, fn in calls.items()}
    _serve(calls)
    tracer_provider.shutdown()


def _serve(calls: dict[str, Any]) -> None:
    """Warm up, then answer the parent's ``run <scenario> <n>`` with CPU-time samples of the calling thread."""
    for fn in calls.values():
        for _ in range(20):
            fn()
    print(json.dumps({"ready": True}), flush=True)
    perf = time.thread_time_ns
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        fn = calls[command[1]]
        samples = []
        for _ in range(int(command[2])):
            start = perf()
            fn()
            samples.append(perf() - start)
        print(json.dumps({"samples": samples}), flush=True)


def micro_sdks(n: int = 20000) -> None:
    """Our Anthropic and Google GenAI wrappers alone around calls returning pre-built answers."""
    from anthropic.types import Message
    from google.genai import types as gtypes

    from agentotel.instrumentation._content import ContentSettings
    from agentotel.instrumentation.anthropic import patch as apatch
    from agentotel.instrumentation.google_genai import patch as gpatch
    from agentotel.instrumentation.instruments import build_instruments
    from tests.instrumentation.fake_providers import FakeAnthropicServer, FakeGeminiServer

    tracer_provider, meter_provider = _providers()
    tracer = tracer_provider.get_tracer("bench")
    instruments = build_instruments("bench", meter_provider)
    off = ContentSettings(capture=False)

    def timed(fn) -> float:
        for _ in range(n // 10):
            fn()
        samples = []
        perf = time.perf_counter_ns
        for _ in range(n):
            start = perf()
            fn()
            samples.append(perf() - start)
        return statistics.median(samples) / 1000

    class Options:  # the SDK's FinalRequestOptions, as the client's request() receives them
        url = "/v1/messages"
        json_data = {"model": SDK_MODEL["anthropic"], "max_tokens": 256, "messages": [{"role": "user", "content": PROMPT}]}

    class AnthropicClientStub:
        _base_url = None
        _tracer = None  # SDK tracing off: our own span

    class NativeClientStub(AnthropicClientStub):
        _tracer = tracer  # the SDK traces itself: no span of ours

    fake_a = FakeAnthropicServer()
    message = Message.model_validate(fake_a.message(Options.json_data))
    import anthropic
    from pydantic import TypeAdapter

    adapter = TypeAdapter(anthropic.types.RawMessageStreamEvent)
    events20 = [adapter.validate_python(e) for _, e in fake_a.events(Options.json_data, 20, False) if e["type"] != "ping"]
    events100 = [adapter.validate_python(e) for _, e in fake_a.events(Options.json_data, 100, False)
                 if e["type"] != "ping"]

    class Replay:
        def __init__(self, items):
            self._iterator = iter(items)
            self.response = None

        def __iter__(self):
            return self._iterator

        def __next__(self):
            return next(self._iterator)

    rows = []
    for label, stub in (("own span", AnthropicClientStub()), ("on the SDK's span", NativeClientStub())):
        wrapper = apatch.sync_wrapper(tracer, instruments, off, None)
        rows.append((f"anthropic call, {label}", timed(lambda w=wrapper, c=stub: w(lambda *a, **k: message, c,
                                                                                      (Message, Options()), {}))))
        per = {}
        for count, items in ((20, events20), (100, events100)):
            plain = timed(lambda i=items: [None for _ in Replay(i)])
            traced = timed(lambda w=wrapper, c=stub, i=items: [None for _ in w(lambda *a, **k: Replay(i), c,
                                                                                (Message, Options()),
                                                                                {"stream": True})])
            per[count] = traced - plain
        rows.append((f"anthropic streamed call (20 deltas), {label}", per[20]))
        rows.append((f"anthropic per streamed event, {label}", (per[100] - per[20]) / 80))

    fake_g = FakeGeminiServer()
    body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
    response = gtypes.GenerateContentResponse.model_validate(fake_g.response(body, SDK_MODEL["google_genai"]))

    class Options2:
        vertexai = False
        _http_options = gtypes.HttpOptions(base_url="https://generativelanguage.googleapis.com/")

    class ModelsStub:
        _api_client = Options2()

    models = ModelsStub()
    kwargs = {"model": SDK_MODEL["google_genai"], "contents": PROMPT}
    wrapper = gpatch.sync_wrapper(gpatch.GENERATE, tracer, instruments, off, None)
    rows.append(("google_genai generate_content call", timed(lambda: wrapper(lambda *a, **k: response, models, (),
                                                                              kwargs))))
    chunks = {c: [gtypes.GenerateContentResponse.model_validate(x) for x in fake_g.chunks(body, "m", c)]
              for c in (20, 100)}
    stream_wrapper = gpatch.sync_stream_wrapper(gpatch.GENERATE, tracer, instruments, off, None)
    per = {}
    for count, items in chunks.items():
        plain = timed(lambda i=items: [None for _ in iter(i)])
        traced = timed(lambda i=items: [None for _ in stream_wrapper(lambda *a, **k: iter(i), models, (), kwargs)])
        per[count] = traced - plain
    rows.append(("google_genai streamed call (20 chunks)", per[20]))
    rows.append(("google_genai per streamed chunk", (per[100] - per[20]) / 80))
    print(f"\n## micro, Anthropic and Google GenAI wrappers (in-process hot loop, median of {n} calls)")
    print("| what | µs |")
    print("|---|---|")
    for label, value in rows:
        print(f"| {label} | {value:.2f} |")


# --- parent ------------------------------------------------------------------------------------------------
class Worker:
    def __init__(self, variant: str, transport: str, base_url: str | None, sdk: str = "openai") -> None:
        self.variant = variant
        args = [sys.executable, __file__, "--worker", variant, "--transport", transport, "--sdk", sdk]
        if base_url:
            args += ["--base-url", base_url]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TRACELOOP_", "OPENINFERENCE_"))}
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                     cwd=str(ROOT))
        self.skip: str | None = None
        self.samples: dict[str, list[int]] = {name: [] for name in SCENARIOS}
        self.diffs: dict[str, list[float]] = {name: [] for name in SCENARIOS}  # per round, vs uninstrumented

    def wait_ready(self) -> None:
        line = self.proc.stdout.readline()
        reply = json.loads(line) if line.strip() else {"skip": "worker died"}
        self.skip = reply.get("skip")

    def run(self, scenario: str, n: int) -> list[int]:
        self.proc.stdin.write(f"run {scenario} {n}\n")
        self.proc.stdin.flush()
        samples = json.loads(self.proc.stdout.readline())["samples"]
        self.samples[scenario].extend(samples)
        return samples

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
            self.proc.wait(30)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.proc.kill()


def measure(transport: str, variants: list[str], rounds: int, base_url: str | None,
            sdk: str = "openai") -> dict[str, dict[str, float]]:
    """{variant: {scenario: median µs}} (None when the variant was skipped)."""
    workers = [Worker(v, transport, base_url, sdk) for v in variants]
    try:
        for w in workers:
            w.wait_ready()
            if w.skip:
                print(f"  skip {w.variant}: {w.skip}", file=sys.stderr)
        live = [w for w in workers if not w.skip]
        base = next(w for w in live if w.variant == "none")
        for r in range(rounds):
            for scenario, n in CALLS[transport].items():
                random.shuffle(live)
                medians = {w.variant: statistics.median(w.run(scenario, n)) for w in live}
                for w in live:
                    w.diffs[scenario].append((medians[w.variant] - medians["none"]) / 1000)
            print(f"  {transport}: round {r + 1}/{rounds} done", file=sys.stderr)
    finally:
        for w in workers:
            w.close()
    out: dict[str, Any] = {}
    for w in workers:
        if w.skip:
            out[w.variant] = None
            continue
        entry = {s: statistics.median(d) for s, d in w.diffs.items()}  # median over rounds of paired diffs
        entry.update({f"{s}_mean": (statistics.fmean(v) - statistics.fmean(base.samples[s])) / 1000
                      for s, v in w.samples.items()})
        entry.update({f"{s}_base": statistics.median(v) / 1000 for s, v in base.samples.items()})
        out[w.variant] = entry
    return out


def report(results: dict[str, dict[str, dict[str, float] | None]], sdk: str = "openai") -> None:
    labels = VARIANTS if sdk == "openai" else SDK_VARIANTS[sdk]
    for transport, by_variant in results.items():
        base = by_variant["none"]
        print(f"\n## {sdk}, transport: {transport}  (uninstrumented median: plain {base['plain_base']:.0f} µs, "
              f"stream20 {base['stream20_base']:.0f} µs, stream100 {base['stream100_base']:.0f} µs)")
        print("| variant | content | plain +µs/call (median / mean) | stream20 +µs/call | stream100 +µs/call "
              "| +µs/chunk |")
        print("|---|---|---|---|---|---|")
        for variant, over in by_variant.items():
            if variant == "none":
                continue
            label, capture = labels[variant]
            if over is None:
                print(f"| {label} | {'on' if capture else 'off'} | not installed / failed | | | |")
                continue
            per_chunk = (over["stream100"] - over["stream20"]) / 80
            print(f"| {label} | {'on' if capture else 'off'} | {over['plain']:.1f} / {over['plain_mean']:.1f} | "
                  f"{over['stream20']:.1f} | {over['stream100']:.1f} | {per_chunk:.2f} |")
        native, ours = by_variant.get("native"), by_variant.get("agentotel+native")
        if native and ours:  # what instrument() adds to the SDK's own tracing
            per_chunk = ((ours["stream100"] - native["stream100"]) - (ours["stream20"] - native["stream20"])) / 80
            print(f"| agentotel on the SDK's tracing, vs the SDK's tracing alone | off | "
                  f"{ours['plain'] - native['plain']:.1f} | {ours['stream20'] - native['stream20']:.1f} | "
                  f"{ours['stream100'] - native['stream100']:.1f} | {per_chunk:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--transport", default="mock,loopback")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--micro", action="store_true", help="only the in-process wrapper figures")
    parser.add_argument("--sdk", default="openai", help="openai, or any of anthropic,google_genai (mock transport)")
    parser.add_argument("--frameworks", action="store_true",
                        help="the agent-framework instrumentors (benchmarks/framework_overhead.py)")
    parser.add_argument("--worker")
    parser.add_argument("--base-url")
    args = parser.parse_args()
    if args.frameworks:
        from benchmarks.framework_overhead import main as frameworks

        frameworks(["--rounds", str(args.rounds)])
        return
    if args.worker:
        if args.sdk == "openai":
            worker(args.worker, args.transport, args.base_url)
        else:
            sdk_worker(args.sdk, args.worker)
        return
    if args.micro:
        micro()
        micro_sdks()
        return
    if args.sdk != "openai":
        for sdk in args.sdk.split(","):
            results = {"mock": measure("mock", list(SDK_VARIANTS[sdk]), args.rounds, None, sdk)}
            print(f"# {sdk} instrumentation overhead (median over {args.rounds} interleaved rounds; python "
                  f"{sys.version.split()[0]}, {os.cpu_count()} cpus)")
            report(results, sdk)
        return
    variants = args.variants.split(",")
    if "none" not in variants:
        variants.insert(0, "none")
    results: dict[str, Any] = {}
    for transport in args.transport.split(","):
        if transport == "loopback":
            from tests.support.fake_openai import FakeLLMServer

            with FakeLLMServer() as server:
                results[transport] = measure(transport, variants, args.rounds, server.base_url)
        else:
            results[transport] = measure(transport, variants, args.rounds, None)
    print(f"# instrumentation overhead (median over {args.rounds} interleaved rounds; python "
          f"{sys.version.split()[0]}, {os.cpu_count()} cpus)")
    report(results)
    print("\nTargets (mock transport): ≤ 40 µs per non-streaming call, ≤ 1.5 µs per streamed chunk, "
          "≤ 60 µs with content capture.")


if __name__ == "__main__":
    main()
