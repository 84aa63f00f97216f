"""The dashboard's entry point (``streamlit run app.py``): login, then a router over the pages in ``views/``."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from agentotel.dashboard import auth

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="agentotel", page_icon=":material/monitoring:", layout="wide")

if auth.current_user() is None:
    auth.login_form()
    st.stop()

pages = {
    "Telemetry": [
        st.Page(VIEWS / "overview.py", title="Overview", icon=":material/dashboard:", default=True, url_path="overview"),
        st.Page(VIEWS / "traces.py", title="Traces", icon=":material/account_tree:", url_path="traces"),
        st.Page(VIEWS / "llm.py", title="LLM", icon=":material/smart_toy:", url_path="llm"),
        st.Page(VIEWS / "tools.py", title="Tools", icon=":material/build:", url_path="tools"),
    ],
    "Operate": [
        st.Page(VIEWS / "agents.py", title="Agents & registry", icon=":material/inventory_2:", url_path="agents"),
        st.Page(VIEWS / "evaluations.py", title="Evaluations", icon=":material/fact_check:", url_path="evaluations"),
        st.Page(VIEWS / "alerts.py", title="Alerts", icon=":material/notifications:", url_path="alerts"),
    ],
    "Insight": [
        st.Page(VIEWS / "system.py", title="System", icon=":material/memory:", url_path="system"),
        st.Page(VIEWS / "analytics.py", title="Analytics", icon=":material/insights:", url_path="analytics"),
    ],
}
st.navigation(pages).run()
