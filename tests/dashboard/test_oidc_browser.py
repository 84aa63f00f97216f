"""OIDC login of the dashboard in Chromium (issue 20 point 3): ``agentotel dashboard`` configured with
``AGENTOTEL_OIDC_*`` against a real OpenID Connect provider on loopback (tests/support/oidc_provider.py,
Authlib: authorization code with PKCE S256, discovery, JWKS, RS256 ID tokens). The login redirect and
callback sign the user in with the role its ``groups`` claim maps to, the login is audited, sign-out signs out;
an expired ID token, one for another audience and one with a bad signature are refused (the visitor stays on the
sign-in page; each refusal is in the security audit log), and a user whose groups map to no role gets no access.
The password form stays beside SSO.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from agentotel.dashboard.auth import USERS_ENV, hash_password
from agentotel.warehouse import security_audit
from agentotel.warehouse.engine import create_db_engine
from agentotel.warehouse.migrate import upgrade
from tests.conftest import free_port
from tests.dashboard.test_browser import CHROMIUM, chromium, start_dashboard, stop, wait_idle
from tests.support.oidc_provider import OidcProvider
from tests.support.polling import wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists() and os.environ.get("CI", "") == "",
                       reason="Debian chromium is not installed (.ci/system-packages installs it)"),
]

CLIENT_ID = "agentotel-dashboard"
ANA = {"sub": "u-ana", "email": "ana@example.test", "name": "Ana", "groups": ["obs-admins", "staff"]}


def _sign_in_with_sso(context, base: str):
    """A page of the browser ``context`` (its own cookies) that clicked single sign-on on the sign-in page."""
    page = context.new_page()
    page.goto(base + "/", wait_until="domcontentloaded")
    page.get_by_text("Sign in to agentotel", exact=True).wait_for(timeout=60_000)
    page.get_by_role("button", name="Sign in with single sign-on").click()
    return page


def test_oidc_login_roles_logout_and_refused_tokens(tmp_path):
    url = f"sqlite:///{tmp_path}/warehouse.db"
    engine = create_db_engine(url)
    upgrade(engine)
    port = free_port()
    client_secret = secrets.token_urlsafe(24)
    provider = OidcProvider(CLIENT_ID, client_secret, f"http://127.0.0.1:{port}/oauth2callback", dict(ANA))
    env = {
        "AGENTOTEL_OIDC_ISSUER": provider.issuer, "AGENTOTEL_OIDC_CLIENT_ID": CLIENT_ID,
        "AGENTOTEL_OIDC_CLIENT_SECRET": client_secret, "AGENTOTEL_OIDC_COOKIE_SECRET": secrets.token_urlsafe(32),
        "AGENTOTEL_OIDC_ROLES": "viewer=staff,admin=obs-admins,operator=obs-ops",
        USERS_ENV: f"bob:viewer:{hash_password('pw-bob-123456', iterations=1000)}",  # passwords stay
    }
    process, base = start_dashboard(url, tmp_path, port, **env)
    try:
        with chromium() as browser:
            page = _sign_in_with_sso(browser.new_context(viewport={"width": 1300, "height": 900}), base)
            page.get_by_text("ana@example.test (admin)", exact=True).wait_for(timeout=60_000)  # the highest role
            assert "authorize: code issued (PKCE S256)" in provider.log
            assert "token: id_token issued (ok, PKCE verified)" in provider.log
            assert page.get_by_label("User name").count() == 0
            wait_idle(page)
            assert ("ana@example.test", "login", "oidc, role admin", "ok") in [
                (e["actor"], e["action"], e["target"], e["outcome"]) for e in security_audit.audit_log(engine)]
            # st.logout: the page reruns signed out, then navigates to /auth/logout, which clears the cookie and
            # redirects home; the reload below must not race that navigation (it left a blank page now and then).
            # Its arrival home is what counts ("commit"): the page's own load is awaited through its text below
            with page.expect_navigation(url=base + "/", wait_until="commit", timeout=60_000):
                page.get_by_role("button", name="Sign out").click()
            page.get_by_text("Sign in to agentotel", exact=True).wait_for(timeout=60_000)
            page.goto(base + "/", wait_until="domcontentloaded")  # a reload does not sign back in
            page.get_by_text("Sign in to agentotel", exact=True).wait_for(timeout=60_000)
            assert page.get_by_text("ana@example.test (admin)").count() == 0
            page.close()

            for mode in ("expired", "wrong_audience", "bad_signature"):
                provider.mode = mode
                context = browser.new_context()
                issued = f"token: id_token issued ({mode}, PKCE verified)"
                page = _sign_in_with_sso(context, base)
                assert wait_for(lambda issued=issued: issued in provider.log, timeout=60), provider.log  # reached the token
                page.wait_for_url(lambda u: "oauth2callback" not in u and "/auth/" not in u, timeout=60_000)
                page.get_by_text("Sign in to agentotel", exact=True).wait_for(timeout=60_000)  # back, signed out
                wait_idle(page)
                assert page.get_by_text("(admin)").count() == 0, mode
                context.close()
            # each refused token is in the audit log with Authlib's reason (before any claim is trusted: no actor)
            refused = [e["target"] for e in security_audit.audit_log(engine)
                       if (e["actor"], e["action"], e["outcome"]) == ("?", "login_failed", "refused")]
            assert len(refused) == 3 and all(t.startswith("oidc: token refused (") for t in refused), refused
            assert any("expired_token" in t for t in refused) and any("bad_signature" in t for t in refused)
            assert any("claim" in t for t in refused), refused  # another audience: Authlib refuses its claims

            provider.mode = "ok"
            provider.user = {"sub": "u-eve", "email": "eve@example.test", "groups": ["contractors"]}
            context = browser.new_context()
            page = _sign_in_with_sso(context, base)
            page.get_by_text("No access to agentotel", exact=True).wait_for(timeout=60_000)
            context.close()
            entries = [(e["actor"], e["action"], e["outcome"]) for e in security_audit.audit_log(engine)]
            assert ("eve@example.test", "login_failed", "refused") in entries
            assert ("ana@example.test", "logout", "ok") in entries
    finally:
        stop(process)
        provider.stop()
        engine.dispose()
