"""``instrument()`` in fresh processes: import isolation, providers, export, entry points, exit, fork."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import entry_points

import pytest
from opentelemetry.instrumentation.dependencies import get_dependency_conflicts
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from tests.instrumentation.subprocess_support import (
    CHILD_PRELUDE,
    BlackHole,
    OTLPHTTPSink,
    run_opentelemetry_instrument,
    run_python,
)

FORBIDDEN = ("sqlalchemy", "pandas", "scipy", "streamlit", "statsmodels", "alembic", "psycopg", "grpc_status",
             "agentotel.warehouse", "agentotel.otlp_receiver", "agentotel.processors", "agentotel.dashboard",
             "agentotel.evaluation", "agentotel.alerting", "agentotel.registry")


def test_import_loads_nothing_server_side(tmp_path):
    code = CHILD_PRELUDE + f"""
import agentotel.instrumentation
bare = sorted(m for m in sys.modules if m.split(".")[0] in ("grpc", "openai", "langchain_core", "psutil"))
from agentotel.instrumentation import instrument, AgentTracer
handle = instrument(service_name="iso", endpoint="http://127.0.0.1:9", export_timeout=0.5,
                    prometheus_port=0, jsonl_path={str(tmp_path / "s.jsonl")!r})
import openai
from tests.support.fake_openai import FakeLLMServer
with FakeLLMServer() as server, AgentTracer().trace_agent_call("a"):
    openai.OpenAI(base_url=server.base_url, api_key="k").chat.completions.create(
        model="m", messages=[{{"role": "user", "content": "secret prompt"}}])
handle.shutdown(timeout=2)
loaded = sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r}))
print(json.dumps({{"bare": bare, "loaded": loaded, "grpc": "grpc" in sys.modules,
                   "instrumentors": [type(i).__name__ for i in handle.instrumentors],
                   "logs": handle.logger_provider is not None}}))
"""
    result, _ = run_python(code)
    assert result["bare"] == [], "importing the package must stay lazy"
    assert result["loaded"] == []
    assert result["grpc"], "the default OTLP exporter is gRPC (client only)"
    assert result["instrumentors"][:3] == ["OpenAIInstrumentor", "LangChainInstrumentor", "HTTPXGenAIInstrumentor"]
    assert {"OpenAIAgentsInstrumentor", "LlamaIndexInstrumentor", "AnthropicInstrumentor",
            "GoogleGenAIInstrumentor"} <= set(result["instrumentors"])
    assert not result["logs"], "no LoggerProvider without a content event mode"
    exported = (tmp_path / "s.jsonl").read_text()
    assert '"chat m"' in exported and "secret prompt" not in exported  # H7: content off by default


def _h4_code(port: int, protocol: str) -> str:
    return CHILD_PRELUDE + f"""
from agentotel.instrumentation import instrument, AgentTracer
handle = instrument(service_name="h4", endpoint="http://127.0.0.1:{port}", protocol={protocol!r}, instrumentors=())
tracer = AgentTracer()
for i in range(500):
    with tracer.trace_tool_call("t"):
        pass
handle.force_flush(timeout=0.2)
print(json.dumps({{"ok": True}}))
mark()
"""  # interpreter exit runs handle.shutdown() (atexit)


@pytest.mark.slow
def test_black_holed_backend_exit_within_5s():
    hole = BlackHole()
    try:
        runs = [run_python(_h4_code(hole.port, protocol), timeout=60) for protocol in ("grpc", "http/protobuf")]
    finally:
        hole.close()
    for result, exit_seconds in runs:
        assert result["ok"] and exit_seconds <= 5.0, exit_seconds


_H1 = CHILD_PRELUDE + """
import openai
from agentotel.instrumentation import instrument
from tests.support.fake_openai import FakeLLMServer
handle = instrument(service_name="h1", endpoint=ENDPOINT, protocol=PROTOCOL, performance_monitor=False)
errors, slowest = 0, 0.0
with FakeLLMServer() as server:
    client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    for i in range(CALLS):
        start = time.perf_counter()
        try:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        except Exception:
            errors += 1
        slowest = max(slowest, time.perf_counter() - start)
