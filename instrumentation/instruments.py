"""The metric instruments every instrumentor records into (built once per meter)."""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.metrics import Meter, get_meter

from agentotel import __version__
from agentotel.instrumentation import semconv as sc

MAX_LABEL_VALUES = 100
OTHER = "other"


class BoundedLabels:
    """Keeps metric label values bounded: the first ``limit`` distinct values, then ``other``."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._seen: set[str] = set()
        self._limit = limit
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        if not value:
            return OTHER
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return OTHER


class GenAIInstruments:
    """Histograms of semconv section 1.3 plus agentotel's agent/tool counters."""

    def __init__(self, meter: Meter) -> None:
        self.token_usage = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE, unit="{token}", description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=list(sc.TOKEN_BUCKETS))
        self.duration = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION, unit="s", description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS))
        self.time_to_first_chunk = meter.create_histogram(
            sc.METRIC_TIME_TO_FIRST_CHUNK, unit="s", description="Time to the first streamed chunk",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS))
        self.time_per_output_chunk = meter.create_histogram(
            sc.METRIC_TIME_PER_OUTPUT_CHUNK, unit="s", description="Mean time between streamed chunks",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS))
        self.agent_executions = meter.create_counter(
            sc.METRIC_AGENT_EXECUTIONS, unit="{execution}", description="Agent executions by outcome")
        self.agent_duration = meter.create_histogram(
            sc.METRIC_AGENT_DURATION, unit="s", description="Agent execution duration",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS))
        self.tool_calls = meter.create_counter(
            sc.METRIC_TOOL_CALLS, unit="{call}", description="Tool calls by outcome")
        self.agent_label = BoundedLabels()
        self.tool_label = BoundedLabels()

    def record_usage(self, attrs: dict[str, Any], input_tokens: int | None, output_tokens: int | None) -> None:
        if input_tokens is not None:
            self.token_usage.record(input_tokens, {**attrs, sc.TOKEN_TYPE: "input"})
        if output_tokens is not None:
            self.token_usage.record(output_tokens, {**attrs, sc.TOKEN_TYPE: "output"})

    def record_agent(self, name: str | None, seconds: float, error: str | None) -> None:
        attrs = {sc.AGENT_NAME: self.agent_label(name), sc.OUTCOME: "error" if error else "success"}
        self.agent_executions.add(1, attrs)
        self.agent_duration.record(seconds, {sc.AGENT_NAME: attrs[sc.AGENT_NAME]})

    def record_tool(self, name: str | None, error: str | None) -> None:
        self.tool_calls.add(1, {sc.TOOL_NAME: self.tool_label(name), sc.OUTCOME: "error" if error else "success"})


def build_instruments(scope: str, meter_provider: Any = None) -> GenAIInstruments:
    """Instruments on the meter named ``scope`` of ``meter_provider`` (global when ``None``)."""
    meter = get_meter(scope, __version__, meter_provider, schema_url=sc.SCHEMA_URL)
    return GenAIInstruments(meter)
