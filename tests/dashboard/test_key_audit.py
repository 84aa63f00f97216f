"""Issue 20 point 5: API-key creation, rotation and revocation (``agentotel keys``) reach the audit trail of
the System page, shown to admins (AppTest, SQLite and PostgreSQL); the key itself appears nowhere."""

from __future__ import annotations

import pytest

from agentotel.cli import main
from agentotel.dashboard.auth import API_KEYS_ENV, hash_api_key
from agentotel.warehouse.api_keys import list_keys
from agentotel.warehouse.engine import create_db_engine
from tests.dashboard.support import dashboard_env
from tests.dashboard.test_pages import assert_clean, run_page


@pytest.mark.slow
def test_key_operations_are_in_the_admin_audit_trail(db_url, monkeypatch, capsys):
    assert main(["keys", "create", "--project", "alpha", "--scope", "ingest", "--actor", "ana", "--db", db_url]) == 0
    created = capsys.readouterr().out.split()[-1]
    engine = create_db_engine(db_url)
    (key,) = list_keys(engine)
    assert main(["keys", "rotate", key.id, "--actor", "ana", "--db", db_url]) == 0
    rotated = capsys.readouterr().out.split()[-1]
    (new,) = list_keys(engine)
    assert main(["keys", "revoke", new.id, "--actor", "bob", "--db", db_url]) == 0
    assert main(["keys", "revoke", new.id, "--db", db_url]) == 2  # revoked already: one line, exit 2
    assert "is revoked" in capsys.readouterr().err
    assert list_keys(engine) == [] and len(list_keys(engine, include_revoked=True)) == 2
    engine.dispose()

    dashboard_env(monkeypatch, db_url, **{API_KEYS_ENV: f"root:admin:{hash_api_key('admin-key-1')}"})
    at = run_page("system")
    at.text_input(key="login_api_key").input("admin-key-1")
    at = at.button[0].click().run()
    assert_clean(at)
    (trail,) = [d.value for d in at.dataframe if {"source", "actor", "action"} <= set(d.value.columns)]
    keys = trail[trail["source"] == "keys"]
    assert set(zip(keys["actor"], keys["action"], keys["target"])) == {
        ("ana", "create-project", "project alpha key -"),
        ("ana", "create", f"project alpha key {key.id}"),
        ("ana", "rotate", f"project alpha key {key.id}"),
        ("bob", "revoke", f"project alpha key {new.id}"),
    }
    shown = trail.to_string()
    assert created not in shown and rotated not in shown
