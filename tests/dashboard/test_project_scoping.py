"""Issue 20 on the dashboard (Streamlit AppTest, SQLite and PostgreSQL): a user reads only the projects of their
login. A warehouse holds traces of project ``alpha`` (agent ``alpha-agent``) and ``beta`` (``beta-agent``),
written by the real trace pipeline; a password or API-key entry naming ``alpha`` sees alpha's traces and agents
and none of beta's on the trace list and the Overview, ``beta`` the reverse, an entry without projects (today's
syntax) sees both; an OIDC user (``st.user`` of a signed-in identity) whose groups map to alpha sees alpha only,
one whose groups map to no project sees nothing. Every read goes through an engine scoped to the projects
(``warehouse.scoping``: row-level security as ``agentotel_reader`` on PostgreSQL, TEMP views on SQLite)."""

from __future__ import annotations

import os
import secrets
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from agentotel.alerting import queries as alert_queries
from agentotel.alerting.manager import AlertManager
from agentotel.core.settings import DashboardSettings, ReceiverSettings
from agentotel.dashboard import data, oidc
from agentotel.dashboard.auth import (
    API_KEYS_ENV,
    SESSION_KEY,
    USERS_ENV,
    AuthConfig,
    authenticate,
    hash_api_key,
    hash_password,
)
from agentotel.processors.pipeline import build_trace_pipeline
from agentotel.processors.records import SpanBatch
from agentotel.warehouse import security_audit
from agentotel.warehouse.rollups import refresh_rollups
from tests.conftest import DIALECTS
from tests.dashboard.support import PAGES, VIEWS, agent_trace, dashboard_env, dashboard_warehouse
from tests.dashboard.test_browser import CHROMIUM
from tests.dashboard.test_explorer import open_page
from tests.dashboard.test_pages import assert_clean, frames, metrics

PASSWORD = "correct horse battery staple"
TRACES = {"alpha": 3, "beta": 2}  # traces (one agent run each) per project
SCOPES = (("alpha",), ("beta",), ("alpha", "beta"), ())  # the scoped engines the tests open (disposed before the database is dropped)
OIDC_ENV = {"AGENTOTEL_OIDC_ISSUER": "http://127.0.0.1:9/issuer", "AGENTOTEL_OIDC_CLIENT_ID": "agentotel",
            "AGENTOTEL_OIDC_CLIENT_SECRET": "s3cret-client", "AGENTOTEL_OIDC_COOKIE_SECRET": "s3cret-cookie",
            "AGENTOTEL_OIDC_ROLES": "viewer=staff", "AGENTOTEL_OIDC_PROJECTS": "alpha=team-alpha,beta=team-beta"}


def _users() -> str:
    hashed = hash_password(PASSWORD, iterations=1000)
    return ",".join([f"ana:viewer:alpha:{hashed}", f"bo:viewer:beta:{hashed}", f"root:admin:{hashed}"])


def _seed(engine) -> tuple[dict[str, int], dict[str, str]]:
    """``TRACES`` traces of each project, a few minutes old, through the real trace pipeline, and a firing alert
    of each project (the real manager); returns the alerts' ids and a trace id by project."""
    now = time.time_ns()
    spans = []
    for project, n in TRACES.items():
        for i in range(n):
            trace = agent_trace(f"{project}-agent", "1.0.0", "gpt-4o-mini", "openai", f"{project}_tool",
                                now - (10 + i) * 60_000_000_000, service=f"{project}-svc")
            for span in trace:
                span.project_id = project
            spans += trace
    build_trace_pipeline(engine, ReceiverSettings(redact_pii=False)).consume(SpanBatch(spans=spans))
    refresh_rollups(engine, lateness=timedelta(0))  # the Overview of a scoped reader reads its own rollup rows
    alerts = {project: AlertManager(engine, project=project).create_alert(
        "high-error-rate", "critical", f"Error rate 40% on agent {project}-agent", labels={"agent": f"{project}-agent"},
        value=0.4, by="seed") for project in TRACES}
    return alerts, {span.project_id: span.trace_id for span in spans}


@pytest.fixture(scope="module", params=DIALECTS)
def two_projects(request, tmp_path_factory):
    """A warehouse of each dialect with ``TRACES`` traces of each project."""
    with dashboard_warehouse(request.param, tmp_path_factory.mktemp("projects")) as (url, engine):
        alerts, traces = _seed(engine)
        try:
            yield SimpleNamespace(url=url, engine=engine, alerts=alerts, traces=traces)
        finally:
            for projects in SCOPES:
                data.engine(data.reader_url(url, projects)).dispose()


