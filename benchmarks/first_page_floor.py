"""The first page's floor (``benchmarks/dashboard.py --first-page``): Streamlit's and the browser's own cost
for the Overview's elements (sidebar widgets, 8 metrics, 4 Altair charts, 2 dataframes), with constant data
and no warehouse, served the way ``agentotel dashboard`` serves the real page."""

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

st.set_page_config(page_title="floor", page_icon="📊", layout="wide")


def overview() -> None:
    st.title("Overview")
    with st.sidebar:
        st.selectbox("Time range", ["Last hour", "Last 24 hours"], key="time_range")
        st.checkbox("Auto-refresh", key="auto_refresh")
        st.selectbox("Every (seconds)", [10, 30], key="refresh_seconds", disabled=True)
    left, right = st.columns(2)
    left.selectbox("Agent", ["All"], key="agent")
    right.selectbox("Service", ["All"], key="service")
    for row in range(2):
        for i, column in enumerate(st.columns(4)):
            column.metric(f"figure {row}.{i}", i)
    frame = pd.DataFrame({"time": pd.date_range("2026-01-01", periods=60, freq="min", tz="UTC"),
                          "value": np.arange(60.0)})
    for _ in range(2):
        for column in st.columns(2):
            column.altair_chart(alt.Chart(frame).mark_line().encode(x="time:T", y="value:Q"), width="stretch")
    for column, title in zip(st.columns(2), ("Top agents", "Top models")):
        with column:
            st.subheader(title)
            st.dataframe(pd.DataFrame({"name": ["a", "b"], "count": [1, 2]}), hide_index=True, width="stretch")


st.navigation([st.Page(overview, title="Overview", default=True)]).run()
