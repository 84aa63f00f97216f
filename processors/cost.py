"""The cost step: ``cost_usd`` of each model call from a pricing table, unless the span reported one.

Prices are USD per 1M tokens (``pricing.json`` beside this module). A user file (JSON or YAML, the same
``{"models": {name: {input, output, cached_input, cache_write, reasoning}}}`` shape, or the bare
``models`` mapping) is merged over it field by field.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from agentotel.core import semconv as sc
from agentotel.processors.normalize.core import usage_of
from agentotel.processors.records import SpanBatch

SHIPPED_PRICING = Path(__file__).with_name("pricing.json")
RATE_FIELDS = ("input", "output", "cached_input", "cache_write", "reasoning")
REASONING_KEYS = (
    sc.USAGE_REASONING,
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
)
# one trailing version/date decoration, stripped repeatedly: gpt-4o-2024-08-06, claude-…-20241022,
# claude-…@20241022, command-r-08-2024, gpt-4-0613, gemini-…-001, -latest, -preview, Bedrock -v1:0
_SUFFIX = re.compile(
    r"(?:-\d{4}-\d{2}-\d{2}|-\d{8}|@\d{8}|@latest|-\d{2}-\d{4}|-\d{2}-\d{2}|-\d{4}|-\d{3}"
    r"|-latest|-preview|-beta|-exp|-v\d+(?::\d+)?|:\d+)$"
)
# Bedrock model ids: [region.]vendor.model
_BEDROCK_PREFIX = re.compile(
    r"^(?:[a-z]{2}\.)?(?:anthropic|meta|mistral|cohere|amazon|deepseek|openai|ai21)\."
)


class Price(NamedTuple):
    """Rates in USD per 1M tokens."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    reasoning: float | None = None


def _rates(name: str, entry: Any, origin: str) -> dict[str, float]:
    if not isinstance(entry, Mapping):
        raise ValueError(f"{origin}: model {name!r}: expected a mapping of rates, got {type(entry).__name__}")
    rates: dict[str, float] = {}
    for key, value in entry.items():
        if key not in RATE_FIELDS:
            raise ValueError(
                f"{origin}: model {name!r}: unknown field {key!r} (known: {', '.join(RATE_FIELDS)})"
            )
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            raise ValueError(f"{origin}: model {name!r}: {key} must be a non-negative number, got {value!r}")
        rates[key] = float(value)
    return rates


def _read_table(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"pricing file {path}: cannot read ({exc.strerror})") from exc
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # noqa: BLE001 - any parse error is the user's file
        raise ValueError(
            f"pricing file {path}: not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from exc
    if not isinstance(data, Mapping):
        raise ValueError(f"pricing file {path}: expected a mapping at the top level")
    models = (
        data.get("models", data)
        if "models" in data
        else {key: value for key, value in data.items() if key not in ("source", "as_of", "unit", "fields")}
    )
    if not isinstance(models, Mapping):
        raise ValueError(f"pricing file {path}: 'models' must be a mapping")
    return models


def load_pricing(pricing_file: str | Path | None = None) -> dict[str, Price]:
    """The shipped table with ``pricing_file`` merged over it (field by field per model)."""
    merged: dict[str, dict[str, float]] = {}
    sources = [SHIPPED_PRICING] + ([Path(pricing_file)] if pricing_file else [])
    for path in sources:
        for name, entry in _read_table(path).items():
            key = str(name).strip().lower()
            merged.setdefault(key, {}).update(_rates(str(name), entry, f"pricing file {path}"))
    table: dict[str, Price] = {}
    for name, rates in merged.items():
        if "input" not in rates or "output" not in rates:
            raise ValueError(f"pricing: model {name!r} needs both 'input' and 'output' rates")
        table[name] = Price(**rates)
    return table


def candidate_names(model: str) -> list[str]:
    """Lookup names for a model, most specific first: exact, without router prefix, without suffixes."""
    names: list[str] = []
    base = model.strip().lower()
    for name in (base, base.rsplit("/", 1)[-1], _BEDROCK_PREFIX.sub("", base.rsplit("/", 1)[-1])):
        while name and name not in names:
            names.append(name)
            stripped = _SUFFIX.sub("", name)
            if stripped == name:
                break
            name = stripped
    return names


class Cost:
    """Processor: fills ``llm['cost_usd']`` (``cost_source='computed'``) where no cost was reported."""

    def __init__(self, pricing_file: str | Path | None = None) -> None:
        self.prices = load_pricing(pricing_file)
        self._resolved: dict[str, Price | None] = {}

    def price_for(self, model: str | None) -> Price | None:
        """The price of a model name (exact, then without router prefix / date suffix), cached."""
        if not model:
            return None
        found = self._resolved.get(model, False)
        if found is not False:
            return found  # type: ignore[return-value]
        price = None
        for name in candidate_names(model):
            price = self.prices.get(name)
            if price is not None:
                break
        if len(self._resolved) < 10_000:
            self._resolved[model] = price
        return price

    def cost_of(self, llm: Mapping[str, Any], attributes: Mapping[str, Any]) -> float | None:
        """USD for one call; None without usage or without a known price."""
        input_tokens = llm.get("input_tokens")
        output_tokens = llm.get("output_tokens")
        if input_tokens is None and output_tokens is None:
            return None  # no usage reported: no silent estimate
        price = self.price_for(llm.get("response_model")) or self.price_for(llm.get("request_model"))
        if price is None:
            return None
        input_tokens = input_tokens or 0
        output_tokens = output_tokens or 0
        cached = min(llm.get("cached_input_tokens") or 0, input_tokens)
        written = 0
        if price.cache_write is not None:
            usage = usage_of(attributes)
            written = min((usage.cache_write_tokens if usage else None) or 0, input_tokens - cached)
        uncached = input_tokens - cached - written
        reasoning = 0
        if price.reasoning is not None:
            for key in REASONING_KEYS:
                value = attributes.get(key)
                if isinstance(value, (int, str)) and str(value).isdigit():
                    reasoning = min(int(value), output_tokens)
                    break
        cached_rate = price.cached_input if price.cached_input is not None else price.input
        total = (
            uncached * price.input
            + cached * cached_rate
            + written * (price.cache_write or 0.0)
            + (output_tokens - reasoning) * price.output
            + reasoning * (price.reasoning or 0.0)
        )
        return round(total / 1_000_000, 10)

    def process(self, batch: SpanBatch) -> SpanBatch:
        for record in batch.spans:
            llm = record.llm
            if llm is None or llm.get("cost_usd") is not None:
                continue
            cost = self.cost_of(llm, record.attributes)
            if cost is not None:
                llm["cost_usd"] = cost
                llm["cost_source"] = "computed"
        return batch
