"""Throughput of the pure processor steps Normalize + Cost + Redact over realistic GenAI spans.

Each dialect contributes traces of an agent span with an LLM child and a tool child (~15 attributes
each), with content capture off and on (~500 bytes of prompt and of answer text per LLM span, unique
per trace, in that dialect's carriers). Batches of 512 records are prepared beforehand; only the steps are timed.

    .venv/bin/python benchmarks/normalize.py [--spans 60000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import time

from agentotel.processors.cost import Cost
from agentotel.processors.normalize import Normalize
from agentotel.processors.records import SpanBatch, SpanRecord
from agentotel.processors.redact import Redact

PROMPT = (
    "You are a support assistant for ACME Corp. Answer in two short paragraphs and cite the knowledge "
    "base article ids. Customer question: my order #48213 placed on 2024-10-02 has not arrived, the "
    "tracking page shows 'in transit' since 3 days and the delivery estimate was 2-4 business days. "
    "Can you check the status, tell me the new estimate and whether I get a refund of the $12.99 fee?"
)
ANSWER = (
    "I checked order #48213: the parcel left our warehouse on 2024-10-03 and is with the carrier, who "
    "reports a delay at the regional hub. The new estimate is 2024-10-09. Because the delivery is "
    "late, the $12.99 shipping fee will be refunded automatically within 5-7 days (see KB-1042). "
    "If it has not arrived by the 9th, reply here and we will send a replacement (KB-2210)."
)
MESSAGES_IN = json.dumps(
    [
        {
            "role": "system",
            "parts": [{"type": "text", "content": "You are a support assistant for ACME Corp."}],
        },
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]},
    ]
)
MESSAGES_OUT = json.dumps(
    [{"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}]
)
COMMON = {"server.address": "api.openai.com", "server.port": 443, "deployment.environment": "prod"}


def dialects(content: bool) -> dict[str, list[tuple[str, str, dict]]]:
    """(name, parent ref, attributes) of an agent, an LLM call and a tool call in each dialect."""
    usage = {"gen_ai.usage.input_tokens": 812, "gen_ai.usage.output_tokens": 143}
    chat = {
        **COMMON,
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "chatcmpl-9J3uIL87gldCFtiIbyaOvTeYBRA3l",
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 512,
        "gen_ai.usage.cache_read.input_tokens": 256,
        **usage,
    }
    tool = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "lookup_order",
        "gen_ai.tool.call.id": "call_1",
    }
    agent = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "support",
        "gen_ai.conversation.id": "c-1",
    }
    if content:
        chat |= {"gen_ai.input.messages": MESSAGES_IN, "gen_ai.output.messages": MESSAGES_OUT}
        tool |= {"gen_ai.tool.call.arguments": '{"order_id": 48213}', "gen_ai.tool.call.result": ANSWER[:200]}
    otel = [
        ("invoke_agent support", "", agent),
        ("chat gpt-4o-mini", "a", chat),
        ("execute_tool lookup_order", "a", tool),
    ]

    oi_llm = {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.system": "openai",
        "llm.model_name": "gpt-4o-mini-2024-07-18",
        "llm.invocation_parameters": '{"model": "gpt-4o-mini", "temperature": 0.2}',
        "llm.token_count.prompt": 812,
        "llm.token_count.completion": 143,
        "llm.token_count.total": 955,
        "llm.token_count.prompt_details.cache_read": 256,
        "session.id": "s-1",
        "user.id": "u-1",
        "metadata": '{"env": "prod"}',
    }
    if content:
        oi_llm |= {
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "You are a support assistant for ACME Corp.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": PROMPT,
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": ANSWER,
            "input.value": PROMPT,
            "output.value": ANSWER,
        }
    oi = [
        ("support", "", {"openinference.span.kind": "AGENT", "agent.name": "support", "session.id": "s-1"}),
        ("ChatOpenAI", "a", oi_llm),
        (
            "lookup_order",
            "a",
            {"openinference.span.kind": "TOOL", "tool.name": "lookup_order", "session.id": "s-1"},
        ),
    ]

    tl_llm = {
        **COMMON,
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.prompt_tokens": 812,
        "gen_ai.usage.completion_tokens": 143,
        "llm.usage.total_tokens": 955,
        "llm.is_streaming": False,
        "traceloop.workflow.name": "support",
    }
    if content:
        tl_llm |= {
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": PROMPT,
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": ANSWER,
            "gen_ai.completion.0.finish_reason": "stop",
        }
    openllmetry = [
        ("support.agent", "", {"traceloop.span.kind": "agent", "traceloop.entity.name": "support"}),
        ("openai.chat", "a", tl_llm),
        ("lookup_order.tool", "a", {"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup_order"}),
    ]

    ol_llm = {
        **chat,
        "telemetry.sdk.name": "openlit",
        "gen_ai.system": "openai",
        "gen_ai.usage.total_tokens": 955,
        "gen_ai.usage.cost": 0.000212,
        "gen_ai.server.time_to_first_token": 0.41,
        "gen_ai.request.is_stream": False,
    }
    ol_llm.pop("gen_ai.provider.name")
    openlit = [otel[0], ("chat gpt-4o-mini", "a", ol_llm), otel[2]]

    lf_llm = {
        "langfuse.observation.type": "generation",
        "langfuse.observation.model.name": "gpt-4o-mini",
        "langfuse.observation.usage_details": '{"input": 556, "output": 143, "input_cache_read": 256, "total": 955}',
        "langfuse.observation.completion_start_time": '"2024-10-02T10:30:00.410000Z"',
        "langfuse.observation.level": "DEFAULT",
        "langfuse.trace.name": "support",
        "user.id": "u-1",
        "session.id": "s-1",
    }
    if content:
        lf_llm |= {"langfuse.observation.input": MESSAGES_IN, "langfuse.observation.output": MESSAGES_OUT}
    langfuse = [
        ("support", "", {"langfuse.observation.type": "agent", "langfuse.trace.name": "support"}),
        ("generation", "a", lf_llm),
        ("lookup_order", "a", {"langfuse.observation.type": "tool"}),
    ]

    vercel_llm = {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.provider": "openai.chat",
        "ai.model.id": "gpt-4o-mini",
        "gen_ai.system": "openai.chat",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": ["stop"],
        "ai.usage.promptTokens": 812,
        "ai.usage.completionTokens": 143,
        **usage,
    }
    if content:
        vercel_llm |= {"ai.prompt.messages": MESSAGES_IN, "ai.response.text": ANSWER}
    vercel = [
        ("ai.generateText", "", {"ai.operationId": "ai.generateText", "ai.model.id": "gpt-4o-mini"}),
        ("ai.generateText.doGenerate", "a", vercel_llm),
        ("ai.toolCall", "a", {"ai.operationId": "ai.toolCall", "ai.toolCall.name": "lookup_order", **tool}),
    ]
    return {
        "otel": otel,
        "openinference": oi,
        "openllmetry": openllmetry,
        "openlit": openlit,
        "langfuse": langfuse,
        "vercel": vercel,
    }


def build(templates: list[tuple[str, str, dict]], count: int) -> list[SpanRecord]:
    records: list[SpanRecord] = []
    rng = random.Random(7)
    trace = 0
    while len(records) < count:
        trace += 1
        order = str(48213 + trace)  # every trace's prompt and answer differ (no cache hits)
        trace_id = f"{rng.getrandbits(128):032x}"
        agent_id = f"{rng.getrandbits(64):016x}"
        for index, (name, parent, attributes) in enumerate(templates):
            span_id = agent_id if index == 0 else f"{rng.getrandbits(64):016x}"
            records.append(
                SpanRecord(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=agent_id if parent else None,
                    name=name,
                    kind="CLIENT" if index == 1 else "INTERNAL",
                    start_ns=1_727_865_000_000_000_000,
                    end_ns=1_727_865_001_500_000_000,
                    status_code="UNSET",
                    status_message=None,
                    attributes={
                        key: value.replace("48213", order) if isinstance(value, str) else value
                        for key, value in attributes.items()
                    },
                    resource_attributes={"service.name": "support-bot", "service.version": "1.4.2"},
                    events=[],
                    links=[],
                    scope_name="bench",
                )
            )
    return records[:count]


def batches(records: list[SpanRecord], size: int = 512) -> list[SpanBatch]:
    return [SpanBatch(spans=copy.deepcopy(records[i : i + size])) for i in range(0, len(records), size)]


def measure(records: list[SpanRecord], stages: list, repeat: int) -> tuple[float, float]:
    """Best spans/s over ``repeat`` runs: per wall-clock second and per CPU second of this process."""
    best_wall = best_cpu = 0.0
    for _ in range(repeat):
        prepared = batches(records)
        wall, cpu = time.perf_counter(), time.process_time()
        for batch in prepared:
            for stage in stages:
                batch = stage.process(batch)
        best_wall = max(best_wall, len(records) / (time.perf_counter() - wall))
        best_cpu = max(best_cpu, len(records) / max(time.process_time() - cpu, 1e-9))
    return best_wall, best_cpu


def _cell(figures: tuple[float, float]) -> str:
    return f"{figures[0]:>12,.0f} ({figures[1]:>9,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=30_000, help="spans per measurement")
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs")
    args = parser.parse_args()
    normalize, cost, redact = Normalize(), Cost(), Redact()
    pipelines = {
        "normalize": [normalize],
        "normalize+cost": [normalize, cost],
        "normalize+cost+redact": [normalize, cost, redact],
    }
    print(f"spans/s per wall-clock second (per CPU second of this process); best of {args.repeat} runs")
    print(f"of {args.spans} spans in batches of 512. Machine load now: {os.getloadavg()[0]:.1f}")
    header = f"{'dialect':14s} {'content':8s}" + "".join(f"{name:>26s}" for name in pipelines)
    print(header)
    for content in (False, True):
        by_dialect = dialects(content)
        mix: list[SpanRecord] = []
        for dialect, templates in by_dialect.items():
            records = build(templates, args.spans // 3)
            mix.extend(records[: args.spans // len(by_dialect)])
            row = "".join(_cell(measure(records, stages, args.repeat)) for stages in pipelines.values())
            print(f"{dialect:14s} {'on' if content else 'off':8s}{row}")
        random.Random(1).shuffle(mix)
        row = "".join(_cell(measure(mix, stages, args.repeat)) for stages in pipelines.values())
        print(f"{'ALL (mix)':14s} {'on' if content else 'off':8s}{row}")


if __name__ == "__main__":
    main()
