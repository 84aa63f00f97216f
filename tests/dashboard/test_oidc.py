"""OIDC settings of the dashboard (dashboard/oidc.py): roles from a claim, the secrets Streamlit reads, and the
command's refusal of an incomplete configuration. The login itself runs in Chromium (test_oidc_browser.py)."""

from __future__ import annotations

import pytest
import tomllib

from agentotel.core.errors import CommandError
from agentotel.core.settings import DashboardSettings
from agentotel.dashboard.cli import write_oidc_secrets
from agentotel.dashboard.oidc import OidcConfig, parse_roles, role_from_claims, user_name

SETTINGS = DashboardSettings(oidc_issuer="https://idp.example.test/realms/x/", oidc_client_id="dash",
                             oidc_client_secret="s3cret-value", oidc_roles="viewer=staff, admin=ops-admins,operator=ops")


def test_roles_from_the_claim_highest_wins():
    config = OidcConfig.from_settings(SETTINGS)
    assert config is not None and config.metadata_url == "https://idp.example.test/realms/x/.well-known/openid-configuration"
    assert config.redirect_uri == "http://127.0.0.1:8501/oauth2callback"
    assert role_from_claims(config, {"groups": ["staff", "ops-admins"]}) == "admin"
    assert role_from_claims(config, {"groups": "ops staff"}) == "operator"  # a string claim: spaces or commas
    assert role_from_claims(config, {"groups": ["contractors"]}) is None
    assert role_from_claims(config, {}) is None
    assert user_name({"sub": "u1", "email": "a@example.test"}) == "a@example.test" and user_name({"sub": "u1"}) == "u1"
    with pytest.raises(ValueError, match="ROLE=GROUP"):
        parse_roles("root=wheel")


def test_secrets_file_is_private_and_what_streamlit_reads(tmp_path):
    path = write_oidc_secrets(SETTINGS, str(tmp_path))
    assert path is not None and (tmp_path / "secrets.toml").stat().st_mode & 0o777 == 0o600
    auth = tomllib.loads((tmp_path / "secrets.toml").read_text())["auth"]
    assert auth["client_id"] == "dash" and auth["client_secret"] == "s3cret-value"
    assert auth["server_metadata_url"].endswith("/.well-known/openid-configuration")
    assert auth["redirect_uri"].endswith("/oauth2callback") and len(auth["cookie_secret"]) >= 32
    assert write_oidc_secrets(DashboardSettings(), str(tmp_path / "none")) is None
    with pytest.raises(CommandError, match="CLIENT_SECRET"):
        write_oidc_secrets(DashboardSettings(oidc_issuer="https://idp.example.test"), str(tmp_path))
