"""Cost: known answers for model lookups, cached and cache-write pricing, and the user's override file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentotel.processors.cost import SHIPPED_PRICING, Cost, candidate_names, load_pricing
from agentotel.processors.records import SpanBatch, SpanRecord


def llm(model: str | None, input_tokens: int | None, output_tokens: int | None, **extra) -> dict:
    row = {
        "provider": None,
        "request_model": model,
        "response_model": extra.pop("response_model", None),
        "operation": "chat",
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": None,
        "cached_input_tokens": extra.pop("cached", None),
        "cost_usd": extra.pop("cost_usd", None),
        "cost_source": extra.pop("cost_source", None),
        "time_to_first_token_ms": None,
        "finish_reason": None,
        "error_type": None,
        "streaming": None,
        "success": True,
    }
    assert not extra
    return row


def record(row: dict | None, attributes: dict | None = None) -> SpanRecord:
    return SpanRecord(
        trace_id="1" * 32,
        span_id="2" * 16,
        parent_span_id=None,
        name="chat",
        kind="CLIENT",
        start_ns=0,
        end_ns=1,
        status_code="UNSET",
        status_message=None,
        attributes=attributes or {},
        resource_attributes={},
        events=[],
        links=[],
        span_type="llm" if row else "other",
        llm=row,
    )


@pytest.fixture(scope="module")
def cost() -> Cost:
    return Cost()


@pytest.mark.parametrize(
    ("model", "input_tokens", "output_tokens", "usd"),
    [
        ("gpt-4o", 1000, 500, 0.0075),  # 1000 x 2.50 + 500 x 10.00 per 1M
        ("gpt-4o-2024-08-06", 1000, 500, 0.0075),  # date suffix
        ("gpt-4o-2024-05-13", 1000, 1000, 0.02),  # an exact entry beats the stripped name
        ("openai/gpt-4o-mini", 1_000_000, 0, 0.15),  # router prefix
        ("gpt-4-0613", 1000, 1000, 0.09),  # MMDD suffix
        ("claude-3-5-sonnet-20241022", 2000, 1000, 0.021),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", 2000, 1000, 0.021),  # Bedrock id
        ("claude-3-5-sonnet-v2@20241022", 2000, 1000, 0.021),  # Vertex id
        ("models/gemini-2.0-flash-001", 1_000_000, 1_000_000, 0.5),
        ("mistral-large-latest", 1_000_000, 0, 2.0),
        ("command-r-plus-08-2024", 0, 1_000_000, 10.0),
        ("groq/llama-3.3-70b-versatile", 1_000_000, 1_000_000, 1.38),
        ("text-embedding-3-small", 1_000_000, None, 0.02),
        ("DeepSeek-Chat", 1_000_000, 1_000_000, 0.7),
    ],
)
def test_known_answers(cost: Cost, model: str, input_tokens, output_tokens, usd: float) -> None:
    row = llm(model, input_tokens, output_tokens)
    cost.process(SpanBatch(spans=[record(row)]))
    assert row["cost_usd"] == pytest.approx(usd)
    assert row["cost_source"] == "computed"


def test_response_model_is_priced_before_request_model(cost: Cost) -> None:
    row = llm("gpt-4o", 1_000_000, 0, response_model="gpt-4o-mini-2024-07-18")
    assert cost.cost_of(row, {}) == pytest.approx(0.15)
    unknown_response = llm("gpt-4o", 1_000_000, 0, response_model="my-azure-deployment")
    assert cost.cost_of(unknown_response, {}) == pytest.approx(2.5)


def test_cached_tokens_priced_at_cached_rate(cost: Cost) -> None:
    row = llm("gpt-4o", 1000, 0, cached=400)  # 600 x 2.50 + 400 x 1.25
    assert cost.cost_of(row, {}) == pytest.approx(0.002)
    no_cached_rate = llm("gpt-4", 1000, 0, cached=400)  # gpt-4 has no cached rate: all at input rate
    assert cost.cost_of(no_cached_rate, {}) == pytest.approx(0.03)


def test_cache_writes_priced_when_the_table_has_a_rate(cost: Cost) -> None:
    attributes = {"gen_ai.usage.input_tokens": 1167, "gen_ai.usage.cache_creation.input_tokens": 1163}
    row = llm("claude-3-5-sonnet-20240620", 1167, 187, cached=0)
    # 4 x 3.00 + 1163 x 3.75 + 187 x 15.00
    assert cost.cost_of(row, attributes) == pytest.approx(0.00717825)
    gpt = llm("gpt-4o", 1163, 0)  # no cache_write rate: writes are plain input
    assert cost.cost_of(gpt, {"gen_ai.usage.cache_creation.input_tokens": 1163}) == pytest.approx(0.0029075)


def test_no_usage_unknown_model_or_reported_cost_leave_the_row_alone(cost: Cost) -> None:
    no_usage = llm("gpt-4o", None, None)
    unknown = llm("my-finetune", 10, 10)
    reported = llm("gpt-4o", 1000, 1000, cost_usd=0.5, cost_source="reported")
    batch = SpanBatch(spans=[record(no_usage), record(unknown), record(reported), record(None)])
    cost.process(batch)
    assert (no_usage["cost_usd"], no_usage["cost_source"]) == (None, None)
    assert (unknown["cost_usd"], unknown["cost_source"]) == (None, None)
    assert (reported["cost_usd"], reported["cost_source"]) == (0.5, "reported")


def test_candidate_names() -> None:
    assert candidate_names("OpenAI/GPT-4o-2024-08-06") == [
        "openai/gpt-4o-2024-08-06",
        "openai/gpt-4o",
        "gpt-4o-2024-08-06",
        "gpt-4o",
    ]
    assert "gemini-2.5-flash" in candidate_names("gemini-2.5-flash-preview-05-20")


def test_shipped_table_is_documented_and_sane() -> None:
    data = json.loads(SHIPPED_PRICING.read_text(encoding="utf-8"))
    assert data["source"] and data["as_of"]
    table = load_pricing()
    assert len(table) >= 60
    for name, price in table.items():
        assert 0 <= price.input <= 200 and 0 <= price.output <= 700, name
        if price.cached_input is not None:
            assert price.cached_input <= price.input, name
    for vendor_model in ("gpt-4o", "claude-sonnet-4", "gemini-2.5-pro", "mistral-large", "command-r",
                         "deepseek-chat", "llama-3.3-70b-versatile", "grok-3", "text-embedding-3-large"):  # fmt: skip
        assert vendor_model in table


def test_override_file_json_merges_over_the_shipped_table(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {"models": {"gpt-4o": {"input": 1.0}, "my-model": {"input": 1, "output": 2, "reasoning": 4}}}
        )
    )
    cost = Cost(pricing_file=path)
    assert cost.cost_of(llm("gpt-4o", 1_000_000, 1_000_000), {}) == pytest.approx(11.0)  # output kept at 10
    reasoning = {"gen_ai.usage.reasoning.output_tokens": 250_000}
    assert cost.cost_of(llm("my-model", 0, 1_000_000), reasoning) == pytest.approx(2.5)  # 0.75 x 2 + 0.25 x 4


def test_override_file_yaml(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text("my-local-llama:\n  input: 0\n  output: 0.5\n")
    assert Cost(pricing_file=path).cost_of(llm("my-local-llama", 10, 1_000_000), {}) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        ("{not json", ".json", "not valid"),
        ('{"models": {"x": {"input": -1, "output": 1}}}', ".json", "non-negative"),
        ('{"models": {"x": {"input": 1, "outptu": 1}}}', ".json", "unknown field"),
        ('{"models": {"brand-new": {"input": 1}}}', ".json", "both 'input' and 'output'"),
        ("[1, 2]", ".yaml", "mapping"),
    ],
)
def test_bad_override_file_is_a_clear_error(tmp_path: Path, content: str, suffix: str, message: str) -> None:
    path = tmp_path / f"prices{suffix}"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        Cost(pricing_file=path)


def test_missing_override_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        Cost(pricing_file=tmp_path / "absent.json")
