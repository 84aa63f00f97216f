"""Normalize: the semconv.md rules and pitfalls that the corpus does not pin down on its own."""

from __future__ import annotations

import json

import pytest

from agentotel.processors.normalize import Normalize, classify
from agentotel.processors.normalize.providers import canonical_provider
from agentotel.processors.records import SpanBatch, SpanRecord


def span(
    attributes: dict | None = None,
    name: str = "span",
    *,
    span_id: str = "00000000000000a1",
    parent: str | None = None,
    status: str = "UNSET",
    events: list | None = None,
    resource: dict | None = None,
    scope: str | None = None,
    status_message: str | None = None,
) -> SpanRecord:
    return SpanRecord(
        trace_id="0" * 31 + "1",
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind="INTERNAL",
        start_ns=1_700_000_000_000_000_000,
        end_ns=1_700_000_001_000_000_000,
        status_code=status,
        status_message=status_message,
        attributes=dict(attributes or {}),
        resource_attributes=dict(resource or {}),
        events=[
            {"name": e[0], "time_unix_nano": 0, "attributes": e[1], "dropped_attributes_count": 0}
            for e in events or []
        ],
        links=[],
        scope_name=scope,
    )


def normalized(*records: SpanRecord) -> list[SpanRecord]:
    Normalize().process(SpanBatch(spans=list(records)))
    return list(records)


CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}


@pytest.mark.parametrize(
    ("attributes", "name", "scope", "expected"),
    [
        ({"traceloop.span.kind": "task", "gen_ai.operation.name": "execute_tool"}, "x", None, "tool"),
        ({"traceloop.span.kind": "task", "llm.request.type": "embedding"}, "x", None, "embedding"),
        ({"traceloop.span.kind": "workflow", "gen_ai.operation.name": "invoke_agent"}, "x", None, "chain"),
        ({"traceloop.span.kind": "agent"}, "x", None, "agent"),
        ({"openinference.span.kind": "UNKNOWN", "gen_ai.operation.name": "chat"}, "x", None, "llm"),
        ({"openinference.span.kind": "RERANKER"}, "x", None, "retriever"),
        ({"openinference.span.kind": "prompt"}, "x", None, "chain"),
        ({"langfuse.observation.type": "span", "gen_ai.operation.name": "chat"}, "x", None, "llm"),
        ({"langfuse.observation.type": "guardrail"}, "x", None, "other"),
        ({"gen_ai.operation.name": "create_agent"}, "x", None, "agent"),
        ({"gen_ai.operation.name": "search_memory"}, "x", None, "other"),
        ({"gen_ai.operation.name": "retrieval"}, "x", None, "retriever"),
        ({"gen_ai.operation.name": "model_request"}, "x", None, "llm"),
        ({"llm.request.type": "rerank"}, "x", None, "retriever"),
        ({"mcp.method.name": "tools/call"}, "x", None, "tool"),
        ({"gen_ai.agent.name": "planner"}, "x", None, "other"),  # never by the (inherited) agent name
        ({}, "my_tool.tool", None, "tool"),
        ({}, "Agent.agent", None, "agent"),
        ({}, "invoke_agent", None, "agent"),
        ({}, "run", "agentotel.instrumentation.langchain", "chain"),
        ({"gen_ai.operation.name": "weird"}, "run", "agentotel.instrumentation.langchain", "other"),
        ({}, "run", None, "other"),
    ],
)
def test_classification_rules(attributes: dict, name: str, scope: str | None, expected: str) -> None:
    assert classify(attributes, name, scope) == expected


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("OpenAI", "openai"),
        ("azure", "azure.ai.openai"),
        ("az.ai.openai", "azure.ai.openai"),
        ("az.ai.inference", "azure.ai.inference"),
        ("AWS", "aws.bedrock"),
        ("amazon", "aws.bedrock"),
        ("google", "gcp.vertex_ai"),
        ("vertexai", "gcp.vertex_ai"),
        ("vertex_ai", "gcp.vertex_ai"),
        ("gemini", "gcp.gemini"),
        ("xai", "x_ai"),
        ("mistralai", "mistral_ai"),
        ("watsonx", "ibm.watsonx.ai"),
        ("ibm.watson.ai", "ibm.watsonx.ai"),
        ("openai.responses", "openai"),
        ("anthropic.messages", "anthropic"),
        ("google.generative-ai", "gcp.gemini"),
        ("google.vertex.chat", "gcp.vertex_ai"),
        ("mistral.chat", "mistral_ai"),
        ("ollama", "ollama"),
        ("langchain", None),
        ("Langchain", None),
        ("langgraph", None),
        ("crewai", None),
        ("gcp.vertex.agent", None),
    ],
)
def test_provider_aliases_and_frameworks(raw: str, canonical: str | None) -> None:
    assert canonical_provider(raw) == canonical


