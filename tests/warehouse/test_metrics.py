"""Metric-point reads: names (with LIKE wildcards taken literally) and the newest value per series."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert

from agentotel.warehouse.metrics import latest_metric_values, metric_names
from agentotel.warehouse.models import Metric

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)


def _point(name: str, value: float, minute: int, service: str | None = "shop", host: str = "a") -> dict:
    return {"metric_name": name, "value": value, "timestamp": T0 + timedelta(minutes=minute), "tags": {"host": host},
            "series_key": f"{name}-{service}-{host}", "metric_type": "gauge", "unit": "1", "service_name": service}


def test_names_and_latest_values(engine):
    rows = [_point("process.cpu.utilization", 0.1, 0), _point("process.cpu.utilization", 0.3, 5),
            _point("process.cpu.utilization", 0.5, 5, host="b"), _point("process_cpu", 9.0, 1),
            _point("process.cpu.utilization", 0.7, 2, service="api"), _point("system.memory.usage", 2e9, 9)]
    with engine.begin() as conn:
        conn.execute(insert(Metric), rows)
    assert metric_names(engine) == ["process.cpu.utilization", "process_cpu", "system.memory.usage"]
    assert metric_names(engine, prefix="process_") == ["process_cpu"]  # "_" is not a wildcard
    assert metric_names(engine, prefix="%") == []
    assert metric_names(engine, start=T0 + timedelta(minutes=3), end=T0 + timedelta(minutes=9)) == [
        "process.cpu.utilization"]
    latest = latest_metric_values(engine, ["process.cpu.utilization", "system.memory.usage"])
    assert latest[["metric_name", "service_name"]].values.tolist() == [
        ["process.cpu.utilization", "api"], ["process.cpu.utilization", "shop"], ["system.memory.usage", "shop"]]
    assert latest["value"].tolist()[:2] == [0.7, 0.4]  # the two hosts' points at minute 5 are averaged
    assert latest_metric_values(engine, ["process.cpu.utilization"], start=T0 + timedelta(minutes=3))[
        "service_name"].tolist() == ["shop"]
    assert latest_metric_values(engine, []).empty
