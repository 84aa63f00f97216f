"""Synthetic warehouse rows for the warehouse tests and the analytics benchmark (data setup only).

Each execution is one trace: an agent span, ``llm_per_exec`` LLM spans and ``tools_per_exec`` tool spans,
with the matching ``agent_executions``, ``llm_calls`` and ``tool_calls`` rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert

from agentotel.warehouse.migrate import alembic_config, current_revisions, upgrade
from agentotel.warehouse.models import AgentExecution, LLMCall, Span, ToolCall

AGENTS = [("planner", "svc-a"), ("researcher", "svc-a"), ("coder", "svc-b"), ("reviewer", "svc-b"),
          ("support", "svc-c"), ("router", "svc-c"), ("writer", "svc-d"), ("analyst", "svc-d")]
MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-3-5-sonnet"), ("anthropic", "claude-3-haiku")]
TOOLS = ["search", "calculator", "sql", "browser", "python"]
PRICE = {"gpt-4o": 5e-6, "gpt-4o-mini": 3e-7, "claude-3-5-sonnet": 3e-6, "claude-3-haiku": 2.5e-7}


def generate(
    n_executions: int,
    start: datetime,
    span: timedelta,
    seed: int = 0,
    llm_per_exec: int = 2,
    tools_per_exec: int = 1,
) -> dict[str, list[dict]]:
    """Rows per table name for ``n_executions`` executions spread uniformly over ``[start, start + span)``."""
    rng = np.random.default_rng(seed)
    start = start.astimezone(timezone.utc)
    offsets = np.sort(rng.uniform(0, span.total_seconds(), n_executions))
    agent_idx = rng.integers(0, len(AGENTS), n_executions)
    exec_ok = rng.random(n_executions) > 0.05
    trace_ids = [f"{int(x):024x}{i:08x}" for i, x in enumerate(rng.integers(0, 2**62, n_executions, dtype=np.int64))]
    out: dict[str, list[dict]] = {"spans": [], "agent_executions": [], "llm_calls": [], "tool_calls": []}
    span_counter = 0

    def next_span_id() -> str:
        nonlocal span_counter
        span_counter += 1
        return f"{span_counter:016x}"

    for i in range(n_executions):
        agent, service = AGENTS[agent_idx[i]]
        t0 = start + timedelta(seconds=float(offsets[i]))
        trace_id = trace_ids[i]
        root = next_span_id()
        exec_id = f"{trace_id}-{root}"
        cursor = t0 + timedelta(milliseconds=1)
        tokens_in = tokens_out = 0
        cost = 0.0
        for _ in range(llm_per_exec):
            provider, model = MODELS[rng.integers(0, len(MODELS))]
            duration = float(rng.lognormal(6.0, 0.6))
            tin, tout = int(rng.integers(50, 2000)), int(rng.integers(10, 800))
            ok = bool(rng.random() > 0.03)
            c = (tin + 3 * tout) * PRICE[model]
            sid = next_span_id()
            end = cursor + timedelta(milliseconds=duration)
            out["spans"].append(span_row(trace_id, sid, root, f"chat {model}", "llm", service, cursor, end, ok, agent, exec_id))
            out["llm_calls"].append({
                "trace_id": trace_id, "span_id": sid, "execution_id": exec_id, "provider": provider,
                "request_model": model, "response_model": model, "operation": "chat", "input_tokens": tin,
                "output_tokens": tout, "total_tokens": tin + tout, "cached_input_tokens": 0, "cost_usd": c,
                "duration_ms": duration, "time_to_first_token_ms": None, "finish_reason": "stop",
                "error_type": None if ok else "RateLimitError", "streaming": False, "start_time": cursor,
                "service_name": service, "agent_name": agent, "cost_source": "computed", "success": ok,
            })
            tokens_in, tokens_out, cost = tokens_in + tin, tokens_out + tout, cost + c
            cursor = end
        for _ in range(tools_per_exec):
            tool = TOOLS[rng.integers(0, len(TOOLS))]
            duration = float(rng.lognormal(4.0, 1.0))
            ok = bool(rng.random() > (0.2 if tool == "browser" else 0.04))
            sid = next_span_id()
            end = cursor + timedelta(milliseconds=duration)
            out["spans"].append(span_row(trace_id, sid, root, f"execute_tool {tool}", "tool", service, cursor, end, ok, agent, exec_id))
            out["tool_calls"].append({
                "trace_id": trace_id, "span_id": sid, "execution_id": exec_id, "tool_name": tool,
                "tool_call_id": f"call_{sid}", "duration_ms": duration, "success": ok,
                "error_message": None if ok else "tool failed", "start_time": cursor,
                "service_name": service, "agent_name": agent,
            })
            cursor = end
        end = cursor + timedelta(milliseconds=float(rng.uniform(1, 20)))
        duration = (end - t0).total_seconds() * 1000
        ok = bool(exec_ok[i])
        out["spans"].insert(len(out["spans"]) - llm_per_exec - tools_per_exec,
                            span_row(trace_id, root, None, f"invoke_agent {agent}", "agent", service, t0, end, ok, agent, exec_id))
        out["agent_executions"].append({
            "id": exec_id, "agent_id": None, "timestamp": t0, "input": None, "output": None, "duration_ms": duration,
            "tokens_used": tokens_in + tokens_out, "success": ok, "error_message": None if ok else "agent failed",
            "trace_id": trace_id, "span_id": root, "agent_name": agent, "agent_version": "1.0",
            "service_name": service, "end_time": end, "input_tokens": tokens_in, "output_tokens": tokens_out,
            "cost_usd": cost, "llm_call_count": llm_per_exec, "tool_call_count": tools_per_exec,
            "conversation_id": None, "user_id": None, "is_agent_span": True,
        })
    return out


def span_row(trace_id, span_id, parent, name, span_type, service, start, end, ok, agent, exec_id,
             version: str = "1.0") -> dict:
    """A ``spans`` row as the writer stores it (``benchmarks/analytics.py`` builds its warehouse with it too)."""
    start_ns = int(start.timestamp()) * 10**9 + start.microsecond * 1000
    end_ns = int(end.timestamp()) * 10**9 + end.microsecond * 1000
    return {
        "trace_id": trace_id, "span_id": span_id, "parent_span_id": parent, "name": name,
        "kind": "CLIENT" if span_type != "agent" else "INTERNAL", "span_type": span_type, "service_name": service,
        "start_time": start, "end_time": end, "duration_ms": (end_ns - start_ns) / 1e6,
        "status_code": "OK" if ok else "ERROR", "status_message": None if ok else "failed",
        "attributes": {"gen_ai.agent.name": agent}, "resource_attributes": {"service.name": service}, "events": [],
        "execution_id": exec_id, "start_time_unix_nano": start_ns, "end_time_unix_nano": end_ns, "links": [],
        "scope_name": "agentotel", "scope_version": "0.1.0", "trace_state": None, "flags": 1,
        "dropped_attributes_count": 0, "dropped_events_count": 0, "dropped_links_count": 0,
        "agent_name": agent, "agent_version": version, "conversation_id": None, "user_id": None,
        "input": None, "output": None,
    }


TABLES = {"spans": Span.__table__, "agent_executions": AgentExecution.__table__,
          "llm_calls": LLMCall.__table__, "tool_calls": ToolCall.__table__}


def load(engine: Engine, data: dict[str, list[dict]], batch: int = 5000) -> None:
    """Insert generated rows with SQLAlchemy Core (executemany)."""
    with engine.begin() as conn:
        for name in ("agent_executions", "spans", "llm_calls", "tool_calls"):
            rows = data.get(name, [])
            for i in range(0, len(rows), batch):
                conn.execute(insert(TABLES[name]), rows[i : i + batch])


def seed(engine: Engine, n_executions: int, start: datetime, span: timedelta, seed: int = 0) -> dict[str, list[dict]]:
    data = generate(n_executions, start, span, seed)
    load(engine, data)
    return data


def upgrade_to_just_before(engine: Engine, revision: str) -> None:
    """Every branch at its head, except that the branch of ``revision`` stops just before it (a migration
    test's starting point)."""
    script = ScriptDirectory.from_config(alembic_config())
    upgrade(engine, script.get_revision(revision).down_revision)
    for head in script.get_heads():
        if revision not in {rev.revision for rev in script.iterate_revisions(head, "base")}:
            upgrade(engine, head)
    assert revision not in current_revisions(engine)