def test_framework_provider_falls_back_to_server_address_then_model() -> None:
    by_address, by_model = normalized(
        span({**CHAT, "gen_ai.system": "langchain", "server.address": "api.anthropic.com"}, span_id="a1"),
        span({**CHAT, "gen_ai.provider.name": "crewai"}, span_id="a2"),
    )
    assert by_address.llm["provider"] == "anthropic"
    assert by_model.llm["provider"] == "openai"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120), (" 7 ", 7), (12.0, 12), ("-5", None), (-5, None), ("nan", None), ("NaN", None),
     (float("nan"), None), ("inf", None), ("12.5", None), ("abc", None), (True, None)],
)  # fmt: skip
def test_token_counts_are_coerced_and_invalid_ones_rejected(value, expected) -> None:
    (record,) = normalized(
        span({**CHAT, "gen_ai.usage.input_tokens": value, "gen_ai.usage.output_tokens": 3})
    )
    assert record.llm["input_tokens"] == expected
    assert record.llm["output_tokens"] == 3


def test_counts_come_from_one_dialect_never_summed() -> None:
    (record,) = normalized(
        span(
            {
                **CHAT,
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 5,
                "llm.token_count.prompt": 99,
                "llm.token_count.completion": 98,
                "llm.token_count.total": 197,
            }
        )
    )
    assert (record.llm["input_tokens"], record.llm["output_tokens"], record.llm["total_tokens"]) == (
        10,
        5,
        15,
    )


def test_raw_anthropic_input_gets_the_cache_added_but_inclusive_input_does_not() -> None:
    raw, inclusive = normalized(
        span(
            {**CHAT, "gen_ai.usage.input_tokens": 4, "gen_ai.usage.output_tokens": 1,
             "gen_ai.usage.cache_read.input_tokens": 100, "gen_ai.usage.cache_creation.input_tokens": 1163},
            span_id="b1",
        ),
        span(
            {**CHAT, "gen_ai.usage.input_tokens": 1267, "gen_ai.usage.output_tokens": 1,
             "gen_ai.usage.cache_read.input_tokens": 100, "gen_ai.usage.cache_creation.input_tokens": 1163},
            span_id="b2",
        ),
    )  # fmt: skip
    assert raw.llm["input_tokens"] == 1267
    assert inclusive.llm["input_tokens"] == 1267
    assert raw.llm["cached_input_tokens"] == 100


def test_langfuse_native_usage_is_made_inclusive_and_ttft_and_level_read() -> None:
    (record,) = normalized(
        span(
            {
                "langfuse.observation.type": "generation",
                "langfuse.observation.model.name": "claude-3-5-haiku-20241022",
                "langfuse.observation.usage_details": json.dumps(
                    {"input": 10, "output": 20, "input_cache_read": 30, "output_reasoning": 5, "total": 65}
                ),
                "langfuse.observation.completion_start_time": '"2023-11-14T22:13:20.250000Z"',
                "langfuse.observation.level": "ERROR",
                "langfuse.observation.status_message": '"rate limited"',
            }
        )
    )
    llm = record.llm
    assert (llm["input_tokens"], llm["output_tokens"], llm["cached_input_tokens"], llm["total_tokens"]) == (
        40,
        25,
        30,
        65,
    )
    assert llm["time_to_first_token_ms"] == pytest.approx(250.0)
    assert llm["success"] is False and llm["error_type"] == "_OTHER"
    assert llm["request_model"] == llm["response_model"] == "claude-3-5-haiku-20241022"


