"""Agent executions of one trace, computed from its whole known span tree (pure, order-independent).

Every agent span is an execution; a trace without agent spans is one execution keyed by its root span
(the span without a parent, else the earliest span whose parent is unknown). Each span belongs to its
nearest agent ancestor-or-self. ``tokens_used`` sums the leaf model calls beneath an agent: a model span
that has model spans below it (a framework wrapper repeating its children's usage) is not counted.
Because the result depends only on the set of spans, recomputing after every batch gives the same rows
whatever the arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODEL_TYPES = ("llm", "embedding")


@dataclass(slots=True)
class Node:
    span_id: str
    parent_span_id: str | None
    span_type: str
    start_ns: int
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None


@dataclass(slots=True)
class ExecutionTotals:
    span_id: str
    is_agent_span: bool
    tokens_used: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    llm_call_count: int = 0
    tool_call_count: int = 0


@dataclass(slots=True)
class TraceExecutions:
    executions: dict[str, ExecutionTotals] = field(default_factory=dict)  # key span id → totals
    owner: dict[str, str | None] = field(default_factory=dict)  # span id → key span id of its execution
    wrappers: set[str] = field(default_factory=set)  # model spans with model spans below: no llm_calls row


def _ancestors(node: Node, nodes: dict[str, Node], limit: int = 10_000):
    """Known ancestors, nearest first (cycle-safe)."""
    seen = 0
    parent = node.parent_span_id
    while parent is not None and parent in nodes and seen < limit:
        node = nodes[parent]
        yield node
        parent = node.parent_span_id
        seen += 1


def _root_key(nodes: dict[str, Node]) -> str:
    true_roots = [n for n in nodes.values() if n.parent_span_id is None]
    candidates = true_roots or [n for n in nodes.values() if n.parent_span_id not in nodes]
    if not candidates:  # a cycle of parent ids: take the earliest span
        candidates = list(nodes.values())
    return min(candidates, key=lambda n: (n.start_ns, n.span_id)).span_id


def compute_trace_executions(nodes: dict[str, Node]) -> TraceExecutions:
    """Executions and span ownership for one trace's known spans."""
    result = TraceExecutions()
    if not nodes:
        return result
    agents = [n for n in nodes.values() if n.span_type == "agent"]
    if agents:
        for agent in agents:
            result.executions[agent.span_id] = ExecutionTotals(agent.span_id, True)
        for node in nodes.values():
            if node.span_type == "agent":
                result.owner[node.span_id] = node.span_id
                continue
            result.owner[node.span_id] = next(
                (a.span_id for a in _ancestors(node, nodes) if a.span_type == "agent"), None
            )
    else:
        key = _root_key(nodes)
        result.executions[key] = ExecutionTotals(key, False)
        for node in nodes.values():
            result.owner[node.span_id] = key

    wrappers = result.wrappers
    for node in nodes.values():
        if node.span_type in MODEL_TYPES:
            for ancestor in _ancestors(node, nodes):
                if ancestor.span_type in MODEL_TYPES:
                    wrappers.add(ancestor.span_id)

    for node in nodes.values():
        if node.span_type == "tool":
            targets = _executions_above(node, nodes, result)
            for totals in targets:
                totals.tool_call_count += 1
        elif node.span_type in MODEL_TYPES and node.span_id not in wrappers:
            for totals in _executions_above(node, nodes, result):
                totals.llm_call_count += 1
                totals.input_tokens += node.input_tokens or 0
                totals.output_tokens += node.output_tokens or 0
                totals.tokens_used += _total(node)
                totals.cost_usd += node.cost_usd or 0.0
    return result


def _total(node: Node) -> int:
    if node.total_tokens is not None:
        return node.total_tokens
    return (node.input_tokens or 0) + (node.output_tokens or 0)


def _executions_above(node: Node, nodes: dict[str, Node], result: TraceExecutions) -> list[ExecutionTotals]:
    """Every execution that contains ``node``: all agent ancestors (nested agents), or the root execution."""
    executions = result.executions
    if len(executions) == 1 and not next(iter(executions.values())).is_agent_span:
        return list(executions.values())
    return [executions[a.span_id] for a in _ancestors(node, nodes) if a.span_id in executions]