t0 = time.perf_counter()
clean = handle.shutdown(timeout=2)
print(json.dumps({"errors": errors, "slowest": slowest, "shutdown": time.perf_counter() - t0}))
"""


@pytest.mark.slow
def test_backend_trouble_never_reaches_the_host():
    """H1: refused, black-holed, 5 s-slow and failing (500) backends; 200 LLM calls each, in parallel."""
    from tests.conftest import free_port

    hole, slow, failing = BlackHole(), OTLPHTTPSink(delay=5.0), OTLPHTTPSink(status=500)
    backends = {
        "refused": (f"http://127.0.0.1:{free_port()}", "grpc"),
        "black-holed": (f"http://127.0.0.1:{hole.port}", "grpc"),
        "slow-5s": (slow.endpoint, "http/protobuf"),
        "http-500": (failing.endpoint, "http/protobuf"),
    }

    def run(item):
        endpoint, protocol = item
        code = _H1.replace("ENDPOINT", repr(endpoint)).replace("PROTOCOL", repr(protocol)).replace("CALLS", "200")
        return run_python(code, env={"OTEL_BSP_SCHEDULE_DELAY": "50"}, timeout=90)[0]

    try:
        with ThreadPoolExecutor(4) as pool:
            results = dict(zip(backends, pool.map(run, backends.values()), strict=True))
    finally:
        for part in (hole, slow, failing):
            part.close()
    for backend, result in results.items():
        assert result["errors"] == 0, backend
        assert result["slowest"] < 1.0, f"{backend}: a call waited on the telemetry backend"
        assert result["shutdown"] <= 2.5, backend


def test_queue_bounded_and_drops_counted():
    hole = BlackHole()
    code = CHILD_PRELUDE + f"""
import resource
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from agentotel.instrumentation import instrument, AgentTracer
reader = InMemoryMetricReader()
handle = instrument(service_name="h3", endpoint="http://127.0.0.1:{hole.port}", metric_readers=[reader],
                    performance_monitor=False, instrumentors=())
tracer = AgentTracer()
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for i in range(5000):
    with tracer.trace_tool_call("t", attributes={{"payload": "x" * 200}}):
        pass
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
queue = max(len(p._batch_processor._queue) for p in handle.tracer_provider._active_span_processor._span_processors)
dropped = 0
for rm in reader.get_metrics_data().resource_metrics:
    for sm in rm.scope_metrics:
        for m in sm.metrics:
            if m.name == "otel.sdk.processor.span.processed":
                dropped += sum(p.value for p in m.data.data_points if p.attributes.get("error.type") == "queue_full")
handle.shutdown(timeout=1)
print(json.dumps({{"queue": queue, "dropped": dropped, "rss_growth_kib": rss1 - rss0}}))
"""
    try:
        result, _ = run_python(code, timeout=90)
    finally:
        hole.close()
    assert result["queue"] <= 2048
    assert result["dropped"] >= 5000 - 2048 - 512 * 4
    assert result["rss_growth_kib"] < 64 * 1024


@pytest.mark.slow
def test_exporter_traffic_is_not_traced_and_spans_arrive():
    sink = OTLPHTTPSink()
    code = CHILD_PRELUDE + f"""
import httpx, openai
from agentotel.instrumentation import instrument, AgentTracer
from tests.support.fake_openai import FakeLLMServer
handle = instrument(service_name="h5", endpoint={sink.endpoint!r}, protocol="http/protobuf",
                    webhook_url={sink.endpoint + "/hook"!r}, capture_content="SPAN_AND_EVENT",
                    performance_monitor=False)
with FakeLLMServer() as server, AgentTracer().trace_agent_call("app"):
    httpx.post({sink.endpoint + "/hook"!r}, content=b"{{}}")
    openai.OpenAI(base_url=server.base_url, api_key="k").chat.completions.create(
        model="m", messages=[{{"role": "user", "content": "hi"}}])
handle.shutdown()  # flushes
print(json.dumps({{}}))
"""
    try:
        run_python(code, timeout=60)
    finally:
        sink.close()
    names = sorted(s["name"] for s in sink.spans)
    # the app's own calls only: its httpx POST, the OpenAI client's (httpx2) POST under the chat span
    assert names == ["POST", "POST", "chat m", "invoke_agent app"], names
    assert [r["event_name"] for r in sink.logs] == ["gen_ai.client.inference.operation.details"]
    assert sink.requests >= 3  # trace, log and webhook batches went out, untraced


@pytest.mark.slow
def test_event_mode_sets_up_otlp_log_export():
    """EVENT_ONLY: a LoggerProvider of ours exports the content event over OTLP next to the spans; shut down
    with the handle. Without an event mode no LoggerProvider is set up."""
    sink = OTLPHTTPSink()
    code = CHILD_PRELUDE + f"""
import openai
from agentotel.instrumentation import instrument
from tests.support.fake_openai import FakeLLMServer
handle = instrument(service_name="ev", endpoint={sink.endpoint!r}, protocol="http/protobuf", capture_content="EVENT_ONLY",
                    performance_monitor=False, instrumentors=["openai"])
with FakeLLMServer() as server:
    openai.OpenAI(base_url=server.base_url, api_key="k").chat.completions.create(
        model="m", messages=[{{"role": "user", "content": "secret prompt"}}])