def test_reported_cost_wins_and_is_marked_reported() -> None:
    oi, openlit = normalized(
        span(
            {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.cost.total": "0.5"},
            span_id="c1",
        ),
        span({**CHAT, "gen_ai.usage.cost": 0.25, "gen_ai.usage.input_tokens": 10}, span_id="c2"),
    )
    assert (oi.llm["cost_usd"], oi.llm["cost_source"]) == (0.5, "reported")
    assert (openlit.llm["cost_usd"], openlit.llm["cost_source"]) == (0.25, "reported")


def test_llm_fields_ttft_streaming_finish_reason_errors() -> None:
    otel, failed, oi = normalized(
        span(
            {**CHAT, "gen_ai.response.time_to_first_chunk": 0.125, "gen_ai.request.stream": True,
             "gen_ai.response.finish_reasons": ["length", "stop"]},
            span_id="d1",
        ),
        span(CHAT, span_id="d2", status="ERROR",
             events=[("exception", {"exception.type": "openai.RateLimitError", "exception.message": "slow"})]),
        span({"openinference.span.kind": "LLM", "llm.invocation_parameters": '{"stream": true}'}, span_id="d3"),
    )  # fmt: skip
    assert otel.llm["time_to_first_token_ms"] == 125.0
    assert otel.llm["streaming"] is True
    assert otel.llm["finish_reason"] == "length"
    assert otel.llm["success"] is True and otel.llm["error_type"] is None
    assert failed.llm["success"] is False
    assert failed.llm["error_type"] == "openai.RateLimitError"
    assert oi.llm["streaming"] is True
    assert oi.llm["operation"] == "llm"


def test_wrapper_model_span_above_a_model_span_gets_no_row_whatever_the_order() -> None:
    child = span({**CHAT, "gen_ai.usage.input_tokens": 5}, span_id="e2", parent="e1")
    wrapper = span({**CHAT, "gen_ai.system": "langchain", "gen_ai.usage.input_tokens": 50}, span_id="e1")
    normalized(child, wrapper)  # child first
    assert wrapper.span_type == "llm" and wrapper.llm is None
    assert child.llm is not None and child.llm["input_tokens"] == 5


def test_tool_fields() -> None:
    ok, failed, named = normalized(
        span({"gen_ai.operation.name": "execute_tool", "tool_call.id": "c-9"}, "execute_tool lookup", span_id="f1"),
        span({"openinference.span.kind": "TOOL", "tool.name": "search"}, span_id="f2", status="ERROR",
             events=[("exception", {"exception.message": "timeout after 5s"})]),
        span({"traceloop.span.kind": "tool", "traceloop.entity.name": "calculator"}, "calculator.tool", span_id="f3"),
    )  # fmt: skip
    assert ok.tool == {"tool_name": "lookup", "tool_call_id": "c-9", "success": True, "error_message": None}
    assert failed.tool["success"] is False and failed.tool["error_message"] == "timeout after 5s"
    assert named.tool["tool_name"] == "calculator"
    assert ok.llm is None


def test_agent_identity_and_context() -> None:
    agent, child = normalized(
        span(
            {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
             "session.id": "s-1", "langfuse.user.id": "u-1"},
            "invoke_agent planner",
            span_id="g1",
            resource={"service.version": "2.3.0"},
        ),
        span({**CHAT, "gen_ai.agent.name": "planner", "gen_ai.conversation.id": "conv-7"}, span_id="g2",
             parent="g1", resource={"service.version": "2.3.0"}),
    )  # fmt: skip
    assert (agent.agent_name, agent.agent_version) == ("planner", "2.3.0")
    assert (agent.conversation_id, agent.user_id) == ("s-1", "u-1")
    assert child.agent_name is None  # inherited gen_ai.agent.name is not identity
    assert child.conversation_id == "conv-7"
    (versioned,) = normalized(
        span({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.version": "7"}, "invoke_agent writer",
             resource={"service.version": "1"})
    )  # fmt: skip
    assert (versioned.agent_name, versioned.agent_version) == ("writer", "7")


@pytest.mark.parametrize(
    ("attributes", "events", "expected_in", "expected_out"),
    [
        (
            {"gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]},
            [],
            [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}],
            None,
        ),
        (
            {},
            [("gen_ai.user.message", {"content": "hello"}), ("gen_ai.choice", {"index": 0, "message": '{"content": "yo"}'})],
            [{"role": "user", "content": "hello"}],
            [{"index": 0, "message": {"content": "yo"}}],
        ),
        ({}, [("gen_ai.content.prompt", {"gen_ai.prompt": "p"}), ("gen_ai.content.completion", {"gen_ai.completion": "c"})], "p", "c"),
        (
            {"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "q", "gen_ai.completion.0.content": "a"},
            [],
            [{"role": "user", "content": "q"}],
            [{"content": "a"}],
        ),
        ({"input.value": "plain question", "output.value": '{"a": 1}'}, [], "plain question", '{"a": 1}'),
        ({"traceloop.entity.input": '{"x": 1}', "traceloop.entity.output": '{"y": 2}'}, [], '{"x": 1}', '{"y": 2}'),
        ({"langfuse.observation.input": "in", "langfuse.observation.output": "out"}, [], "in", "out"),
        ({"gen_ai.tool.call.arguments": {"city": "Paris"}, "gen_ai.tool.call.result": "sunny"}, [], {"city": "Paris"}, "sunny"),
        ({"gen_ai.input.messages_ref": "s3://bucket/in.json"}, [], "s3://bucket/in.json", None),
        ({"llm.prompts": ["Say this is a test"]}, [], ["Say this is a test"], None),
    ],
)  # fmt: skip
def test_content_carriers(attributes: dict, events: list, expected_in, expected_out) -> None:
    (record,) = normalized(span({**CHAT, **attributes}, events=events))

    def as_value(text: str | None):
        if text is None or not isinstance(
            expected_in if text is record.input else expected_out, (list, dict)
        ):
            return text
        return json.loads(text)

    assert as_value(record.input) == expected_in
    assert as_value(record.output) == expected_out
    for key in attributes:  # content stays in the attributes too
        assert key in record.attributes


def test_spans_without_genai_keys_are_untouched_other() -> None:
    (record,) = normalized(span({"http.method": "GET"}, "GET /health"))
    assert (record.span_type, record.llm, record.tool, record.input, record.output) == (
        "other",
        None,
        None,
        None,
        None,
    )


def test_workflow_name() -> None:
    from agentotel.processors.normalize import workflow_name_of

    assert workflow_name_of({"traceloop.workflow.name": "wf", "langfuse.trace.name": "t"}) == "wf"
    assert workflow_name_of({"gen_ai.workflow.name": "main", "traceloop.workflow.name": "wf"}) == "main"
    assert workflow_name_of({}) is None


def test_parent_id_cycles_and_self_parents_do_not_drop_rows() -> None:
    own_parent = span({**CHAT, "gen_ai.usage.input_tokens": 1}, span_id="h1", parent="h1")
    a = span({**CHAT, "gen_ai.usage.input_tokens": 2}, span_id="h2", parent="h3")
    b = span({"gen_ai.operation.name": "invoke_agent"}, span_id="h3", parent="h2")
    normalized(own_parent, a, b)
    assert own_parent.llm is not None and a.llm is not None
