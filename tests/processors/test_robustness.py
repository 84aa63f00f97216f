"""Normalize + Cost + Redact never raise on odd attribute values: every key they read, every JSON type."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentotel.processors.cost import Cost
from agentotel.processors.normalize import Normalize, core
from agentotel.processors.normalize.classify import MODEL_KEYS
from agentotel.processors.records import SpanBatch, SpanRecord
from agentotel.processors.redact import CONTENT_KEYS, Redact

KEYS = sorted(
    set(core.PROVIDER_KEYS + core.REQUEST_MODEL_KEYS + core.RESPONSE_MODEL_KEYS + core.FINISH_REASON_KEYS)
    | set(core.STREAMING_KEYS + core.ERROR_TYPE_KEYS + core.REPORTED_COST_KEYS + core.TTFT_SECONDS_KEYS)
    | set(core.TTFT_MS_KEYS + core.CONVERSATION_KEYS + core.USER_KEYS + core.AGENT_NAME_KEYS)
    | set(core.TOOL_NAME_KEYS + core.TOOL_CALL_ID_KEYS + MODEL_KEYS)
    | set(core.CONTENT_KEYS)
    | set(CONTENT_KEYS)
    | {key for source in core.USAGE_SOURCES if hasattr(source, "input") for key in source.input + source.output}
    | {
        "gen_ai.operation.name", "openinference.span.kind", "traceloop.span.kind", "langfuse.observation.type",
        "llm.request.type", "langfuse.observation.usage_details", "langfuse.observation.cost_details",
        "langfuse.observation.completion_start_time", "langfuse.observation.level", "traceloop.entity.name",
        "llm.input_messages.1.message.contents.0.message_content.text", "gen_ai.prompt.3.content",
        "server.address", "ai.operationId", "gen_ai.agent.version", "mcp.method.name",
    }
)  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        ["chat", "LLM", "nan", "-1", "1e400", "[", '{"input": "x"}', '"2024-13-99T99:99Z"', "ERROR"]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
events = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["gen_ai.choice", "gen_ai.user.message", "exception", "gen_ai.content.prompt",
                                  "gen_ai.client.inference.operation.details", "x"]),
         "attributes": st.dictionaries(st.sampled_from(["content", "message", "finish_reason", "gen_ai.prompt",
                                                        "gen_ai.input.messages", "exception.type", "role"]), values, max_size=3)}
    ),
    max_size=3,
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    attributes=st.dictionaries(st.sampled_from(KEYS), values, max_size=12),
    span_events=events,
    name=st.text(max_size=30),
    status=st.sampled_from(["UNSET", "OK", "ERROR"]),
)
@pytest.mark.slow
def test_pipeline_steps_never_raise(attributes: dict, span_events: list, name: str, status: str) -> None:
    record = SpanRecord(
        trace_id="a" * 32,
        span_id="b" * 16,
        parent_span_id=None,
        name=name,
        kind="INTERNAL",
        start_ns=1,
        end_ns=2,
        status_code=status,
        status_message=None,
        attributes=attributes,
        resource_attributes={"service.version": 3},
        events=[dict(event, time_unix_nano=0, dropped_attributes_count=0) for event in span_events],
        links=[],
    )
    batch = SpanBatch(spans=[record])
    Redact().process(Cost().process(Normalize().process(batch)))
    assert record.span_type in ("agent", "llm", "tool", "chain", "retriever", "embedding", "other")
    if record.llm is not None:
        for key in ("input_tokens", "output_tokens", "total_tokens", "cached_input_tokens"):
            assert record.llm[key] is None or (isinstance(record.llm[key], int) and record.llm[key] >= 0)
        cost = record.llm["cost_usd"]
        assert cost is None or (math.isfinite(cost) and cost >= 0)
    for text in (record.input, record.output):
        assert text is None or isinstance(text, str)
