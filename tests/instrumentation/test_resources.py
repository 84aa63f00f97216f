"""Per-execution resources on agent spans: RSS at start/end/peak, thread CPU time, execution histograms."""

from __future__ import annotations

import threading
import time
import warnings

import pytest

from agentotel.core import semconv as sc
from agentotel.instrumentation import AgentTracer, _resources
from tests.instrumentation.support import by_name, points
from tests.support.polling import wait_for


@pytest.fixture
def tracer(tracer_provider, meter_provider) -> AgentTracer:
    return AgentTracer(tracer_provider=tracer_provider, meter_provider=meter_provider)


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_rss_reads_are_plausible():
    value = _resources.rss()
    assert value is not None and 1 << 20 < value < 1 << 40
    hwm = _resources.high_water_mark()
    assert hwm is not None and hwm >= value // 2


def test_agent_span_records_memory_and_cpu(tracer, span_exporter, metric_reader):
    with tracer.trace_agent_call("hog"):
        _burn(0.05)
        blob = bytearray(64 << 20)  # 64 MiB touched: RSS rises by about that much
        for i in range(0, len(blob), 4096):
            blob[i] = 1
        # the sampler thread has seen the spike (its peak of this open execution includes the 64 MiB)
        assert wait_for(lambda: any(res.peak - res.rss_start >= 48 << 20 for res in tuple(_resources._SAMPLER._open)),
                        timeout=10, interval=_resources.SAMPLE_INTERVAL)
        del blob
    span = by_name(span_exporter.get_finished_spans(), "invoke_agent hog")
    attrs = span.attributes
    assert attrs[sc.EXEC_THREAD_CPU_TIME] >= 0.04
    start, end, peak = attrs[sc.EXEC_RSS_START], attrs[sc.EXEC_RSS_END], attrs[sc.EXEC_RSS_PEAK]
    assert peak >= max(start, end)
    assert peak - start >= 48 << 20, (start, end, peak)  # the 64 MiB spike is seen although freed before the end
    [mem] = points(metric_reader, sc.METRIC_AGENT_MEMORY_PEAK)
    assert mem.attributes == {sc.AGENT_NAME: "hog"} and mem.sum == peak
    [cpu] = points(metric_reader, sc.METRIC_AGENT_CPU_TIME)
    assert cpu.sum == attrs[sc.EXEC_THREAD_CPU_TIME]


def test_tool_and_llm_spans_carry_no_resources(tracer, span_exporter):
    with tracer.trace_agent_call("a"):
        with tracer.trace_tool_call("t"):
            pass
    tool = by_name(span_exporter.get_finished_spans(), "execute_tool t")
    assert not set(sc.EXEC_RESOURCE_KEYS) & set(tool.attributes)


def test_cpu_time_left_out_when_ended_on_another_thread(tracer, span_exporter):
    from opentelemetry import context

    before = context.attach(context.get_current())  # the span stays attached here: put this thread back after
    scope = tracer.trace_agent_call("hop").start()
    worker = threading.Thread(target=scope.end)
    worker.start()
    worker.join()
    context.detach(before)
    attrs = by_name(span_exporter.get_finished_spans(), "invoke_agent hop").attributes
    assert sc.EXEC_THREAD_CPU_TIME not in attrs and sc.EXEC_RSS_PEAK in attrs


def test_sampler_thread_stops_when_no_execution_is_open(tracer):
    with tracer.trace_agent_call("short"):
        assert _resources._SAMPLER.running
    assert wait_for(lambda: not _resources._SAMPLER.running, timeout=_resources.IDLE_EXIT + 2, interval=0.01)


def test_langchain_agent_run_records_resources(instrument_langchain, span_exporter, fake_llm):
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from langgraph.prebuilt import create_react_agent

    @tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    llm = ChatOpenAI(model="gpt-4o-mini", base_url=fake_llm.base_url, api_key="k", max_retries=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent = create_react_agent(llm, [add], name="calc")
    agent.invoke({"messages": [("user", "add 2 and 3")]})
    spans = span_exporter.get_finished_spans()
    agents = [s for s in spans if s.attributes.get(sc.OPERATION) == sc.OP_INVOKE_AGENT]
    assert agents
    for span in agents:
        assert span.attributes[sc.EXEC_RSS_PEAK] >= span.attributes[sc.EXEC_RSS_START]
        assert span.attributes[sc.EXEC_THREAD_CPU_TIME] >= 0
    others = [s for s in spans if s.attributes.get(sc.OPERATION) != sc.OP_INVOKE_AGENT]
    assert all(sc.EXEC_RSS_START not in s.attributes for s in others)
