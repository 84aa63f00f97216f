"""Conversations for the explorer tests (traces, sessions, users, search), written through the receiver's
real trace pipeline: two sessions of several turns (``gen_ai.conversation.id``) by two users, a nested
sub-agent, a failing tool, tool calls with arguments and results, agent resource use, custom attributes,
and one trace whose content is hostile (a script tag, Markdown, an image pointing at a leak server).

Every trace started minutes ago (inside the dashboard's default "Last hour"). ``Conversations`` names what
was written so tests can assert on it.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine

from agentotel.processors.records import SpanBatch, SpanRecord

SUPPORT_TURNS = (
    ("Where is my order 1234?", "Order 1234 ships tomorrow from Rotterdam."),
    ("Can I get a refund for the blender?", "Yes: the refund of 49 EUR is on its way."),
    ("Thanks, that is all.", "You are welcome!"),
)
SQL_TURNS = (
    ("How many invoices were unpaid in March?", "There were 17 unpaid invoices in March."),
    ("And in April?", "I could not run the query: the warehouse timed out."),
)
HOSTILE = "<script>document.title='pwned';fetch('http://127.0.0.1:{port}/script')</script> **bold** " \
          "![](http://127.0.0.1:{port}/leak) [click](http://127.0.0.1:{port}/link) zanzibarquux"
UNIQUE_WORD = "zanzibarquux"  # only in the hostile trace's content
RSS_PEAK = 334_900_000
CPU_SECONDS = 0.25


@dataclass
class Conversations:
    traces: dict[str, str] = field(default_factory=dict)  # label -> trace id
    sessions: dict[str, list[str]] = field(default_factory=dict)  # conversation id -> trace ids in order
    agent_spans: dict[str, str] = field(default_factory=dict)  # label -> agent span id
    tool_spans: dict[str, str] = field(default_factory=dict)  # label -> tool span id


def _messages(*pairs: tuple[str, object]) -> str:
    out = []
    for role, content in pairs:
        if isinstance(content, list):
            out.append({"role": role, "parts": content})
        else:
            out.append({"role": role, "parts": [{"type": "text", "content": content}]})
    return json.dumps(out)


def _span(trace_id: str, parent: str | None, name: str, start_ns: int, duration_ms: float, attributes: dict, *,
          service: str, status: str = "UNSET", message: str | None = None, resource: dict | None = None) -> SpanRecord:
    return SpanRecord(
        trace_id=trace_id, span_id=secrets.token_hex(8), parent_span_id=parent, name=name,
        kind="CLIENT" if attributes.get("gen_ai.operation.name") == "chat" else "INTERNAL",
        start_ns=start_ns, end_ns=start_ns + int(duration_ms * 1e6), status_code=status, status_message=message,
        attributes=attributes, resource_attributes={"service.name": service, **(resource or {})}, events=[],
        links=[], scope_name="tests.explorer", service_name=service,
    )


def turn(agent: str, version: str, question: str, answer: str, start_ns: int, *, conversation: str | None,
         user: str | None, model: str, response_model: str, provider: str, tool: str, tool_args: dict,
         tool_result: str, tool_fails: bool = False, service: str = "shop", sub_agent: str | None = None,
         extra: dict | None = None, history: tuple = ()) -> list[SpanRecord]:
    """One turn: agent span → LLM call (asks for a tool) → tool → [sub-agent → LLM] → LLM (answers)."""
    trace_id = secrets.token_hex(16)
    context = {k: v for k, v in (("gen_ai.conversation.id", conversation), ("user.id", user)) if v}
    agent_attrs = {
        "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent, "gen_ai.agent.version": version,
        "gen_ai.input.messages": _messages(*history, ("user", question)),
        "gen_ai.output.messages": _messages(("assistant", answer)),
        "agentotel.process.memory.rss_start": RSS_PEAK - 4_000_000, "agentotel.process.memory.rss_end": RSS_PEAK - 1_000_000,
        "agentotel.process.memory.rss_peak": RSS_PEAK, "agentotel.thread.cpu_time": CPU_SECONDS,
        **context, **(extra or {}),
    }
    root = _span(trace_id, None, f"invoke_agent {agent}", start_ns, 1500, agent_attrs, service=service,
                 status="ERROR" if tool_fails else "UNSET", message="tool failed" if tool_fails else None,
                 resource={"deployment.environment": "prod"})
    call = {"type": "tool_call", "id": "call_1", "name": tool, "arguments": tool_args}
    llm = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
           "gen_ai.response.model": response_model, "gen_ai.request.temperature": 0.2,
           "gen_ai.request.max_tokens": 512, **context}
    first = _span(trace_id, root.span_id, f"chat {model}", start_ns + 10_000_000, 400, {
        **llm, "gen_ai.usage.input_tokens": 200, "gen_ai.usage.output_tokens": 30,
        "gen_ai.response.finish_reasons": ["tool_calls"],
        "gen_ai.input.messages": _messages(("system", "You are a helpful agent."), *history, ("user", question)),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [call], "finish_reason": "tool_call"}]),
    }, service=service)
    tool_span = _span(trace_id, root.span_id, f"execute_tool {tool}", start_ns + 420_000_000, 120, {
        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.call.arguments": json.dumps(tool_args), "gen_ai.tool.call.result": tool_result, **context,
    }, service=service, status="ERROR" if tool_fails else "UNSET", message="timeout" if tool_fails else None)
    spans = [root, first, tool_span]
    cursor = start_ns + 560_000_000
    if sub_agent:
        sub = _span(trace_id, root.span_id, f"invoke_agent {sub_agent}", cursor, 300, {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": sub_agent, "gen_ai.agent.version": "0.1.0",
            **context}, service=service)
        sub_llm = _span(trace_id, sub.span_id, f"chat {model}", cursor + 5_000_000, 250, {
            **llm, "gen_ai.usage.input_tokens": 50, "gen_ai.usage.output_tokens": 10,
            "gen_ai.input.messages": _messages(("user", "write the SQL")),
            "gen_ai.output.messages": _messages(("assistant", "SELECT count(*) FROM invoices")),
        }, service=service)
        spans += [sub, sub_llm]
        cursor += 320_000_000
    second = _span(trace_id, root.span_id, f"chat {model}", cursor, 500, {
        **llm, "gen_ai.usage.input_tokens": 260, "gen_ai.usage.output_tokens": 40,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.input.messages": _messages(
            ("system", "You are a helpful agent."), *history, ("user", question), ("assistant", [call]),
            ("tool", [{"type": "tool_call_response", "id": "call_1", "response": tool_result}])),
        "gen_ai.output.messages": _messages(("assistant", answer)),
    }, service=service)
    return [*spans, second]


def write_conversations(engine: Engine, leak_port: int = 9, minutes_ago: float = 30) -> Conversations:
    """Two sessions, a trace without session with hostile content, all ``minutes_ago`` and later."""
    from agentotel.core.settings import ReceiverSettings
    from agentotel.processors.pipeline import build_trace_pipeline

    facts = Conversations()
    now = time.time_ns()
    start = now - int(minutes_ago * 60e9)
    spans: list[SpanRecord] = []
    history: tuple = ()
    for i, (question, answer) in enumerate(SUPPORT_TURNS):
        made = turn("support-agent", "1.2.0", question, answer, start + i * 60_000_000_000, conversation="conv-alice-1",
                    user="alice", model="gpt-4o-mini", response_model="gpt-4o-mini-2024-07-18", provider="openai",
                    tool="lookup_order", tool_args={"order_id": 1234}, tool_result='{"status": "shipped"}',
                    extra={"tenant": "acme"} if i == 0 else None, history=history)
        history = (*history, ("user", question), ("assistant", answer))
        spans += made
        facts.sessions.setdefault("conv-alice-1", []).append(made[0].trace_id)
        facts.traces[f"support-{i}"] = made[0].trace_id
        facts.agent_spans[f"support-{i}"] = made[0].span_id
        facts.tool_spans[f"support-{i}"] = made[2].span_id
    history = ()
    for i, (question, answer) in enumerate(SQL_TURNS):
        made = turn("sql-agent", "2.1.0", question, answer, start + (5 + i) * 60_000_000_000, conversation="conv-bob-7",
                    user="bob", model="claude-3-5-sonnet", response_model="claude-3-5-sonnet", provider="anthropic",
                    tool="run_sql", tool_args={"query": "SELECT 1"}, tool_result="17", tool_fails=i == 1,
                    service="analytics", sub_agent="sql-writer", history=history)
        history = (*history, ("user", question), ("assistant", answer))
        spans += made
        facts.sessions.setdefault("conv-bob-7", []).append(made[0].trace_id)
        facts.traces[f"sql-{i}"] = made[0].trace_id
        facts.agent_spans[f"sql-{i}"] = made[0].span_id
        facts.tool_spans[f"sql-{i}"] = made[2].span_id
    hostile = HOSTILE.format(port=leak_port)
    made = turn("research-agent", "0.4.0", hostile, hostile, start + 9 * 60_000_000_000, conversation=None, user=None,
                model="gpt-4o", response_model="gpt-4o", provider="openai", tool="web_search",
                tool_args={"q": hostile}, tool_result=hostile)
    made[0].name = f"invoke_agent ![](http://127.0.0.1:{leak_port}/name)"
    spans += made
    facts.traces["hostile"] = made[0].trace_id
    facts.agent_spans["hostile"] = made[0].span_id
    facts.tool_spans["hostile"] = made[2].span_id
    settings = ReceiverSettings(redact_pii=False)  # keep the hostile URLs intact for the leak tests
    build_trace_pipeline(engine, settings).consume(SpanBatch(spans=spans))
    return facts