def _signed_in(page: str, username: str = "", api_key: str = "") -> AppTest:
    at = AppTest.from_file(str(VIEWS / f"{page}.py"), default_timeout=90).run()
    if api_key:
        at.text_input(key="login_api_key").input(api_key)
    else:
        at.text_input(key="login_username").input(username)
        at.text_input(key="login_password").input(PASSWORD)
    at = at.button[0].click().run()
    assert_clean(at)
    return at


def _agents_on_trace_list(at: AppTest) -> list[str]:
    return sorted(a.split()[0] for a in frames(at)[0]["agent"])


def test_entries_name_projects_and_keep_todays_meaning():
    hashed = hash_password(PASSWORD, iterations=1000)
    config = AuthConfig.from_settings(DashboardSettings(
        users=f"ana:viewer:alpha+beta:{hashed},old:admin:{hashed},all:viewer:*:{hashed},bad:viewer:Bad!:{hashed}",
        api_keys=f"ci:viewer:beta:{hash_api_key('k-beta-1')},legacy:operator:{hash_api_key('k-legacy-1')}"))
    assert [(c.name, c.projects) for c in config.users] == [("ana", ("alpha", "beta")), ("old", None), ("all", None)]
    assert authenticate(config, "ana", PASSWORD).projects == ("alpha", "beta")
    assert authenticate(config, "old", PASSWORD).projects is None  # no projects named: every project, as before
    assert authenticate(config, api_key="k-beta-1").projects == ("beta",)
    assert authenticate(config, api_key="k-legacy-1").projects is None


def test_oidc_projects_from_claims_fail_closed():
    settings = DashboardSettings(oidc_issuer="http://idp", oidc_client_id="c", oidc_client_secret="s",
                                 oidc_roles="viewer=staff", oidc_projects="alpha=team-alpha,beta=team-beta,*=ops")
    config = oidc.OidcConfig.from_settings(settings)
    assert config is not None
    assert oidc.projects_from_claims(config, {"groups": ["staff", "team-beta", "team-alpha"]}) == ("alpha", "beta")
    assert oidc.projects_from_claims(config, {"groups": "staff team-alpha"}) == ("alpha",)
    assert oidc.projects_from_claims(config, {"groups": ["staff"]}) == ()  # mapped to none: nothing
    assert oidc.projects_from_claims(config, {}) == ()
    assert oidc.projects_from_claims(config, {"groups": ["ops"]}) is None  # "*": every project
    unmapped = oidc.OidcConfig.from_settings(DashboardSettings(oidc_issuer="http://idp", oidc_client_id="c",
                                                               oidc_client_secret="s", oidc_roles="viewer=staff"))
    assert unmapped is not None and oidc.projects_from_claims(unmapped, {"groups": ["staff"]}) is None  # as before
    other_claim = oidc.OidcConfig.from_settings(
        DashboardSettings(oidc_issuer="http://idp", oidc_client_id="c", oidc_client_secret="s",
                          oidc_projects="alpha=a", oidc_projects_claim="teams"))
    assert other_claim is not None and oidc.projects_from_claims(other_claim, {"teams": ["a"], "groups": []}) == ("alpha",)
    for bad in ("alpha", "Alpha!=g", "alpha="):
        with pytest.raises(ValueError, match="AGENTOTEL_OIDC_PROJECTS entry"):
            oidc.parse_projects(bad)


@pytest.mark.slow
def test_password_users_see_only_their_project(two_projects, monkeypatch):
    dashboard_env(monkeypatch, two_projects.url, **{USERS_ENV: _users()})
    for user, project, other in (("ana", "alpha", "beta"), ("bo", "beta", "alpha")):
        at = _signed_in("traces", user)
        assert _agents_on_trace_list(at) == [f"{project}-agent"] * TRACES[project]
        shown = " ".join(str(e.value) for e in (*at.text, *at.code, *at.markdown, *at.caption))
        assert f"{other}-agent" not in shown and f"Projects: {project}" in shown

        at = _signed_in("overview", user)
        kpi = metrics(at)
        assert kpi["Executions"] == str(TRACES[project]) and kpi["LLM calls"] == str(2 * TRACES[project])
        assert kpi["Active agents"] == "1"
        assert set(frames(at)[0]["agent"]) == {f"{project}-agent"}  # top agents
    at = _signed_in("traces", "root")  # an entry without projects reads every project, as before
    assert _agents_on_trace_list(at) == ["alpha-agent"] * 3 + ["beta-agent"] * 2
    logins = [(e["actor"], e["target"]) for e in security_audit.audit_log(two_projects.engine) if e["action"] == "login"]
    assert ("ana", "password, role viewer, projects alpha") in logins
    assert ("root", "password, role admin") in logins


