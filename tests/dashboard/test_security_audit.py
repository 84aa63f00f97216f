"""Issue 20 point 5 on the dashboard (Streamlit AppTest, SQLite and PostgreSQL): logins, failed logins and the
decryption of encrypted content by a person are appended to the security audit log and listed to admins only;
with content encrypted at rest the content search is off and says so, and opened content reads in clear."""

from __future__ import annotations

import pytest

from agentotel.core.settings import DatabaseSettings
from agentotel.dashboard.auth import SESSION_KEY, USERS_ENV, hash_password
from agentotel.warehouse import security_audit
from agentotel.warehouse.content_keys import new_master_key
from agentotel.warehouse.engine import create_db_engine
from tests.dashboard.support import dashboard_env
from tests.dashboard.test_explorer import open_page
from tests.dashboard.test_pages import assert_clean, frames, run_page
from tests.support.conversations import SUPPORT_TURNS, write_conversations

PASSWORD = "correct horse battery staple"
USERS = f"ana:admin:{hash_password(PASSWORD, iterations=1000)},vic:viewer:{hash_password(PASSWORD, iterations=1000)}"


@pytest.fixture
def encrypted(db_url, monkeypatch):
    key = new_master_key()
    engine = create_db_engine(db_url, DatabaseSettings(url=db_url, master_key=key))
    facts = write_conversations(engine)
    dashboard_env(monkeypatch, db_url, **{USERS_ENV: USERS, "AGENTOTEL_MASTER_KEY": key})
    yield engine, facts
    engine.dispose()
    from agentotel.dashboard import data

    data.engine(db_url).dispose()


def _entries(engine) -> list[tuple]:
    return [(e["actor"], e["action"], e["target"], e["outcome"]) for e in security_audit.audit_log(engine)]


@pytest.mark.slow
def test_logins_and_decryptions_are_audited_and_shown_to_admins(encrypted):
    engine, facts = encrypted
    at = run_page("overview")
    at.text_input(key="login_username").input("ana")
    at.text_input(key="login_password").input("guess")
    at = at.button[0].click().run()
    assert any("Wrong user name" in e.value for e in at.error)
    at.text_input(key="login_username").input("ana")
    at.text_input(key="login_password").input(PASSWORD)
    at = at.button[0].click().run()
    assert_clean(at)
    assert _entries(engine) == [("ana", "login", "password, role admin", "ok"),
                                ("ana", "login_failed", "password", "refused")]
    assert not any(PASSWORD in str(e) or "guess" in str(e) for e in security_audit.audit_log(engine))

    trace_id = facts.traces["support-0"]
    admin = {SESSION_KEY: {"name": "ana", "role": "admin"}}
    at = open_page("traces", {"trace": trace_id}, **admin)
    assert_clean(at)
    shown = " ".join(str(e.value) for e in (*at.text, *at.code, *at.markdown, *at.caption))
    assert SUPPORT_TURNS[0][0] in shown and "agentotel:enc:" not in shown  # opened content reads in clear
    at.run()  # a rerun of the same trace is not audited again
    assert ("ana", "decrypt_content", f"trace {trace_id}", "ok") in _entries(engine)
    assert sum(1 for e in _entries(engine) if e[1] == "decrypt_content") == 1

    at = open_page("traces", **admin)  # the list: its content search is off
    search = at.sidebar.text_input(key="tr_text")
    assert search.disabled and any("search in content is off" in c.value for c in at.sidebar.caption)

    at = run_page("system", **admin)
    assert_clean(at)
    trail = next(f for f in frames(at) if "source" in f and "action" in f)
    assert {"login", "login_failed", "decrypt_content"} <= set(trail.loc[trail["source"] == "security", "action"])
    at = run_page("system", **{SESSION_KEY: {"name": "vic", "role": "viewer"}})
    assert_clean(at)
    assert not any("source" in f and "action" in f for f in frames(at))  # viewers do not see the audit trail
