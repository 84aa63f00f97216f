"""Warehouse freshness: the newest span and metric point and the volume written lately."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert

from agentotel.warehouse.freshness import ingest_health
from agentotel.warehouse.models import Metric
from tests.warehouse.support import generate, load

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=timezone.utc)


def test_empty_warehouse_has_never_been_written(engine):
    health = ingest_health(engine, now=NOW)
    assert health["last_span_at"] is None and health["seconds_since_span"] is None
    assert health["spans_last_5m"] == health["spans_last_1h"] == health["metric_points_last_5m"] == 0


def test_newest_rows_and_recent_volume(engine):
    data = generate(30, NOW - timedelta(minutes=30), timedelta(minutes=30), seed=5)
    load(engine, data)
    point = {"metric_name": "m", "value": 1.0, "timestamp": NOW - timedelta(minutes=2), "tags": {}, "series_key": "m",
             "metric_type": "gauge", "unit": "1", "service_name": "s"}
    with engine.begin() as conn:
        conn.execute(insert(Metric), [point])
    health = ingest_health(engine, now=NOW)
    newest = max(s["start_time"] for s in data["spans"])
    assert health["last_span_at"] == newest
    assert health["seconds_since_span"] == (NOW - newest).total_seconds()
    assert health["spans_last_1h"] == len(data["spans"])
    assert health["spans_last_5m"] == sum(s["start_time"] >= NOW - timedelta(minutes=5) for s in data["spans"])
    assert health["metric_points_last_5m"] == 1 and health["seconds_since_metric"] == 120
