"""The Prometheus view: agent metrics from committed span batches, receiver health, bounded labels."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentotel.otlp_receiver.prometheus_view import OTHER, LabelLimiter, ReceiverMetrics
from agentotel.processors.records import SpanBatch, SpanRecord

SECOND = 1_000_000_000


def make_span(span_id: str, span_type: str, duration_s: float, status: str = "UNSET", **fields) -> SpanRecord:
    span = SpanRecord(
        trace_id="ab" * 16, span_id=span_id, parent_span_id=None, name=span_type, kind="INTERNAL",
        start_ns=10 * SECOND, end_ns=10 * SECOND + int(duration_s * SECOND), status_code=status, status_message=None,
        attributes={}, resource_attributes={}, events=[], links=[], span_type=span_type,
    )  # fmt: skip
    for key, value in fields.items():
        setattr(span, key, value)
    return span


def llm(span_id, model, input_tokens, output_tokens, cost, agent="planner", provider="openai", duration=0.5, **kw):
    return make_span(
        span_id, "llm", duration, agent_name=agent,
        llm={"provider": provider, "request_model": model, "response_model": None, "input_tokens": input_tokens,
             "output_tokens": output_tokens, "cost_usd": cost, "success": True}, **kw,
    )  # fmt: skip


def known_batch() -> SpanBatch:
    """Two planner runs (one failed), three LLM calls, two tool calls (one failed)."""
    return SpanBatch(
        spans=[
            make_span("a1", "agent", 2.0, agent_name="planner"),
            make_span("a2", "agent", 4.0, status="ERROR", agent_name="planner"),
            llm("l1", "gpt-4o", 100, 20, 0.01),
            llm("l2", "gpt-4o", 150, 30, 0.02),
            llm("l3", "claude-3-5-sonnet", 10, 5, None, provider="anthropic", agent=None),
            make_span("t1", "tool", 0.1, agent_name="planner", tool={"tool_name": "search", "success": True}),
            make_span("t2", "tool", 0.1, status="ERROR", tool={"tool_name": "search", "success": False}),
        ]
    )


def samples(metrics: ReceiverMetrics) -> dict[tuple, float]:
    from prometheus_client import generate_latest

    out = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(s: dict, name: str, **labels) -> float:
    return s[(name, tuple(sorted(labels.items())))]


def test_observe_spans_counts_tokens_cost_executions_and_tools():
    metrics = ReceiverMetrics()
    metrics.observe_spans(known_batch())
    s = samples(metrics)
    tokens = "agentotel_llm_tokens_total"
    assert value(s, tokens, provider="openai", model="gpt-4o", agent="planner", type="input") == 250
    assert value(s, tokens, provider="openai", model="gpt-4o", agent="planner", type="output") == 50
    assert value(s, tokens, provider="anthropic", model="claude-3-5-sonnet", agent=OTHER, type="input") == 10
    assert value(s, "agentotel_llm_cost_usd_total", provider="openai", model="gpt-4o", agent="planner") == pytest.approx(0.03)
    assert ("agentotel_llm_cost_usd_total", (("agent", OTHER), ("model", "claude-3-5-sonnet"), ("provider", "anthropic"))) not in s
    duration = "agentotel_llm_request_duration_seconds"
    assert value(s, f"{duration}_count", provider="openai", model="gpt-4o", agent="planner") == 2
    assert value(s, f"{duration}_sum", provider="openai", model="gpt-4o", agent="planner") == pytest.approx(1.0)
    assert value(s, f"{duration}_bucket", provider="openai", model="gpt-4o", agent="planner", le="0.32") == 0
    assert value(s, f"{duration}_bucket", provider="openai", model="gpt-4o", agent="planner", le="0.64") == 2
    assert value(s, "agentotel_agent_executions_total", agent="planner", status="success") == 1
    assert value(s, "agentotel_agent_executions_total", agent="planner", status="error") == 1
    assert value(s, "agentotel_agent_execution_duration_seconds_sum", agent="planner") == pytest.approx(6.0)
    assert value(s, "agentotel_tool_calls_total", tool="search", status="success") == 1
    assert value(s, "agentotel_tool_calls_total", tool="search", status="error") == 1


def test_receiver_health_interface():
    metrics = ReceiverMetrics()
    metrics.received("traces", 10)
    metrics.rejected("traces", 2, "invalid span id")
    metrics.observe_write("traces", 8, 0.004)
    metrics.export_error("metrics", "unauthenticated")
    metrics.set_spool(4096, 1.5, records=3)
    s = samples(metrics)
    assert value(s, "agentotel_receiver_received_total", signal="traces") == 10
    assert value(s, "agentotel_receiver_received_total", signal="logs") == 0  # exported from the start
    assert value(s, "agentotel_receiver_rejected_total", signal="traces", reason="invalid span id") == 2
    assert value(s, "agentotel_receiver_written_total", signal="traces") == 8
    assert value(s, "agentotel_receiver_batch_write_duration_seconds_count", signal="traces") == 1
    assert value(s, "agentotel_receiver_batch_write_duration_seconds_bucket", signal="traces", le="0.005") == 1
    assert value(s, "agentotel_receiver_export_errors_total", signal="metrics", reason="unauthenticated") == 1
    assert value(s, "agentotel_receiver_spool_bytes") == 4096
    assert value(s, "agentotel_receiver_spool_records") == 3
    assert value(s, "agentotel_receiver_drain_lag_seconds") == 1.5


def test_label_values_are_capped_per_label_with_an_overflow_bucket():
    metrics = ReceiverMetrics(max_label_values=3)
    spans = [llm(f"{i:02x}", f"model-{i}", 1, 1, None, agent=f"agent-{i}") for i in range(10)]
    spans += [make_span("t", "tool", 0.1, tool={"tool_name": "", "success": True})]
    metrics.observe_spans(SpanBatch(spans=spans))
    metrics.observe_spans(SpanBatch(spans=[llm("ff", "model-0", 5, 0, None, agent="agent-0")]))  # a known value stays
    s = samples(metrics)
    token_series = {labels for name, labels in s if name == "agentotel_llm_tokens_total"}
    models = {dict(labels)["model"] for labels in token_series}
    agents = {dict(labels)["agent"] for labels in token_series}
    assert models == {"model-0", "model-1", "model-2", OTHER}
    assert agents == {"agent-0", "agent-1", "agent-2", OTHER}
    assert value(s, "agentotel_llm_tokens_total", provider="openai", model=OTHER, agent=OTHER, type="input") == 7
    assert value(s, "agentotel_llm_tokens_total", provider="openai", model="model-0", agent="agent-0", type="input") == 6
    assert value(s, "agentotel_tool_calls_total", tool=OTHER, status="success") == 1


def test_label_limiter_edge_values():
    limiter = LabelLimiter(cap=2)
    assert [limiter("x", v) for v in (None, "", "  ", True)] == [OTHER] * 4
    assert limiter("x", "a" * 500) == "a" * 128
    assert limiter("x", "b") == "b"
    assert limiter("x", "c") == OTHER
    assert limiter("y", "c") == "c"  # each label name has its own budget
    with pytest.raises(ValueError):
        LabelLimiter(cap=0)


def test_serve_binds_loopback_and_stops():
    metrics = ReceiverMetrics()
    metrics.observe_spans(known_batch())
    server = metrics.serve("127.0.0.1", 0)
    try:
        assert server.host == "127.0.0.1" and server.port > 0
        body = httpx.get(server.url, timeout=5).text
        assert 'agentotel_agent_executions_total{agent="planner",status="error"} 1.0' in body
    finally:
        server.close()
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url, timeout=1)
