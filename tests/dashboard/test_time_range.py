"""The sidebar's time range: kept across pages, and a preset window's end rounded up to a bucket that
grows with the window (reads are cached per window, so reruns and auto-refreshes within it hit the cache)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from agentotel.dashboard import data
from agentotel.dashboard.common import KEPT, cache_bucket
from tests.dashboard.support import dashboard_env


def _script() -> None:
    import streamlit as st

    from agentotel.dashboard import common

    ctx = common.page("Range")
    st.text(f"{ctx.range_label}|{(ctx.end - ctx.start).total_seconds():.0f}|{ctx.end.timestamp():.0f}")


def _shown(at: AppTest) -> tuple[str, float, float]:
    label, span, end = next(t.value for t in at.text if t.value.count("|") == 2).split("|")
    return label, float(span), float(end)


def test_cache_bucket_grows_with_the_window():
    assert cache_bucket(timedelta(minutes=15)) == 10 and cache_bucket(timedelta(hours=1)) == 30
    assert cache_bucket(timedelta(hours=6)) == 180 and cache_bucket(timedelta(days=30)) == 300
    assert data.RANGE_TTL >= cache_bucket(timedelta(days=365)) > data.TTL  # an entry outlives its key's bucket


@pytest.mark.slow
def test_a_range_chosen_on_one_page_is_kept_on_the_next(monkeypatch, tmp_path):
    dashboard_env(monkeypatch, f"sqlite:///{tmp_path}/none.db")
    first = AppTest.from_function(_script, default_timeout=60).run()
    assert not first.exception and _shown(first)[0] == "Last hour"
    first.selectbox(key="time_range").select("Last 7 days").run()
    assert first.session_state[KEPT] == "Last 7 days"
    # the next page: a new script run without the widget's state, with the session's kept choice
    second = AppTest.from_function(_script, default_timeout=60)
    second.session_state[KEPT] = first.session_state[KEPT]
    second.run()
    assert not second.exception
    assert second.selectbox(key="time_range").value == "Last 7 days"
    label, span, end = _shown(second)
    assert label == "Last 7 days" and span == 7 * 86400
    assert end % 300 == 0  # the 7-day window ends on a 5-minute bucket: one cache key for 5 minutes
    again = second.run()
    assert _shown(again)[2] - end in (0, 300)
