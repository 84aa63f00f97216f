"""Helpers shared by the instrumentation tests."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics.export import InMemoryMetricReader


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    """All data points of metric ``name`` collected so far."""
    data = reader.get_metrics_data()
    found = []
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    found.extend(metric.data.data_points)
    return found


def by_name(spans, name: str):
    matches = [s for s in spans if s.name == name]
    assert matches, f"no span {name!r} in {[s.name for s in spans]}"
    return matches[0]
