"""EventRouter: handlers with filters and a priority order over finished spans and log (content) events."""

from __future__ import annotations

import time

import pytest
from opentelemetry.trace import Status, StatusCode

from agentotel.core import semconv as sc
from agentotel.instrumentation._content import ContentSettings
from agentotel.instrumentation.events import LOG, SPAN, STOP, Event, EventRouter
from tests.support.polling import wait_for


@pytest.fixture
def router(tracer_provider) -> EventRouter:
    r = EventRouter()
    r.install(tracer_provider=tracer_provider)
    return r


def test_filters_and_priority(router, tracer_provider):
    seen: list[tuple[str, str]] = []
    router.add(lambda e: seen.append(("low", e.name)), SPAN, priority=1)
    router.add(lambda e: seen.append(("high", e.name)), SPAN, priority=10, operation="chat")
    router.add(lambda e: seen.append(("errors", e.name)), SPAN, priority=5, status="error")
    router.add(lambda e: seen.append(("attr", e.name)), SPAN, attributes={"tier": "gold"})
    router.add(lambda e: seen.append(("slow", e.name)), SPAN, min_duration_s=0.05)
    router.add(lambda e: seen.append(("named", e.name)), SPAN, name=("b", "c"), where=lambda e: "x" in e.attributes)
    tracer = tracer_provider.get_tracer("t")
    with tracer.start_as_current_span("a", attributes={sc.OPERATION: "chat", "tier": "gold"}):
        pass
    with tracer.start_as_current_span("b", attributes={"x": 1}) as span:
        span.set_status(Status(StatusCode.ERROR))
    with tracer.start_as_current_span("c"):
        time.sleep(0.06)
    assert seen == [("high", "a"), ("low", "a"), ("attr", "a"),
                    ("errors", "b"), ("low", "b"), ("named", "b"),
                    ("low", "c"), ("slow", "c")]


def test_stop_ends_the_dispatch_and_faults_are_contained(router, tracer_provider):
    seen = []

    def broken(event):
        raise RuntimeError("handler bug")

    router.add(broken, SPAN, priority=100)
    router.add(lambda e: seen.append("first") or STOP, SPAN, priority=50)
    router.add(lambda e: seen.append("never"), SPAN, priority=0)
    router.add(lambda e: seen.append("bad filter"), SPAN, priority=60, where=lambda e: 1 / 0)
    with tracer_provider.get_tracer("t").start_as_current_span("s"):
        pass
    assert seen == ["first"]


def test_event_view_of_a_span(router, tracer_provider):
    got: list[Event] = []
    router.add(got.append)
    with tracer_provider.get_tracer("t").start_as_current_span("s", attributes={"k": "v"}) as span:
        ctx = span.get_span_context()
    [event] = got
    assert event.kind == SPAN and event.name == "s" and event.attributes == {"k": "v"}
    assert event.trace_id == f"{ctx.trace_id:032x}" and event.span_id == f"{ctx.span_id:016x}"
    assert event.duration_s >= 0 and event.status == "unset" and event.raw is not None


def test_content_events_from_the_openai_instrumentor(tracer_provider, meter_provider, logger_provider, client):
    from agentotel.instrumentation.openai import OpenAIInstrumentor

    router = EventRouter().install(tracer_provider=tracer_provider, logger_provider=logger_provider)
    content: list[Event] = []
    spans: list[Event] = []
    router.add(content.append, LOG, name=sc.EVENT_INFERENCE_DETAILS)
    router.add(spans.append, SPAN, operation=sc.OP_CHAT)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                            logger_provider=logger_provider, content=ContentSettings(capture=True, mode="EVENT_ONLY"))
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    finally:
        instrumentor.uninstrument()
    [event] = content
    [span] = spans
    assert event.kind == LOG and event.attributes[sc.OPERATION] == "chat"
    assert sc.INPUT_MESSAGES in event.attributes and event.span_id == span.span_id


def test_background_dispatch_and_drops(tracer_provider):
    router = EventRouter(background=True, max_queue=5).install(tracer_provider=tracer_provider)
    seen = []
    gate = __import__("threading").Event()

    def slow(event):
        gate.wait(5)
        seen.append(event.name)

    router.add(slow)
    tracer = tracer_provider.get_tracer("t")
    for i in range(20):
        tracer.start_span(f"s{i}").end()
    gate.set()
    router.force_flush()
    wait_for(lambda: len(seen) + router.dropped >= 20, timeout=5, interval=0.01)
    assert router.dropped > 0 and len(seen) + router.dropped == 20
    router.shutdown()


def test_bad_registrations(router):
    with pytest.raises(ValueError):
        router.add(print, "metric")
    with pytest.raises(ValueError):
        router.add(print, SPAN, status="failed")
    with pytest.raises(TypeError):
        router.add("not callable")  # type: ignore[arg-type]
    router.add(print)
    router.remove(print)
    assert router._routes == ()
