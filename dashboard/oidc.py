"""OIDC login of the dashboard: Streamlit's native ``st.login`` (Authlib: authorization-code flow, PKCE S256
when the provider offers it, the ID token's signature, issuer, audience, expiry and nonce checked), configured
from ``DashboardSettings`` and roles mapped from a claim.

- ``AGENTOTEL_OIDC_ISSUER`` (its ``/.well-known/openid-configuration`` is read), ``AGENTOTEL_OIDC_CLIENT_ID``,
  ``AGENTOTEL_OIDC_CLIENT_SECRET`` / ``_FILE``, ``AGENTOTEL_OIDC_COOKIE_SECRET`` / ``_FILE`` (signs the login
  cookie; random per start when unset, which signs everyone out at a restart), ``AGENTOTEL_OIDC_REDIRECT_URI``
  (default ``http://HOST:PORT/oauth2callback``; register it with the provider);
- ``AGENTOTEL_OIDC_ROLES_CLAIM`` (default ``groups``: a list or a comma/space separated string) and
  ``AGENTOTEL_OIDC_ROLES`` = ``admin=GROUP,operator=GROUP,viewer=GROUP``: a user gets the highest role whose
  group is in the claim; a user with none of them is signed in to the provider but refused by the dashboard;
- ``AGENTOTEL_OIDC_PROJECTS`` = ``PROJECT=GROUP,…`` (``*=GROUP``: every project) from
  ``AGENTOTEL_OIDC_PROJECTS_CLAIM`` (default: the roles claim): the projects whose group is in the claim are the
  ones a user reads; when it is set, a user whose groups map to none reads nothing (fail closed). Unset, every
  user reads every project (as before projects existed).

Streamlit reads this configuration from a ``secrets.toml``: ``secrets_toml`` writes it, and ``agentotel
dashboard`` hands it to Streamlit in a private file (``--secrets.files``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentotel.core.projects import check_project_name
from agentotel.core.settings import DashboardSettings

ROLES = ("viewer", "operator", "admin")


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    cookie_secret: str
    roles_claim: str = "groups"
    role_groups: tuple[tuple[str, str], ...] = ()  # (role, group), highest role first
    projects_claim: str = "groups"
    project_groups: tuple[tuple[str, str], ...] = ()  # (project or ALL_PROJECTS, group); none: every project

    @classmethod
    def from_settings(cls, settings: DashboardSettings) -> OidcConfig | None:
        """The OIDC login of ``settings``, or None when no issuer is set; ValueError when it is incomplete."""
        if not settings.oidc_issuer:
            return None
        if not settings.oidc_client_id or not settings.oidc_client_secret:
            raise ValueError("OIDC login needs AGENTOTEL_OIDC_CLIENT_ID and AGENTOTEL_OIDC_CLIENT_SECRET")
        return cls(
            issuer=settings.oidc_issuer.rstrip("/"),
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret,
            redirect_uri=settings.oidc_redirect_uri or f"http://{settings.host}:{settings.port}/oauth2callback",
            cookie_secret=settings.oidc_cookie_secret or secrets.token_urlsafe(32),
            roles_claim=settings.oidc_roles_claim,
            role_groups=parse_roles(settings.oidc_roles),
            projects_claim=settings.oidc_projects_claim or settings.oidc_roles_claim,
            project_groups=parse_projects(settings.oidc_projects),
        )

    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def parse_roles(raw: str) -> tuple[tuple[str, str], ...]:
    """``admin=GROUP,operator=GROUP`` → ((role, group), …), highest role first; ValueError on a bad entry."""
    pairs: list[tuple[str, str]] = []
    for entry in (p.strip() for p in raw.replace("\n", ",").split(",")):
        if not entry:
            continue
        role, sep, group = entry.partition("=")
        role = role.strip().lower()
        if not sep or role not in ROLES or not group.strip():
            raise ValueError(f"AGENTOTEL_OIDC_ROLES entry {entry!r} is not ROLE=GROUP with a role of {', '.join(ROLES)}")
        pairs.append((role, group.strip()))
    return tuple(sorted(pairs, key=lambda pair: -ROLES.index(pair[0])))


ALL_PROJECTS = "*"


def parse_projects(raw: str) -> tuple[tuple[str, str], ...]:
    """``PROJECT=GROUP,*=GROUP`` → ((project, group), …); ValueError on a bad entry or project name."""
    pairs: list[tuple[str, str]] = []
    for entry in (p.strip() for p in raw.replace("\n", ",").split(",")):
        if not entry:
            continue
        project, sep, group = entry.partition("=")
        project = project.strip()
        try:
            if not sep or not group.strip():
                raise ValueError("no group")
            if project != ALL_PROJECTS:
                check_project_name(project)
        except ValueError:
            raise ValueError(f"AGENTOTEL_OIDC_PROJECTS entry {entry!r} is not PROJECT=GROUP (PROJECT a project "
                             f"name or {ALL_PROJECTS})") from None
        pairs.append((project, group.strip()))
    return tuple(pairs)


def _claim_values(value: Any) -> set[str]:
    if isinstance(value, str):
        return set(value.replace(",", " ").split())
    if isinstance(value, (list, tuple)):
        return {str(item) for item in value}
    return set()


def role_from_claims(config: OidcConfig, claims: Mapping[str, Any]) -> str | None:
    """The highest role whose group is in the roles claim, else None (no access)."""
    groups = _claim_values(claims.get(config.roles_claim))
    for role, group in config.role_groups:
        if group in groups:
            return role
    return None


def projects_from_claims(config: OidcConfig, claims: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The projects whose group is in the projects claim (sorted; empty: none, fail closed), or None (every
    project) when no project mapping is configured or a ``*`` entry's group is in the claim."""
    if not config.project_groups:
        return None
    groups = _claim_values(claims.get(config.projects_claim))
    matched = {project for project, group in config.project_groups if group in groups}
    return None if ALL_PROJECTS in matched else tuple(sorted(matched))


def user_name(claims: Mapping[str, Any]) -> str:
    """A person's name for the session and the audit log: email, preferred username, name, else the subject."""
    for key in ("email", "preferred_username", "name", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value:
            return value
    return "?"


def secrets_toml(config: OidcConfig) -> str:
    """The ``[auth]`` section Streamlit's ``st.login`` reads (TOML; strings JSON-quoted, valid TOML basic strings)."""
    values = {
        "redirect_uri": config.redirect_uri,
        "cookie_secret": config.cookie_secret,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "server_metadata_url": config.metadata_url,
    }
    lines = ["[auth]", *(f"{key} = {json.dumps(value)}" for key, value in values.items())]
    lines += ["", "[auth.client_kwargs]", 'scope = "openid profile email"']
    return "\n".join(lines) + "\n"
