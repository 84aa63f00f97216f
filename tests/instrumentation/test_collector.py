"""TelemetryCollector: start / stop / pause / resume over what instrument() sets up, and the cost of a paused call."""

from __future__ import annotations

import time

import pytest

from agentotel.core import semconv as sc
from agentotel.instrumentation import AgentTracer
from agentotel.instrumentation._switch import SWITCH, PausableSampler
from agentotel.instrumentation.collector import TelemetryCollector
from tests.instrumentation.support import points


@pytest.fixture(autouse=True)
def _never_left_paused():
    yield
    SWITCH.paused = False


@pytest.fixture
def collector(tracer_provider, meter_provider):
    with TelemetryCollector(tracer_provider=tracer_provider, meter_provider=meter_provider, otlp=False,
                            instrumentors=["openai"], performance_monitor=True) as c:
        yield c


def _chat(client, text="hi"):
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])


def test_pause_and_resume(collector, client, span_exporter, metric_reader, tracer_provider, meter_provider):
    assert collector.running and not collector.paused
    assert isinstance(tracer_provider.sampler, PausableSampler)
    _chat(client, "one")
    assert len(span_exporter.get_finished_spans()) == 1
    assert points(metric_reader, "process.memory.usage")

    collector.pause()
    assert collector.paused
    tracer = AgentTracer(tracer_provider=tracer_provider, meter_provider=meter_provider)
    with tracer.trace_agent_call("quiet"):
        _chat(client, "two")
    assert len(span_exporter.get_finished_spans()) == 1  # nothing recorded while paused
    assert points(metric_reader, "process.memory.usage") == []  # the monitor reports nothing
    assert sum(p.count for p in points(metric_reader, sc.METRIC_OPERATION_DURATION)) == 1
    assert points(metric_reader, sc.METRIC_AGENT_EXECUTIONS) == []

    collector.resume()
    _chat(client, "three")
    assert [s.name for s in span_exporter.get_finished_spans()] == ["chat gpt-4o-mini"] * 2
    assert sum(p.count for p in points(metric_reader, sc.METRIC_OPERATION_DURATION)) == 2
    assert points(metric_reader, "process.memory.usage")


def test_stop_tears_down(tracer_provider, meter_provider, client, span_exporter):
    collector = TelemetryCollector(tracer_provider=tracer_provider, meter_provider=meter_provider, otlp=False,
                                   instrumentors=["openai"], performance_monitor=False).start()
    collector.pause()
    assert collector.stop(timeout=2) is True
    assert not collector.running and not collector.paused  # stop() leaves recording on for the next one
    _chat(client)
    assert span_exporter.get_finished_spans() == ()  # uninstrumented
    with pytest.raises(RuntimeError, match="cannot be started again"):
        collector.start()


def test_adopts_an_instrument_handle(tracer_provider, meter_provider, client, span_exporter):
    from agentotel.instrumentation import instrument

    handle = instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, otlp=False,
                        instrumentors=["openai"], performance_monitor=False)
    with TelemetryCollector(handle=handle) as collector:
        assert collector.handle is handle
        collector.pause()
        _chat(client)
        collector.resume()
        _chat(client)
    assert len(span_exporter.get_finished_spans()) == 1
    with pytest.raises(ValueError):
        TelemetryCollector(handle=handle, otlp=False)


def _per_call(fn, calls=20_000, rounds=5) -> float:
    """Lowest per-call CPU time of ``fn`` over ``rounds`` (seconds)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.thread_time()
        for _ in range(calls):
            fn()
        best = min(best, (time.thread_time() - start) / calls)
    return best


def test_cost_of_a_paused_call(tracer_provider, meter_provider):
    """A paused instrumented OpenAI call costs well under a microsecond more than the bare call; an agent
    span of AgentTracer a few microseconds (a non-recording span)."""
    from agentotel.instrumentation import _switch
    from agentotel.instrumentation._content import ContentSettings
    from agentotel.instrumentation.instruments import build_instruments
    from agentotel.instrumentation.openai.patch import sync_wrapper

    _switch.install(tracer_provider)
    tracer = tracer_provider.get_tracer("t")
    traced = sync_wrapper("chat", tracer, build_instruments("t", meter_provider), ContentSettings(capture=False))

    def bare(**kwargs):
        return None

    def wrapped():
        return traced(bare, None, (), {"model": "m", "messages": []})

    SWITCH.paused = True
    base = _per_call(lambda: bare(model="m", messages=[]))
    paused = _per_call(wrapped)
    agent_tracer = AgentTracer(tracer_provider=tracer_provider, meter_provider=meter_provider)

    def agent_call():
        with agent_tracer.trace_agent_call("a"):
            pass

    paused_agent = _per_call(agent_call, calls=5000)
    SWITCH.paused = False
    recording = _per_call(wrapped, calls=2000)
    added = paused - base
    print(f"paused OpenAI wrapper: +{added * 1e6:.2f} µs/call; recording: +{(recording - base) * 1e6:.1f} µs; "
          f"paused agent span: {paused_agent * 1e6:.1f} µs")
    assert added < 1.5e-6, added
    assert paused_agent < 6e-6, paused_agent
    assert recording > paused * 3
