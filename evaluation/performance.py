"""Performance metrics: latency percentiles, throughput, CPU/memory during a run, cost, errors by type."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agentotel.evaluation.base import (
    AgentResponse,
    BaseEvaluator,
    CaseResult,
    MetricDefinition,
    Score,
    TestCase,
)
from agentotel.processors.cost import Cost


class PricingTable:
    """Token prices, USD per 1M tokens. By default the project's pricing table (the one the receiver
    uses to cost model calls), with ``pricing_file`` merged over it (``EvaluationSettings.pricing_file``,
    i.e. ``AGENTOTEL_PRICING_FILE``, when the caller passes it); ``prices`` gives an explicit
    ``{model: (input, output)}`` table instead (a model matches its longest listed prefix)."""

    def __init__(self, prices: Mapping[str, tuple[float, float]] | None = None, pricing_file: str | Path | None = None):
        self._prices: dict[str, tuple[float, float]] | None = dict(prices) if prices is not None else None
        self._cost: Any = None
        if prices is None:
            self._cost = Cost(pricing_file)

    @classmethod
    def default(cls) -> PricingTable:
        return cls()

    @classmethod
    def from_file(cls, path: str | Path) -> PricingTable:
        """The project's table with ``path`` merged over it (its format: ``{"models": {name: {input, output}}}``)."""
        return cls(pricing_file=path)

    def price(self, model: str | None) -> tuple[float, float] | None:
        if not model:
            return None
        if self._cost is not None:
            found = self._cost.price_for(model)
            return (found.input, found.output) if found is not None else None
        assert self._prices is not None
        if model in self._prices:
            return self._prices[model]
        matches = [m for m in self._prices if model.startswith(m)]
        return self._prices[max(matches, key=len)] if matches else None

    def cost(self, model: str | None, input_tokens: int | None, output_tokens: int | None) -> float | None:
        price = self.price(model)
        if price is None or (input_tokens is None and output_tokens is None):
            return None
        return ((input_tokens or 0) * price[0] + (output_tokens or 0) * price[1]) / 1_000_000


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), ``q`` in 0..100."""
    if not values:
        return None
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))


class ResourceSampler:
    """Samples this process's CPU % and resident memory in a background thread (psutil)."""

    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.cpu: list[float] = []
        self.rss: list[int] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> ResourceSampler:
        import psutil

        self._process = psutil.Process()
        self._process.cpu_percent(None)
        self._cpu_times_start = self._process.cpu_times()
        self._start = time.perf_counter()
        self._thread = threading.Thread(target=self._loop, name="agentotel-eval-resources", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        try:
            self.cpu.append(self._process.cpu_percent(None))
            self.rss.append(self._process.memory_info().rss)
        except Exception:  # noqa: BLE001 - a failed sample is skipped
            pass

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self._sample()
        elapsed = time.perf_counter() - self._start
        end = self._process.cpu_times()
        used = (end.user - self._cpu_times_start.user) + (end.system - self._cpu_times_start.system)
        self.cpu_percent_mean = 100.0 * used / elapsed if elapsed > 0 else 0.0

    def summary(self) -> dict[str, float | None]:
        return {
            "cpu_percent_mean": round(getattr(self, "cpu_percent_mean", 0.0), 3),
            "cpu_percent_max": max(self.cpu) if self.cpu else None,
            "memory_rss_max_mb": round(max(self.rss) / 2**20, 3) if self.rss else None,
            "memory_rss_mean_mb": round(sum(self.rss) / len(self.rss) / 2**20, 3) if self.rss else None,
        }


class PerformanceEvaluator(BaseEvaluator):
    """Per case: latency, tokens, cost, error flag. Per run (``summarize``): latency percentiles,
    throughput, cost per request, error rate and errors by type."""

    name = "performance"

    def __init__(self, pricing: PricingTable | None = None):
        self.pricing = pricing or PricingTable.default()

    def get_metrics(self) -> dict[str, MetricDefinition]:
        return {
            "latency_ms": MetricDefinition("latency_ms", "agent response time", False, "latency", "ms"),
            "cost_usd": MetricDefinition("cost_usd", "cost of the request", False, "cost", "USD"),
            "total_tokens": MetricDefinition("total_tokens", "input + output tokens", False, "count", "{token}"),
            "error": MetricDefinition("error", "the agent failed on the case", False, "binary"),
        }

    def applies_to(self, case: TestCase) -> bool:
        return True

    def cost(self, response: AgentResponse) -> float | None:
        if response.cost_usd is not None:
            return response.cost_usd
        return self.pricing.cost(response.model, response.input_tokens, response.output_tokens)

    def score(self, case: TestCase, response: AgentResponse) -> list[Score]:
        if not response.ok:  # a failure's latency (often a timeout) would distort the latency metric
            return [Score("error", 1.0, "error", response.error_type)]
        scores = [Score("latency_ms", round(response.latency_ms, 3)), Score("error", 0.0, "ok")]
        if response.input_tokens is not None or response.output_tokens is not None:
            scores.append(Score("total_tokens", float((response.input_tokens or 0) + (response.output_tokens or 0))))
        cost = self.cost(response)
        if cost is not None:
            scores.append(Score("cost_usd", cost))
        return scores

    def summarize(
        self, cases: Sequence[CaseResult], wall_seconds: float, resources: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        latencies = [c.latency_ms for c in cases if c.latency_ms is not None and c.error is None]
        costs = [c.cost_usd for c in cases if c.cost_usd is not None]
        errors = Counter(c.error_type or "error" for c in cases if c.error is not None)
        n = len(cases)
        tokens = [(c.input_tokens or 0) + (c.output_tokens or 0) for c in cases if c.input_tokens or c.output_tokens]
        return {
            "requests": n,
            "wall_seconds": round(wall_seconds, 6),
            "throughput_rps": round(n / wall_seconds, 6) if wall_seconds > 0 else None,
            "latency_ms": {
                "p50": percentile(latencies, 50),
                "p95": percentile(latencies, 95),
                "p99": percentile(latencies, 99),
                "max": max(latencies) if latencies else None,
                "mean": sum(latencies) / len(latencies) if latencies else None,
            },
            "cost_usd_total": sum(costs) if costs else None,
            "cost_usd_per_request": sum(costs) / n if costs and n else None,
            "tokens_per_request": sum(tokens) / n if tokens and n else None,
            "error_rate": sum(errors.values()) / n if n else 0.0,
            "errors_by_type": dict(errors),
            "resources": dict(resources or {}),
        }
