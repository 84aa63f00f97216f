"""The router (``app.py``): every page reachable through ``st.navigation``, auto-refresh, and the page list
hidden until a login when auth is on."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from agentotel.dashboard.auth import USERS_ENV, hash_password
from tests.dashboard.support import PAGES, dashboard_env
from tests.dashboard.test_pages import assert_clean

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
TITLES = {"overview": "Overview", "traces": "Traces", "llm": "LLM calls", "tools": "Tools",
          "agents": "Agents & registry", "evaluations": "Evaluations", "alerts": "Alerts", "system": "System",
          "analytics": "Analytics"}


def test_router_reaches_every_page_and_auto_refresh(seeded, monkeypatch):
    dashboard_env(monkeypatch, seeded.url)
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    assert_clean(at)
    assert [t.value for t in at.title] == ["Overview"]
    at.sidebar.checkbox(key="auto_refresh").check().run()
    assert_clean(at)
    assert at.sidebar.selectbox(key="refresh_seconds").disabled is False
    for page in PAGES:
        at.switch_page(f"views/{page}.py").run()
        assert_clean(at)
        assert [t.value for t in at.title] == [TITLES[page]], page


def test_router_hides_everything_until_login(seeded, monkeypatch):
    dashboard_env(monkeypatch, seeded.url, **{USERS_ENV: f"ana:viewer:{hash_password('pw-123456', iterations=1000)}"})
    at = AppTest.from_file(str(APP), default_timeout=90).run()
    assert [t.value for t in at.title] == ["Sign in to agentotel"]
    assert not at.metric and not at.dataframe
    at.switch_page("views/alerts.py").run()
    assert [t.value for t in at.title] == ["Sign in to agentotel"]
    at.text_input(key="login_username").input("ana")
    at.text_input(key="login_password").input("pw-123456")
    at = at.button[0].click().run()
    assert_clean(at)
    assert [t.value for t in at.title] == ["Alerts"]  # lands on the page that was asked for
    assert not [b for b in at.button if b.key in ("al_ack", "al_resolve")]  # a viewer