@pytest.mark.slow
def test_api_key_user_of_beta_sees_beta_only(two_projects, monkeypatch):
    dashboard_env(monkeypatch, two_projects.url, **{API_KEYS_ENV: f"ci:viewer:beta:{hash_api_key('key-of-beta-1')}"})
    at = _signed_in("traces", api_key="key-of-beta-1")
    assert _agents_on_trace_list(at) == ["beta-agent"] * TRACES["beta"]
    at = _signed_in("overview", api_key="key-of-beta-1")
    assert metrics(at)["Executions"] == str(TRACES["beta"])
    assert set(frames(at)[0]["agent"]) == {"beta-agent"}


def _oidc_page(page: str, groups: list[str]) -> AppTest:
    at = AppTest.from_file(str(VIEWS / f"{page}.py"), default_timeout=90)
    at.user = {"is_logged_in": True, "email": "olga@example.test", "sub": "u-olga", "groups": groups}
    at = at.run()
    assert_clean(at)
    return at


@pytest.mark.slow
def test_oidc_user_sees_the_projects_of_their_groups_and_none_without(two_projects, monkeypatch):
    dashboard_env(monkeypatch, two_projects.url, **OIDC_ENV)
    at = _oidc_page("traces", ["staff", "team-alpha"])
    assert "olga@example.test (viewer)" in [t.value for t in at.sidebar.text]
    assert _agents_on_trace_list(at) == ["alpha-agent"] * TRACES["alpha"]
    at = _oidc_page("overview", ["staff", "team-alpha"])
    assert metrics(at)["Executions"] == str(TRACES["alpha"])

    at = _oidc_page("traces", ["staff"])  # a role, but no group of a project: signed in, sees nothing
    assert "olga@example.test (viewer)" in [t.value for t in at.sidebar.text]
    assert not frames(at) or frames(at)[0].empty
    shown = " ".join(str(e.value) for e in (*at.text, *at.code, *at.markdown, *at.caption, *at.info))
    assert "alpha-agent" not in shown and "beta-agent" not in shown and "No project" in shown
    at = _oidc_page("overview", ["staff"])
    assert not metrics(at) and any(i.value.startswith("No telemetry") for i in at.info)  # the empty state


@pytest.mark.slow
@pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI", "") == "",
                    reason="Debian chromium is not installed (.ci/system-packages installs it)")
def test_oidc_projects_through_a_real_provider_in_chromium(tmp_path):
    """``agentotel dashboard`` against the loopback OIDC provider (Authlib, signed ID tokens): a person whose
    ``groups`` claim holds alpha's group sees alpha's executions only; one with a role but no project's group
    sees none."""
    from playwright.sync_api import expect

    from agentotel.warehouse.engine import create_db_engine
    from agentotel.warehouse.migrate import upgrade
    from tests.conftest import free_port
    from tests.dashboard.test_browser import chromium, start_dashboard, stop
    from tests.dashboard.test_oidc_browser import CLIENT_ID, _sign_in_with_sso
    from tests.support.oidc_provider import OidcProvider

    url = f"sqlite:///{tmp_path}/warehouse.db"
    engine = create_db_engine(url)
    upgrade(engine)
    _seed(engine)
    port = free_port()
    client_secret = secrets.token_urlsafe(24)
    olga = {"sub": "u-olga", "email": "olga@example.test", "groups": ["staff", "team-alpha"]}
    provider = OidcProvider(CLIENT_ID, client_secret, f"http://127.0.0.1:{port}/oauth2callback", olga)
    env = {**OIDC_ENV, "AGENTOTEL_OIDC_ISSUER": provider.issuer, "AGENTOTEL_OIDC_CLIENT_ID": CLIENT_ID,
           "AGENTOTEL_OIDC_CLIENT_SECRET": client_secret, "AGENTOTEL_OIDC_COOKIE_SECRET": secrets.token_urlsafe(32)}
    process, base = start_dashboard(url, tmp_path, port, **env)
    try:
        with chromium() as browser:
            page = _sign_in_with_sso(browser.new_context(viewport={"width": 1300, "height": 900}), base)
            page.get_by_text("olga@example.test (viewer)", exact=True).wait_for(timeout=60_000)
            page.get_by_text("Projects: alpha", exact=True).wait_for(timeout=60_000)
            executions = page.locator('[data-testid="stMetric"]', has_text="Executions")
            expect(executions).to_contain_text(str(TRACES["alpha"]), timeout=60_000)
            expect(page.locator('[data-testid="stMetric"]', has_text="Active agents")).to_contain_text("1")
            page.close()

            provider.user = {"sub": "u-nils", "email": "nils@example.test", "groups": ["staff"]}
            page = _sign_in_with_sso(browser.new_context(viewport={"width": 1300, "height": 900}), base)
            page.get_by_text("nils@example.test (viewer)", exact=True).wait_for(timeout=60_000)
            page.get_by_text("No project", exact=False).first.wait_for(timeout=60_000)
            page.get_by_text("No telemetry in this time range", exact=False).wait_for(timeout=60_000)
            assert page.locator('[data-testid="stMetric"]').count() == 0
        logins = [(e["actor"], e["target"]) for e in security_audit.audit_log(engine) if e["action"] == "login"]
        assert ("olga@example.test", "oidc, role viewer, projects alpha") in logins
        assert ("nils@example.test", "oidc, role viewer, no project") in logins
    finally:
        stop(process)
        provider.stop()
        engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_for_a_user_of_one_project(two_projects, monkeypatch, page):
    """No page fails for a scoped reader (on PostgreSQL the reader role may read the scoped tables only), and
    none shows the other project's agent."""
    dashboard_env(monkeypatch, two_projects.url, **{USERS_ENV: _users()})
    at = _signed_in(page, "ana")
    shown = " ".join(str(e.value) for e in (*at.text, *at.code, *at.markdown, *at.caption, *at.info))
    shown += " ".join(frame.to_string() for frame in frames(at))
    assert "beta-agent" not in shown and "beta-svc" not in shown


