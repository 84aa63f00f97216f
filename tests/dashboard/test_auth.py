"""Login and roles (P5, S5): with auth on, no page shows data before a login; secrets are stored and
compared hashed and never shown."""

from __future__ import annotations

import pytest

from agentotel.dashboard import auth
from agentotel.dashboard.auth import API_KEYS_ENV, USERS_ENV, AuthConfig, hash_api_key, hash_password
from tests.dashboard.support import PAGES, dashboard_env
from tests.dashboard.test_pages import assert_clean, frames, run_page

PASSWORD = "correct horse battery staple"
USERS = f"ana:admin:{hash_password(PASSWORD, iterations=1000)}"


def test_password_hash_round_trip_and_rejections():
    encoded = hash_password(PASSWORD, iterations=1000)
    assert encoded.startswith("pbkdf2_sha256$1000$") and PASSWORD not in encoded
    assert auth.verify_password(PASSWORD, encoded)
    assert not auth.verify_password(PASSWORD + " ", encoded)
    assert not auth.verify_password(PASSWORD, "pbkdf2_sha256$x$y")  # malformed: no exception, no access
    assert hash_password(PASSWORD, iterations=1000) != encoded  # salted


def test_config_from_env_and_files(tmp_path, monkeypatch):
    users_file = tmp_path / "users"
    users_file.write_text(f"{USERS}\nbroken-entry\nbob:superuser:{hash_password('x', iterations=1000)}\n")
    monkeypatch.delenv(USERS_ENV, raising=False)
    monkeypatch.setenv(f"{USERS_ENV}_FILE", str(users_file))
    monkeypatch.setenv(API_KEYS_ENV, f"ci:operator:{hash_api_key('key-1')}")
    config = AuthConfig.from_env()
    assert config.enabled
    assert [(c.name, c.role) for c in config.users] == [("ana", "admin")]  # bad entries skipped
    assert auth.authenticate(config, "ana", PASSWORD) == auth.User("ana", "admin")
    assert auth.authenticate(config, "ana", "wrong") is None
    assert auth.authenticate(config, "nobody", PASSWORD) is None
    assert auth.authenticate(config, api_key="key-1") == auth.User("ci", "operator")
    assert auth.authenticate(config, api_key="key-2") is None


def test_auth_off_means_local_operator(monkeypatch):
    for name in (USERS_ENV, API_KEYS_ENV, f"{USERS_ENV}_FILE", f"{API_KEYS_ENV}_FILE", auth.ANONYMOUS_ROLE_ENV):
        monkeypatch.delenv(name, raising=False)
    assert not AuthConfig.from_env().enabled
    assert AuthConfig.from_env().anonymous_role == "operator"
    monkeypatch.setenv(auth.ANONYMOUS_ROLE_ENV, "viewer")
    assert AuthConfig.from_env().anonymous_role == "viewer"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_every_page_requires_login_when_auth_is_on(seeded, monkeypatch, page):
    dashboard_env(monkeypatch, seeded.url, **{USERS_ENV: USERS})
    at = run_page(page)
    assert not at.exception
    assert [t.value for t in at.title] == ["Sign in to agentotel"]
    assert not at.dataframe and not at.metric and not at.get("vega_lite_chart")
    shown = " ".join(e.value for e in (*at.text, *at.code, *at.markdown) if isinstance(e.value, str))
    assert "support-agent" not in shown and "sql-agent" not in shown


def test_login_wrong_then_right(seeded, monkeypatch):
    dashboard_env(monkeypatch, seeded.url, **{USERS_ENV: USERS})
    at = run_page("overview")
    at.text_input(key="login_username").input("ana")
    at.text_input(key="login_password").input("guess")
    at = at.button[0].click().run()
    assert any("Wrong user name" in e.value for e in at.error)
    assert not at.metric
    at.text_input(key="login_username").input("ana")
    at.text_input(key="login_password").input(PASSWORD)
    at = at.button[0].click().run()
    assert_clean(at)
    assert {m.label: m.value for m in at.metric}["Executions"] == "10"
    assert "ana (admin)" in [t.value for t in at.sidebar.text]
    everything = " ".join(str(e.value) for e in (*at.text, *at.code, *at.markdown, *at.caption))
    assert PASSWORD not in everything and "pbkdf2" not in everything  # S5: no secret on screen
    assert len(frames(at)) == 2


def test_admin_sees_the_audit_trail_operator_does_not(seeded, monkeypatch):
    keys = ",".join([f"root:admin:{hash_api_key('admin-key-1')}", f"ops:operator:{hash_api_key('ops-key-1')}"])
    dashboard_env(monkeypatch, seeded.url, **{API_KEYS_ENV: keys})
    for key, sees in (("admin-key-1", True), ("ops-key-1", False)):
        at = run_page("system")
        at.text_input(key="login_api_key").input(key)
        at = at.button[0].click().run()
        assert_clean(at)
        trails = [d.value for d in at.dataframe if {"source", "actor", "action"} <= set(d.value.columns)]
        assert bool(trails) is sees
        if sees:
            trail = trails[0]
            assert {("registry", "seed", "promote"), ("alerting", "seed", "create")} <= set(
                zip(trail["source"], trail["actor"], trail["action"]))
