"""The dashboard's entry point (``streamlit run app.py``): a router over the pages in ``views/``, each of which
requires a login when auth is on."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from agentotel.dashboard import auth

VIEWS = Path(__file__).resolve().parent / "views"

# No ":material/…:" icons (page or st.Page): the browser would fetch the favicon from fonts.gstatic.com.
# An emoji favicon is an inline data: URL.
st.set_page_config(page_title="agentotel", page_icon="📊", layout="wide")

auth.audit_refused_tokens()  # Streamlit's OIDC callback refuses bad tokens before any page runs

overview = st.Page(VIEWS / "overview.py", title="Overview", url_path="overview")


def home() -> None:
    """The app's root ("/") shows the Overview. Streamlit serves its default page only at "/" (its own
    url_path answers "Page not found"), so the default is this hidden page and /overview is a real one."""
    st.switch_page(overview, query_params=st.query_params.to_dict())


pages = {
    "Telemetry": [
        st.Page(home, title="Home", default=True, url_path="home", visibility="hidden"),
        overview,
        st.Page(VIEWS / "traces.py", title="Traces", url_path="traces"),
        st.Page(VIEWS / "sessions.py", title="Sessions", url_path="sessions"),
        st.Page(VIEWS / "users.py", title="Users", url_path="users"),
        st.Page(VIEWS / "llm.py", title="LLM", url_path="llm"),
        st.Page(VIEWS / "tools.py", title="Tools", url_path="tools"),
    ],
    "Operate": [
        st.Page(VIEWS / "agents.py", title="Agents & registry", url_path="agents"),
        st.Page(VIEWS / "evaluations.py", title="Evaluations", url_path="evaluations"),
        st.Page(VIEWS / "alerts.py", title="Alerts", url_path="alerts"),
    ],
    "Insight": [
        st.Page(VIEWS / "system.py", title="System", url_path="system"),
        st.Page(VIEWS / "analytics.py", title="Analytics", url_path="analytics"),
    ],
}
# Every page starts with auth.require_login(): an anonymous visitor gets the login form on whichever page
# was asked for (and lands there after signing in); the page list stays hidden until then.
signed_in = auth.current_user() is not None
st.navigation(pages, position="sidebar" if signed_in else "hidden").run()
