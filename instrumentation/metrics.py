"""User metrics: a small registry of typed OTel instruments with units and cardinality control.

::

    from agentotel.instrumentation.metrics import MetricRegistry

    registry = MetricRegistry()                         # the global MeterProvider (instrument() sets it)
    orders = registry.counter("shop.orders", unit="{order}", attributes=("channel", "status"))
    queue = registry.up_down_counter("shop.queue.depth", unit="{job}")
    temperature = registry.gauge("shop.fridge.temperature", unit="Cel", attributes=("fridge",))
    latency = registry.histogram("shop.checkout.duration", unit="s", attributes=("route",),
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5))
    answer_len = registry.summary("shop.answer.length", unit="{char}", quantiles=(0.5, 0.9, 0.99))

    orders.add(1, {"channel": "web", "status": "ok", "user": "u1"})   # "user" is not allowed: dropped
    latency.record(0.31, {"route": "/pay"})

Types map onto the OTel instruments (counter, up-down counter, synchronous gauge, histogram). A **summary**
has no OTel instrument: it is a histogram whose aggregation a *view* turns into base-2 exponential
buckets (``registry.views()``; ``instrument(views=...)`` or your ``MeterProvider(views=...)``), fine enough
(≤ ~2 % relative error at the default scale) to read any quantile downstream (``histogram_quantile`` in
PromQL) or here with :func:`quantiles`. Without the view it keeps explicit buckets (the ``buckets``
advisory), and quantiles are interpolated within them.

Cardinality control, per metric:

- ``attributes`` is the allow-list of attribute keys; other keys are dropped (``None``: keep all keys);
- each allowed key keeps at most ``max_values`` distinct values (default 100); later new values become
  ``other``;
- both are counted: ``agentotel.metrics.cardinality_limited{metric, key, reason=key_not_allowed|value_limit}``.

Misuse at declaration (bad name or unit, the same name declared again with another type, unit or
allow-list) raises ``ValueError`` at once; at record time nothing raises into the caller: a non-numeric
value, or a negative one on a counter, is dropped and counted (``reason=invalid_value``). While the
telemetry is paused (``TelemetryCollector.pause()``) nothing is recorded.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.metrics import get_meter

from agentotel.core.version import __version__
from agentotel.instrumentation._guard import report
from agentotel.instrumentation._switch import SWITCH

SCOPE = "agentotel.user"
OTHER = "other"
MAX_VALUES = 100
OVERFLOW_METRIC = "agentotel.metrics.cardinality_limited"
COUNTER, UP_DOWN_COUNTER, GAUGE, HISTOGRAM, SUMMARY = "counter", "up_down_counter", "gauge", "histogram", "summary"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-/]{0,254}$")  # the OTel API's instrument name syntax
_UNIT = re.compile(r"^[\x00-\x7f]{0,63}$")
DEFAULT_SUMMARY_QUANTILES = (0.5, 0.9, 0.95, 0.99)
_SUMMARY_BUCKETS = (0.0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


@dataclass(frozen=True)
class MetricSpec:
    """What was declared: the registry refuses a second, different declaration of the same name."""

    name: str
    kind: str
    unit: str
    description: str
    attributes: tuple[str, ...] | None
    max_values: int
    buckets: tuple[float, ...] | None = None
    quantiles: tuple[float, ...] | None = None


class Metric:
    """A declared metric: ``add`` (counters) or ``record``/``set`` (histograms, summaries, gauges)."""

    __slots__ = ("spec", "_instrument", "_registry", "_allowed", "_values", "_lock", "_record")

    def __init__(self, spec: MetricSpec, instrument: Any, registry: MetricRegistry) -> None:
        self.spec = spec
        self._instrument = instrument
        self._registry = registry
        self._allowed = frozenset(spec.attributes) if spec.attributes is not None else None
        self._values: dict[str, set[str]] = {}
        self._lock = threading.Lock()
        method = {COUNTER: "add", UP_DOWN_COUNTER: "add", GAUGE: "set"}.get(spec.kind, "record")
        self._record = getattr(instrument, method)

    @property
    def name(self) -> str:
        return self.spec.name

    def _bounded(self, attributes: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if not attributes:
            return None
        out: dict[str, Any] = {}
        allowed = self._allowed
        limit = self.spec.max_values
        for key, value in attributes.items():
            if allowed is not None and key not in allowed:
                self._registry._overflow(self.spec.name, key, "key_not_allowed")
                continue
            text = value if isinstance(value, str) else str(value)
            seen = self._values.get(key)
            if seen is None or text not in seen:
                with self._lock:
                    seen = self._values.setdefault(key, set())
                    if text not in seen:
                        if len(seen) >= limit:
                            self._registry._overflow(self.spec.name, key, "value_limit")
                            value = OTHER
                        else:
                            seen.add(text)
            out[key] = value
        return out

    def _measure(self, value: float, attributes: Mapping[str, Any] | None) -> None:
        if SWITCH.paused:
            return
        try:
            if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or (
                    self.spec.kind == COUNTER and value < 0):
                self._registry._overflow(self.spec.name, "", "invalid_value")
                return
            self._record(value, self._bounded(attributes))
        except Exception as err:  # noqa: BLE001 - a metrics fault never reaches the caller
            report(f"metrics.{self.spec.name}", err)

    def add(self, amount: float = 1, attributes: Mapping[str, Any] | None = None) -> None:
        """Counters and up-down counters: add ``amount``."""
        self._measure(amount, attributes)

    def record(self, value: float, attributes: Mapping[str, Any] | None = None) -> None:
        """Histograms and summaries: record ``value``; gauges: set it."""
        self._measure(value, attributes)

    set = record


class MetricRegistry:
    """Declares typed metrics on one meter (``scope``) of ``meter_provider`` (global when ``None``)."""

    def __init__(self, meter_provider: Any = None, scope: str = SCOPE) -> None:
        self._meter = get_meter(scope, __version__, meter_provider)
        self._metrics: dict[str, Metric] = {}
        self._lock = threading.Lock()
        self._overflows = self._meter.create_counter(
            OVERFLOW_METRIC, unit="{measurement}",
            description="Attribute keys dropped / values replaced by 'other' / values refused by the user metric registry")

    # --- declarations -------------------------------------------------------------------------------------------
    def counter(self, name: str, *, unit: str = "1", description: str = "",
                attributes: Sequence[str] | None = None, max_values: int = MAX_VALUES) -> Metric:
        return self._declare(MetricSpec(name, COUNTER, unit, description, _keys(attributes), max_values))

    def up_down_counter(self, name: str, *, unit: str = "1", description: str = "",
                        attributes: Sequence[str] | None = None, max_values: int = MAX_VALUES) -> Metric:
        return self._declare(MetricSpec(name, UP_DOWN_COUNTER, unit, description, _keys(attributes), max_values))

    def gauge(self, name: str, *, unit: str = "1", description: str = "",
              attributes: Sequence[str] | None = None, max_values: int = MAX_VALUES) -> Metric:
        return self._declare(MetricSpec(name, GAUGE, unit, description, _keys(attributes), max_values))

    def histogram(self, name: str, *, unit: str = "1", description: str = "",
                  attributes: Sequence[str] | None = None, max_values: int = MAX_VALUES,
                  buckets: Sequence[float] | None = None) -> Metric:
        return self._declare(MetricSpec(name, HISTOGRAM, unit, description, _keys(attributes), max_values,
                                        _buckets(buckets)))

    def summary(self, name: str, *, unit: str = "1", description: str = "",
                attributes: Sequence[str] | None = None, max_values: int = MAX_VALUES,
                quantiles: Sequence[float] = DEFAULT_SUMMARY_QUANTILES,
                buckets: Sequence[float] | None = None) -> Metric:
        """A histogram read as quantiles (see the module docstring); ``quantiles`` are documentation for
        readers and the defaults of :func:`quantiles`."""
        qs = tuple(float(q) for q in quantiles)
        if not qs or any(not 0.0 <= q <= 1.0 for q in qs):
            raise ValueError(f"summary {name!r}: quantiles must lie within [0, 1]")
        return self._declare(MetricSpec(name, SUMMARY, unit, description, _keys(attributes), max_values,
                                        _buckets(buckets) or _SUMMARY_BUCKETS, qs))

    def _declare(self, spec: MetricSpec) -> Metric:
        if not _NAME.match(spec.name):
            raise ValueError(f"invalid metric name {spec.name!r} (letters, digits, _ . - /; a letter first)")
        if not _UNIT.match(spec.unit):
            raise ValueError(f"invalid unit {spec.unit!r} for {spec.name!r} (ASCII, at most 63 characters)")
        if spec.max_values < 1:
            raise ValueError(f"max_values must be positive for {spec.name!r}")
        with self._lock:
            existing = self._metrics.get(spec.name)
            if existing is not None:
                if existing.spec != spec:
                    raise ValueError(f"metric {spec.name!r} is already declared as {existing.spec}")
                return existing
            meter = self._meter
            desc = spec.description
            instrument: Any
            if spec.kind == COUNTER:
                instrument = meter.create_counter(spec.name, unit=spec.unit, description=desc)
            elif spec.kind == UP_DOWN_COUNTER:
                instrument = meter.create_up_down_counter(spec.name, unit=spec.unit, description=desc)
            elif spec.kind == GAUGE:
                instrument = meter.create_gauge(spec.name, unit=spec.unit, description=desc)
            else:
                kwargs: dict[str, Any] = {}
                if spec.buckets is not None:
                    kwargs["explicit_bucket_boundaries_advisory"] = list(spec.buckets)
                instrument = meter.create_histogram(spec.name, unit=spec.unit, description=desc, **kwargs)
            metric = Metric(spec, instrument, self)
            self._metrics[spec.name] = metric
            return metric

    # --- reading the declarations ---------------------------------------------------------------------------------
    def get(self, name: str) -> Metric | None:
        return self._metrics.get(name)

    def __iter__(self) -> Any:
        return iter(list(self._metrics.values()))

    def views(self) -> list[Any]:
        """The SDK views this registry's metrics need: base-2 exponential buckets for every summary.

        Pass them where the ``MeterProvider`` is made (``instrument(views=registry.views())`` or
        ``MeterProvider(views=...)``); a view selects by instrument name, so the summaries may be declared
        before or after.
        """
        from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

        return [View(instrument_name=m.spec.name, aggregation=ExponentialBucketHistogramAggregation())
                for m in self._metrics.values() if m.spec.kind == SUMMARY]

    def _overflow(self, metric: str, key: str, reason: str) -> None:
        try:
            self._overflows.add(1, {"metric": metric, "key": key, "reason": reason})
        except Exception as err:  # noqa: BLE001
            report("metrics.overflow", err)


def summary_view(name: str) -> Any:
    """The view that turns the histogram ``name`` into a summary (exponential buckets)."""
    from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View

    return View(instrument_name=name, aggregation=ExponentialBucketHistogramAggregation())


def _keys(attributes: Sequence[str] | None) -> tuple[str, ...] | None:
    if attributes is None:
        return None
    if isinstance(attributes, str):
        raise ValueError("attributes is a sequence of keys, not one string")
    return tuple(sorted(set(str(a) for a in attributes)))


def _buckets(buckets: Sequence[float] | None) -> tuple[float, ...] | None:
    if buckets is None:
        return None
    values = tuple(float(b) for b in buckets)
    if list(values) != sorted(set(values)):
        raise ValueError("bucket boundaries must be strictly increasing")
    return values


# --- reading a summary --------------------------------------------------------------------------------------------
def quantiles(point: Any, qs: Iterable[float] = DEFAULT_SUMMARY_QUANTILES) -> dict[float, float]:
    """Quantiles of one histogram data point (exponential or explicit buckets), interpolated in the bucket.

    Exponential buckets: the geometric middle of the bucket holding the rank (relative error ≤ the
    bucket's half-width); explicit buckets: linear within the bucket, clamped to the point's min/max.
    """
    total = int(getattr(point, "count", 0) or 0)
    if total == 0:
        return {}
    lo, hi = float(getattr(point, "min", -math.inf)), float(getattr(point, "max", math.inf))
    out: dict[float, float] = {}
    if hasattr(point, "scale"):  # ExponentialHistogramDataPoint
        base = 2.0 ** (2.0 ** -point.scale)
        buckets: list[tuple[float, float, int]] = []
        negative = point.negative
        for i, c in reversed(list(enumerate(negative.bucket_counts))):
            index = negative.offset + i
            buckets.append((-(base ** (index + 1)), -(base ** index), c))
        if point.zero_count:
            buckets.append((0.0, 0.0, point.zero_count))
        positive = point.positive
        for i, c in enumerate(positive.bucket_counts):
            index = positive.offset + i
            buckets.append((base ** index, base ** (index + 1), c))
        for q in qs:
            rank = q * total
            seen = 0
            for low, high, c in buckets:
                if c and seen + c >= rank:
                    value = 0.0 if low == high == 0.0 else math.copysign(math.sqrt(abs(low * high)), high)
                    out[q] = min(max(value, lo), hi)
                    break
                seen += c
            else:
                out[q] = hi
        return out
    bounds = list(point.explicit_bounds)
    counts = list(point.bucket_counts)
    for q in qs:
        rank = q * total
        seen = 0
        for i, c in enumerate(counts):
            if c and seen + c >= rank:
                low = bounds[i - 1] if i > 0 else lo
                high = bounds[i] if i < len(bounds) else hi
                low, high = max(low, lo), min(high, hi)
                out[q] = low + (high - low) * ((rank - seen) / c)
                break
            seen += c
        else:
            out[q] = hi
    return out
