"""Trace search, a trace's waterfall rows and one span's content, on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from agentotel.warehouse import traces
from tests.warehouse.support import generate, load

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def loaded(engine):
    data = generate(120, T0, timedelta(hours=2), seed=32)
    load(engine, data)
    return engine, data


def test_search_by_status_agent_sort_and_trace_id(loaded):
    engine, data = loaded
    end = T0 + timedelta(hours=2)
    errors = traces.recent_traces(engine, T0, end, status="error", limit=500)
    failed_traces = {s["trace_id"] for s in data["spans"] if s["status_code"] == "ERROR"}
    assert set(errors.trace_id) == failed_traces and (errors.status == "error").all()
    ok = traces.recent_traces(engine, T0, end, status="ok", limit=500)
    assert len(ok) + len(errors) == 120 and (ok.error_count == 0).all()
    page = traces.recent_traces(engine, T0, end, agent="planner", sort="duration_ms", descending=True, limit=5)
    assert (page.agent_name == "planner").all() and page.duration_ms.is_monotonic_decreasing
    assert page.span_count.tolist() == [4] * len(page)
    second = traces.recent_traces(engine, T0, end, agent="planner", sort="duration_ms", descending=True, limit=5,
                                  offset=5)
    assert not set(second.trace_id) & set(page.trace_id)
    first = data["agent_executions"][0]["trace_id"]
    assert traces.recent_traces(engine, trace_id=first.upper()).trace_id.tolist() == [first]
    assert traces.recent_traces(engine, T0, end, agent="nobody").empty


@pytest.mark.parametrize("arguments", [{"sort": "start_time desc"}, {"status": "failed"}, {"limit": 0},
                                       {"limit": 1001}, {"offset": -1}])
def test_refuses_unknown_sorts_statuses_and_limits(engine, arguments):
    with pytest.raises(ValueError):
        traces.recent_traces(engine, **arguments)


def test_waterfall_rows_and_span_content(loaded):
    engine, data = loaded
    trace_id = data["agent_executions"][0]["trace_id"]
    spans = traces.trace_spans(engine, trace_id)
    assert spans.depth.tolist() == [0, 1, 1, 1] and spans.offset_ms.iloc[0] == 0
    assert spans.offset_ms.is_monotonic_increasing
    root = spans.iloc[0]
    content = traces.span_content(engine, trace_id.upper(), root.span_id)
    assert (content["trace_id"], content["span_id"], content["name"]) == (trace_id, root.span_id, root["name"])
    assert traces.trace_spans(engine, "0" * 32).empty
    assert traces.span_content(engine, trace_id, "0" * 16) == {}
