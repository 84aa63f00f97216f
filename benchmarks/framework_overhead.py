"""µs the agent-framework instrumentors add per call: OpenAI Agents SDK and LlamaIndex, vs the bare framework.

    .venv/bin/python benchmarks/framework_overhead.py [--rounds 9] [--runs 200]

(also run by ``benchmarks/instrumentation_overhead.py --frameworks``.)

Method: in one process, the framework runs against in-process fake models (no HTTP: the model call itself is
not what is measured, and our OpenAI instrumentor stands aside for these calls anyway), with a
``TracerProvider`` + ``BatchSpanProcessor`` (dropping exporter) and a ``MeterProvider``. Rounds alternate
bare and instrumented (our processor / handlers added and removed between rounds, nothing else changes);
each round times ``--runs`` calls in CPU time of the calling thread (robust on a shared machine; span export
and our deferred metric recording happen on other threads and are not counted); the figure is the median
over rounds of (instrumented round mean − bare round mean). Scenarios:

- Agents SDK ``Runner.run`` of an agent that calls one function tool (2 model calls): our spans are the
  workflow, the agent, the tool (3), with per-execution resources on the agent; and the same three SDK spans
  opened and closed alone (no run around them: a steadier figure on a busy machine);
- LlamaIndex ``FunctionAgent.run`` with a tool (``MockFunctionCallingLLM``; 2 model calls): agent, tool and
  two chat spans (4); and one ``MockLLM.complete`` call (1 text_completion span).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _providers() -> tuple[Any, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    return tracer_provider, MeterProvider(metric_readers=[InMemoryMetricReader()])


def _paired(bare: Any, instrumented: Any, on: Any, off: Any, rounds: int, runs: int) -> tuple[float, float]:
    """(median added µs per call, median bare µs per call) over alternating rounds."""
    def timed(fn: Any) -> float:
        start = time.thread_time_ns()
        for _ in range(runs):
            fn()
        return (time.thread_time_ns() - start) / runs / 1000

    for _ in range(3):  # warm-up
        bare()
        on()
        instrumented()
        off()
    added, base = [], []
    for _ in range(rounds):
        b = timed(bare)
        on()
        i = timed(instrumented)
        off()
        added.append(i - b)
        base.append(b)
    return statistics.median(added), statistics.median(base)


# --- OpenAI Agents SDK ---------------------------------------------------------------------------------------
def agents_sdk(tracer_provider: Any, meter_provider: Any, rounds: int, runs: int) -> list[tuple[str, float, float]]:
    from agents import Agent, Runner, function_tool
    from agents.items import ModelResponse
    from agents.models.interface import Model
    from agents.tracing import set_trace_processors
    from agents.usage import Usage
    from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText

    from agentotel.instrumentation.openai_agents import OpenAIAgentsInstrumentor

    class FakeModel(Model):
        async def get_response(self, system_instructions: Any, input: Any, *args: Any, **kwargs: Any) -> Any:
            last = input[-1] if isinstance(input, list) and input else {}
            if isinstance(last, dict) and last.get("type") == "function_call_output":
                out: Any = ResponseOutputMessage(id="m", type="message", role="assistant", status="completed",
                                                 content=[ResponseOutputText(type="output_text", text="6",
                                                                             annotations=[])])
            else:
                out = ResponseFunctionToolCall(id="f", call_id="c1", type="function_call", name="add",
                                               arguments='{"a": 3, "b": 3}', status="completed")
            return ModelResponse(output=[out], usage=Usage(requests=1, input_tokens=5, output_tokens=3,
                                                           total_tokens=8), response_id=None)

        def stream_response(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    @function_tool
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    agent = Agent(name="calc", instructions="add", tools=[add], model=FakeModel())
    loop = asyncio.new_event_loop()

    def run() -> None:
        loop.run_until_complete(Runner.run(agent, "add 3 and 3"))

    set_trace_processors([])  # the SDK's own exporter off: the baseline is the SDK with no processor
    instrumentor = OpenAIAgentsInstrumentor()

    def on() -> None:
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, exclusive=True)

    def off() -> None:
        instrumentor.uninstrument()

    rows = []
    added, base = _paired(run, run, on, off, rounds, runs)
    rows.append(("openai-agents Runner.run, 1 tool (3 spans: workflow, agent, tool)", added, base))

    from agents.tracing import agent_span, function_span, trace

    def sdk_spans() -> None:  # the SDK's tracing alone: a trace with an agent and a tool span
        with trace("w"), agent_span(name="calc"), function_span(name="add"):
            pass

    added, base = _paired(sdk_spans, sdk_spans, on, off, rounds, runs * 10)
    rows.append(("openai-agents trace + agent + function span alone (3 spans)", added, base))
    loop.close()
    return rows


# --- LlamaIndex ------------------------------------------------------------------------------------------------
def llama_index(tracer_provider: Any, meter_provider: Any, rounds: int, runs: int) -> list[tuple[str, float, float]]:
    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.llms.mock import MockFunctionCallingLLM, MockLLM

    from agentotel.instrumentation.llama_index import LlamaIndexInstrumentor

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    agent = FunctionAgent(name="calc", tools=[add], llm=MockFunctionCallingLLM(), streaming=False)
    loop = asyncio.new_event_loop()

    async def go() -> Any:
        return await agent.run("add 3 and 3")

    def run_agent() -> None:
        loop.run_until_complete(go())

    llm = MockLLM(max_tokens=8)

    def complete() -> None:
        llm.complete("hello there")

    instrumentor = LlamaIndexInstrumentor()

    def on() -> None:
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    def off() -> None:
        instrumentor.uninstrument()

    rows = []
    added, base = _paired(run_agent, run_agent, on, off, rounds, max(20, runs // 4))
    rows.append(("llama-index FunctionAgent.run, 1 tool (agent, tool, 2 chat spans)", added, base))
    added, base = _paired(complete, complete, on, off, rounds, runs * 5)
    rows.append(("llama-index MockLLM.complete (1 text_completion span)", added, base))
    loop.close()
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args(argv)
    tracer_provider, meter_provider = _providers()
    from opentelemetry import context as context_api
    from opentelemetry import trace as trace_api

    reference = tracer_provider.get_tracer("reference")

    def hand_written() -> None:  # the scale of this machine: one span with 2 attributes, made current
        span = reference.start_span("invoke_agent calc", attributes={"gen_ai.operation.name": "invoke_agent",
                                                                     "gen_ai.agent.name": "calc"})
        context_api.detach(context_api.attach(trace_api.set_span_in_context(span)))
        span.end()

    added, base = _paired(lambda: None, hand_written, lambda: None, lambda: None, args.rounds, args.runs * 10)
    rows = [("reference: one hand-written OTel span (2 attributes, made current)", added, base)]
    rows += agents_sdk(tracer_provider, meter_provider, args.rounds, args.runs)
    rows += llama_index(tracer_provider, meter_provider, args.rounds, args.runs)
    print(f"\n## agent frameworks (in-process fake models; median of {args.rounds} paired rounds, thread CPU time)")
    print("| call | bare µs | added µs |")
    print("|---|---|---|")
    for label, added, base in rows:
        print(f"| {label} | {base:.0f} | {added:.1f} |")
    tracer_provider.shutdown()


if __name__ == "__main__":
    main()
