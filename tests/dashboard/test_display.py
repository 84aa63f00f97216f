"""The display rules of issue 16 (point 8), each checked on its own: bytes in binary units, costs precise
enough for one call, no infinite z-score, forecast bands never below zero (nor rates above one), the
System page's byte-valued metrics formatted, evaluation run labels in the page's time zone."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from agentotel.dashboard import charts
from agentotel.dashboard import format as fmt
from tests.dashboard.support import dashboard_env
from tests.dashboard.test_pages import assert_clean, frames, run_page


def test_bytes_are_formatted():
    assert fmt.byte_size(334_900_000) == "319.4 MiB"
    assert fmt.byte_size(2.0e9) == "1.9 GiB"
    assert fmt.byte_size(512) == "512 B"
    assert fmt.byte_size(None) == "–"


@pytest.mark.parametrize("value", [0.000045, 0.00031, 0.0024, 0.0239, 0.5])
def test_costs_keep_their_precision(value):
    for shown in (fmt.usd(value), fmt.usd_precise(value)):
        assert shown != "$0.00"
    precise = fmt.usd_precise(value)
    assert math.isclose(float(precise.removeprefix("$")), value, rel_tol=0.05), precise
    assert fmt.usd(0.0239) == fmt.usd_precise(0.0239) == "$0.0239"  # the headline and a call agree
    assert fmt.usd_precise(12.5) == "$12.50"


def test_infinite_z_scores_are_shown_empty():
    flagged = pd.DataFrame({"timestamp": [datetime(2026, 1, 1, tzinfo=timezone.utc)] * 3,
                            "value": [4.0, 5.0, 6.0], "robust_score": [math.inf, -math.inf, 3.5],
                            "is_anomaly": [True, True, True]})
    shown = fmt.finite_columns(flagged)
    scores = shown["robust_score"].tolist()
    assert math.isnan(scores[0]) and math.isnan(scores[1]) and scores[2] == 3.5
    assert shown["value"].tolist() == [4.0, 5.0, 6.0] and "Infinity" not in shown.to_json()


def _datasets(chart) -> list[dict]:
    return [row for rows in chart.to_dict()["datasets"].values() for row in rows]


def test_forecast_band_never_goes_below_zero():
    now = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    history = pd.DataFrame({"timestamp": [now - timedelta(minutes=i) for i in range(5)], "value": [0.0, 1, 0, 2, 0]})
    prediction = pd.DataFrame({"timestamp": [now + timedelta(minutes=i) for i in range(1, 4)],
                               "forecast": [-0.2, 0.4, 1.3], "lower": [-2.0, -1.0, 0.1], "upper": [1.5, 2.0, 2.5]})
    band = [r for r in _datasets(charts.forecast(history, prediction, "executions")) if "lower" in r]
    assert len(band) == 3 and min(r["lower"] for r in band) == 0 and min(r["forecast"] for r in band) == 0
    rates = [r for r in _datasets(charts.forecast(history, prediction, "error rate", floor=0.0, ceiling=1.0))
             if "lower" in r]
    assert max(r["upper"] for r in rates) == 1.0 and min(r["lower"] for r in rates) == 0.0


def test_time_axes_are_24_hour():
    frame = pd.DataFrame({"timestamp": pd.date_range("2026-01-01 13:00", periods=3, freq="min"), "value": [1, 2, 3]})
    spec = charts.series(frame, "t", "v").to_dict()
    assert spec["encoding"]["x"]["axis"]["format"] == "%H:%M"
    assert all("%I" not in str(t.get("format", "")) and "%p" not in str(t.get("format", ""))
               for t in spec["encoding"]["tooltip"])


@pytest.mark.slow
def test_system_page_shows_bytes_formatted(seeded, monkeypatch):
    dashboard_env(monkeypatch, seeded.url)
    at = run_page("system", sys_metrics=["system.memory.usage"])
    assert_clean(at)
    latest = next(f for f in frames(at) if "latest" in f)
    memory = latest[latest["metric_name"] == "system.memory.usage"]["latest"].tolist()
    assert memory and all(v.endswith(("MiB", "GiB")) for v in memory), memory
    assert not any(str(v).endswith(" By") for v in latest["latest"])


def test_dashboard_reads_run_without_postgres_jit(db_url, monkeypatch):
    """At a million spans a trace list's estimated cost crosses jit_above_cost and compiling cost seconds:
    the dashboard's PostgreSQL connections run without JIT (SQLite has none to turn off)."""
    from sqlalchemy import text

    from agentotel.dashboard import data

    dashboard_env(monkeypatch, db_url)
    engine = data.engine(db_url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                assert conn.execute(text("SHOW jit")).scalar() == "off"
            else:
                assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()
        data.engine.clear()