owned = handle.owns_logger_provider
processors = handle.logger_provider._multi_log_record_processor._log_record_processors
handle.shutdown()  # the only export: the batch delay is 60 s
print(json.dumps({{"owned": owned, "processors": [type(p).__name__ for p in processors]}}))
"""
    try:
        result, _ = run_python(code, env={"OTEL_BLRP_SCHEDULE_DELAY": "60000", "OTEL_BSP_SCHEDULE_DELAY": "60000"},
                               timeout=60)
    finally:
        sink.close()
    assert result["owned"] and result["processors"] == ["BatchLogRecordProcessor"]
    [span] = [s for s in sink.spans if s["name"] == "chat m"]
    assert "gen_ai.input.messages" not in span["attributes"]  # EVENT_ONLY: content on the event only
    [event] = sink.logs
    assert event["event_name"] == "gen_ai.client.inference.operation.details"
    assert event["scope"] == "agentotel.instrumentation.openai"
    assert (event["trace_id"], event["span_id"]) == (span["trace_id"], span["span_id"])
    assert "secret prompt" in event["attributes"]["gen_ai.input.messages"]
    assert event["attributes"]["gen_ai.usage.input_tokens"] == 2


@pytest.mark.slow
def test_reuses_the_applications_logger_provider():
    code = CHILD_PRELUDE + """
import openai
from opentelemetry import _logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs import export
from agentotel.instrumentation import instrument
from tests.support.fake_openai import FakeLLMServer
exporter = (getattr(export, "InMemoryLogRecordExporter", None) or export.InMemoryLogExporter)()
app = LoggerProvider()
app.add_log_record_processor(export.SimpleLogRecordProcessor(exporter))
_logs.set_logger_provider(app)
handle = instrument(otlp=False, capture_content="SPAN_AND_EVENT", performance_monitor=False, instrumentors=["openai"])
with FakeLLMServer() as server:
    openai.OpenAI(base_url=server.base_url, api_key="k").chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}])
handle.shutdown()
app.get_logger("app").emit(event_name="app.after")  # the application's provider is left running
print(json.dumps({"same": handle.logger_provider is app, "owns": handle.owns_logger_provider,
                  "events": [r.log_record.event_name for r in exporter.get_finished_logs()]}))
"""
    result, _ = run_python(code)
    assert result["same"] and not result["owns"]
    assert result["events"] == ["gen_ai.client.inference.operation.details", "app.after"]


@pytest.mark.slow
def test_reuses_the_applications_provider():
    code = CHILD_PRELUDE + """
import openai
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from agentotel.instrumentation import instrument
from tests.support.fake_openai import FakeLLMServer
app_exporter = InMemorySpanExporter()
app_provider = TracerProvider()
app_provider.add_span_processor(SimpleSpanProcessor(app_exporter))
trace.set_tracer_provider(app_provider)
handle = instrument(otlp=True, performance_monitor=False)
with FakeLLMServer() as server:
    openai.OpenAI(base_url=server.base_url, api_key="k").chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}])
handle.shutdown()
with app_provider.get_tracer("app").start_as_current_span("after"):
    pass
print(json.dumps({"same": handle.tracer_provider is app_provider, "owns": handle.owns_tracer_provider,
                  "names": [s.name for s in app_exporter.get_finished_spans()]}))
"""
    result, _ = run_python(code)
    assert result["same"] and not result["owns"]
    assert [n for n in result["names"] if n != "POST"] == ["chat m", "after"]  # POST: the SDK's httpx2 call


def test_fork_child_exports_its_own_spans(tmp_path):
    path = tmp_path / "spans.jsonl"
    code = CHILD_PRELUDE + f"""
import os
from tests.support.polling import wait_for
from agentotel.instrumentation import instrument, AgentTracer
handle = instrument(service_name="h6", otlp=False, jsonl_path={str(path)!r}, performance_monitor=False,
                    instrumentors=())
tracer = AgentTracer()
with tracer.trace_agent_call("before-fork"):
    pass
pid = os.fork()
if pid == 0:
    with tracer.trace_agent_call("in-child"):
        pass
    handle.force_flush(timeout=5)
    os._exit(0)
reaped = []
def child_exited():
    done, code = os.waitpid(pid, os.WNOHANG)
    reaped.extend([code] if done else [])
    return bool(done)
if not wait_for(child_exited, timeout=20):
    os.kill(pid, 9)
    raise SystemExit("child deadlocked")
status = reaped[0]
with tracer.trace_agent_call("in-parent"):
    pass