@pytest.mark.slow
def test_alerts_of_another_project_are_neither_listed_nor_acted_on(two_projects, monkeypatch):
    dashboard_env(monkeypatch, two_projects.url, **{USERS_ENV: _users()})
    at = _signed_in("alerts", "ana")
    listed = " ".join(frame.to_string() for frame in frames(at))
    assert "alpha-agent" in listed and "beta-agent" not in listed
    assert metrics(at)["Firing"] == "1"
    alpha = data.reader_url(two_projects.url, ["alpha"])
    with pytest.raises(ValueError, match="no alert"):  # beta's alert, by its id, through alpha's reader
        data.acknowledge_alert(alpha, two_projects.alerts["beta"], "ana")
    assert data.acknowledge_alert(alpha, two_projects.alerts["alpha"], "ana")["acknowledged_by"] == "ana"
    states = {row["id"]: row["acknowledged"] for row in alert_queries.alerts(two_projects.engine)}
    assert states == {two_projects.alerts["alpha"]: True, two_projects.alerts["beta"]: False}


@pytest.mark.slow
def test_a_trace_of_another_project_does_not_open_by_its_id(two_projects, monkeypatch):
    dashboard_env(monkeypatch, two_projects.url, **{USERS_ENV: _users()})
    ana = {SESSION_KEY: {"name": "ana", "role": "viewer", "projects": ["alpha"]}}
    at = open_page("traces", {"trace": two_projects.traces["alpha"]}, **ana)
    assert_clean(at)
    assert len(frames(at)[0]) == 4  # the span tree of alpha's trace
    at = open_page("traces", {"trace": two_projects.traces["beta"]}, **ana)
    assert_clean(at)
    assert any("No trace with this id" in w.value for w in at.warning)
    assert "beta-agent" not in " ".join(str(e.value) for e in (*at.text, *at.code, *at.markdown, *at.caption))


@pytest.mark.slow
def test_a_user_of_two_projects_picks_one(two_projects, monkeypatch):
    dashboard_env(monkeypatch, two_projects.url, **{USERS_ENV: _users()})
    both = {SESSION_KEY: {"name": "cy", "role": "viewer", "projects": ["alpha", "beta"]}}
    at = open_page("traces", **both)
    assert_clean(at)
    assert _agents_on_trace_list(at) == ["alpha-agent"] * 3 + ["beta-agent"] * 2
    at.sidebar.selectbox(key="project").set_value("beta").run()
    assert_clean(at)
    assert _agents_on_trace_list(at) == ["beta-agent"] * TRACES["beta"]
    at = open_page("overview", **both, _kept_project="beta")  # the choice holds on the next page
    assert metrics(at)["Executions"] == str(TRACES["beta"])


def test_registry_actions_act_in_the_one_project_read(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/warehouse.db"
    dashboard_env(monkeypatch, url)
    assert data._versions(data.reader_url(url, ["alpha"])).project == "alpha"
    assert data._versions(url).project is None  # a reader of every project: as before
    for projects in (["alpha", "beta"], []):
        with pytest.raises(ValueError, match="pick one project"):
            data.promote(data.reader_url(url, projects), "alpha-agent", "1.0.0", "dev", actor="cy", reason=None,
                         override_reason=None, expected_active=None)