handle.shutdown()
print(json.dumps({{"status": status}}))
"""
    result, _ = run_python(code, timeout=60)
    assert result["status"] == 0
    names = [s["name"] for line in path.read_text().splitlines() for rs in json.loads(line)["resourceSpans"]
             for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert sorted(set(names)) == ["invoke_agent before-fork", "invoke_agent in-child", "invoke_agent in-parent"]


@pytest.mark.slow
def test_fork_child_traces_its_openai_calls(tmp_path):
    """H6 with the OpenAI instrumentor: a forked worker (gunicorn-style, after the parent made calls and
    started the metrics thread) traces its own client's calls, restarts the metrics thread, exits cleanly."""
    path = tmp_path / "spans.jsonl"
    child_out = tmp_path / "child.json"
    code = CHILD_PRELUDE + f"""
import os
from tests.support.polling import wait_for
import openai
from agentotel.instrumentation import instrument
from agentotel.instrumentation.instruments import RECORDER
from tests.support.fake_openai import FakeLLMServer
handle = instrument(service_name="h6", otlp=False, jsonl_path={str(path)!r}, performance_monitor=False,
                    instrumentors=["openai"])
with FakeLLMServer() as server:
    parent_client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
    parent_client.chat.completions.create(model="before-fork", messages=[{{"role": "user", "content": "hi"}}])
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
            with client.chat.completions.create(model="in-child", messages=[{{"role": "user", "content": "hi"}}],
                                                stream=True, stream_options={{"include_usage": True}}) as stream:
                chunks = list(stream)
            handle.force_flush(timeout=5)
            with open({str(child_out)!r}, "w") as out:
                json.dump({{"chunks": len(chunks), "recorder_pid": RECORDER._pid == os.getpid(),
                           "recorder_alive": RECORDER._thread is not None and RECORDER._thread.is_alive()}}, out)
            code = 0
        finally:
            os._exit(code)
    reaped = []
    def child_exited():
        done, code = os.waitpid(pid, os.WNOHANG)
        reaped.extend([code] if done else [])
        return bool(done)
    if not wait_for(child_exited, timeout=20):
        os.kill(pid, 9)
        raise SystemExit("child deadlocked")
    status = reaped[0]
    parent_client.chat.completions.create(model="in-parent", messages=[{{"role": "user", "content": "hi"}}])
handle.shutdown()
print(json.dumps({{"status": status}}))
"""
    result, _ = run_python(code, timeout=60)
    assert result["status"] == 0
    child = json.loads(child_out.read_text())
    assert child == {"chunks": 8, "recorder_pid": True, "recorder_alive": True}
    spans = {s["name"]: s for line in path.read_text().splitlines() for rs in json.loads(line)["resourceSpans"]
             for ss in rs["scopeSpans"] for s in ss["spans"]}
    assert {"chat before-fork", "chat in-child", "chat in-parent"} <= set(spans)
    usage = {a["key"]: a["value"] for a in spans["chat in-child"]["attributes"]}
    assert usage["gen_ai.usage.input_tokens"] == {"intValue": "1"}


def test_bad_arguments_raise_clear_errors():
    from agentotel.instrumentation import instrument

    with pytest.raises(ValueError, match="sample_ratio"):
        instrument(sample_ratio=2.0)
    with pytest.raises(ValueError, match="unknown instrumentors"):
        instrument(instrumentors=["nope"])
    with pytest.raises(ValueError, match="protocol"):
        instrument(protocol="carrier-pigeon")


def test_entry_points_load_instrumentors():
    found = {ep.name: ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name.startswith("agentotel")}
    assert {"agentotel_openai", "agentotel_langchain", "agentotel_httpx", "agentotel_openai_agents",
            "agentotel_llama_index", "agentotel_anthropic", "agentotel_google_genai"} <= set(found)
    for ep in found.values():
        cls = ep.load()
        assert issubclass(cls, BaseInstrumentor)
        assert get_dependency_conflicts(cls().instrumentation_dependencies()) is None


@pytest.mark.slow
def test_opentelemetry_instrument_cli_needs_no_code_change(tmp_path):
    app = tmp_path / "app.py"
    app.write_text(
        "import openai\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor, ConsoleSpanExporter\n"
        "from tests.support.fake_openai import FakeLLMServer\n"
        "provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))\n"
        "trace.set_tracer_provider(provider)\n"
        "with FakeLLMServer() as server:\n"
        "    openai.OpenAI(base_url=server.base_url, api_key='k').chat.completions.create(\n"
        "        model='cli-model', messages=[{'role': 'user', 'content': 'hi'}])\n")
    proc = run_opentelemetry_instrument(app)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('"name": "chat cli-model"') == 1
    assert '"gen_ai.usage.input_tokens": 1' in proc.stdout
