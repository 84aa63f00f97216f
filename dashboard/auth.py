"""Login and roles for the dashboard.

Users and API keys come from the environment (or ``NAME_FILE``), never in plain text:

- ``AGENTOTEL_DASHBOARD_USERS``: ``name:role:pbkdf2_sha256$ITERATIONS$SALT$HASH`` entries separated by
  commas or newlines (make one with ``agentotel dashboard --hash-password``);
- ``AGENTOTEL_DASHBOARD_API_KEYS``: ``name:role:sha256:HEX`` entries (``agentotel dashboard --hash-api-key``).

An entry may name the projects its user reads between role and hash: ``name:role:shop+search:HASH``
(``*``: every project); an entry without them reads every project. OIDC users get theirs from token claims
(``dashboard/oidc.py``). Every read of a user with projects goes through an engine scoped to them
(``data.reader_url``; ``warehouse.scoping``).

Roles are ``viewer`` < ``operator`` < ``admin``. Auth is on when any user or key is configured; with none,
everyone is ``AGENTOTEL_DASHBOARD_ANONYMOUS_ROLE`` (default ``operator``) named ``local`` — the CLI
refuses that on a non-loopback address. ``DashboardSettings`` (``agentotel.core.settings``) reads the
variables; ``AuthConfig.from_settings`` parses them. Logins, failed logins (an OIDC token Streamlit refused
included: ``audit_refused_tokens``) and logouts (never the secret) are logged and appended to the security audit log; actions are audited by the components they change (alerting, registry)
with the user's name as the actor.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from agentotel.core.projects import check_project_name
from agentotel.core.settings import DASHBOARD_ANONYMOUS_ROLE_ENV as ANONYMOUS_ROLE_ENV
from agentotel.core.settings import DASHBOARD_API_KEYS_ENV as API_KEYS_ENV
from agentotel.core.settings import DASHBOARD_USERS_ENV as USERS_ENV
from agentotel.core.settings import DashboardSettings
from agentotel.dashboard import oidc as sso

logger = logging.getLogger("agentotel.dashboard.auth")

ROLES = ("viewer", "operator", "admin")
PBKDF2_ITERATIONS = 240_000
SESSION_KEY = "agentotel_user"
FAILURES_KEY = "agentotel_login_failures"
OIDC_AUDITED_KEY = "agentotel_oidc_audited"  # the OIDC identity whose login this session has audited
DECRYPTED_KEY = "agentotel_decrypted"  # what this session has read decrypted (audited once each)
MAX_FAILURES_BEFORE_DELAY = 3
ALL_PROJECTS = "*"


@dataclass(frozen=True)
class User:
    name: str
    role: str
    projects: tuple[str, ...] | None = None  # the projects this user reads; None: every project

    def can(self, role: str) -> bool:
        """Whether this user has ``role`` or a higher one."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class Credential:
    name: str
    role: str
    secret_hash: str  # pbkdf2_sha256$… for passwords, sha256:… for API keys
    projects: tuple[str, ...] | None = None  # None: every project


@dataclass(frozen=True)
class AuthConfig:
    users: tuple[Credential, ...] = ()
    api_keys: tuple[Credential, ...] = ()
    anonymous_role: str = "operator"
    oidc: sso.OidcConfig | None = None  # single sign-on (dashboard/oidc.py)

    @property
    def enabled(self) -> bool:
        return bool(self.users or self.api_keys or self.oidc)

    @property
    def passwords(self) -> bool:
        """Whether the name/password and API-key form is offered (some user or key is configured)."""
        return bool(self.users or self.api_keys)

    @classmethod
    def from_settings(cls, settings: DashboardSettings) -> AuthConfig:
        """Users, API keys and the anonymous role of resolved settings; malformed entries are skipped with
        a warning that names the entry's position, never its content."""
        role = settings.anonymous_role
        if role not in ROLES:
            logger.warning("%s must be one of %s; using viewer", ANONYMOUS_ROLE_ENV, ", ".join(ROLES))
            role = "viewer"
        return cls(
            users=tuple(_parse_entries(settings.users, USERS_ENV, "pbkdf2_sha256$")),
            api_keys=tuple(_parse_entries(settings.api_keys, API_KEYS_ENV, "sha256:")),
            anonymous_role=role,
            oidc=_oidc_config(settings),
        )

    @classmethod
    def from_env(cls) -> AuthConfig:
        """``from_settings`` of this process's ``DashboardSettings`` (the dashboard's script run is an edge)."""
        return cls.from_settings(DashboardSettings.from_env())


def _oidc_config(settings: DashboardSettings) -> sso.OidcConfig | None:
    try:
        return sso.OidcConfig.from_settings(settings)
    except ValueError as exc:  # the CLI refuses to start with it; a page run logs it and offers no SSO
        logger.warning("OIDC login is off: %s", exc)
        return None


def _parse_entries(raw: str, source: str, scheme: str) -> list[Credential]:
    out: list[Credential] = []
    for position, entry in enumerate(p.strip() for p in raw.replace("\n", ",").split(",")):
        if not entry:
            continue
        name, _, rest = entry.partition(":")
        role, _, secret_hash = rest.partition(":")
        role = role.strip().lower()
        projects: tuple[str, ...] | None = None
        if not secret_hash.startswith(scheme):  # name:role:PROJECTS:HASH
            listed, _, secret_hash = secret_hash.partition(":")
            projects = _parse_projects(listed)
        if not name or role not in ROLES or not secret_hash.startswith(scheme) or projects == ():
            logger.warning("%s entry %d is not name:role:[PROJECT+PROJECT:]%s…; ignored", source, position + 1, scheme)
            continue
        out.append(Credential(name.strip(), role, secret_hash.strip(), projects))
    return out


def _parse_projects(listed: str) -> tuple[str, ...] | None:
    """``shop+search`` → ("search", "shop"); ``*`` → None (every project); () when malformed."""
    names = [p.strip() for p in listed.split("+")]
    if names == [ALL_PROJECTS]:
        return None
    try:
        return tuple(sorted({check_project_name(p) for p in names}))
    except ValueError:
        return ()


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """``pbkdf2_sha256$ITERATIONS$SALT$HASH`` (base64, no padding) for ``password``."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2_sha256${iterations}${_b64(salt)}${_b64(digest)}"


def hash_api_key(key: str) -> str:
    """``sha256:HEX`` of an API key (keys are random and long, so a plain digest suffices)."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of ``password`` against a ``hash_password`` string."""
    try:
        scheme, iterations, salt, expected = encoded.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), _unb64(salt), int(iterations))
        return hmac.compare_digest(digest, _unb64(expected))
    except (ValueError, TypeError):
        return False


def authenticate(config: AuthConfig, username: str = "", password: str = "", api_key: str = "") -> User | None:
    """The user for a name/password pair or an API key, else None."""
    if api_key:
        candidate = hash_api_key(api_key)
        for cred in config.api_keys:
            if hmac.compare_digest(candidate, cred.secret_hash):
                return User(cred.name, cred.role, cred.projects)
        return None
    if username and password:
        for cred in config.users:
            if hmac.compare_digest(cred.name.encode(), username.encode()) and verify_password(password, cred.secret_hash):
                return User(cred.name, cred.role, cred.projects)
    return None


# ------------------------------------------------------------------------------------------ Streamlit


def current_user() -> User | None:
    """The logged-in user of this session (the local user when auth is off)."""
    import streamlit as st

    config = AuthConfig.from_env()
    if not config.enabled:
        return User("local", config.anonymous_role)
    stored = st.session_state.get(SESSION_KEY)
    if isinstance(stored, dict) and stored.get("role") in ROLES and stored.get("name"):
        listed = stored.get("projects")
        projects = tuple(str(p) for p in listed) if isinstance(listed, (list, tuple)) else None
        return User(str(stored["name"]), str(stored["role"]), projects)
    claims = _oidc_claims(config)
    if claims and config.oidc is not None:  # claims come from the OIDC login only
        name, role = sso.user_name(claims), sso.role_from_claims(config.oidc, claims)
        projects = sso.projects_from_claims(config.oidc, claims)
        if st.session_state.get(OIDC_AUDITED_KEY) != name:  # once per browser session and identity
            st.session_state[OIDC_AUDITED_KEY] = name
            if role:
                logger.info("dashboard login (oidc): %s (%s)", name, role)
                _audit(name, "login", f"oidc, role {role}{_projects_note(projects)}")
            else:
                logger.warning("dashboard login (oidc) refused: %s has no role", name)
                _audit(name, "login_failed", "oidc: no role in the token's claims", "refused")
        if role:
            return User(name, role, projects)
    return None


def _projects_note(projects: tuple[str, ...] | None) -> str:
    """What a login audit entry says of the projects (nothing when every project is readable)."""
    if projects is None:
        return ""
    return f", projects {'+'.join(projects)}" if projects else ", no project"


def _oidc_claims(config: AuthConfig) -> dict | None:
    """The signed-in OIDC identity's claims (Streamlit verified the ID token), else None."""
    import streamlit as st

    if config.oidc is None or not st.user.is_logged_in:
        return None
    return dict(st.user.to_dict())


def require_login(role: str = "viewer") -> User:
    """The current user; shows the login form and stops the script when nobody is logged in, and stops
    with a message when the user lacks ``role``."""
    import streamlit as st

    user = current_user()
    if user is None:
        config = AuthConfig.from_env()
        claims = _oidc_claims(config)
        if claims:  # signed in with the provider, but no group of the token maps to a role
            st.title("No access to agentotel")
            st.error(f"{sso.user_name(claims)} has no agentotel role: ask an admin to add you to a group of "
                     "AGENTOTEL_OIDC_ROLES.")
            if st.button("Sign out", key="oidc_no_role_logout"):
                st.logout()
            st.stop()
        login_form()
        st.stop()
    if not user.can(role):
        st.warning(f"This page needs the {role} role.")
        st.stop()
    return user


def login_form() -> None:
    """Name/password or API key form; on success the user is stored in the session and the app reruns."""
    import streamlit as st

    config = AuthConfig.from_env()
    st.title("Sign in to agentotel")
    if config.oidc is not None and st.button("Sign in with single sign-on", key="login_oidc", type="primary"):
        st.login()
    if not config.passwords:
        return
    with st.form("login", clear_on_submit=True):
        username = st.text_input("User name", key="login_username")
        password = st.text_input("Password", type="password", key="login_password")
        api_key = st.text_input("…or API key", type="password", key="login_api_key")
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    failures = int(st.session_state.get(FAILURES_KEY, 0))
    if failures >= MAX_FAILURES_BEFORE_DELAY:
        time.sleep(min(5.0, 0.5 * (failures - MAX_FAILURES_BEFORE_DELAY + 1)))  # slow down guessing
    method = "api key" if api_key.strip() else "password"
    user = authenticate(config, username.strip(), password, api_key.strip())
    if user is None:
        st.session_state[FAILURES_KEY] = failures + 1
        logger.warning("dashboard login failed (attempt %d in this session)", failures + 1)
        _audit(username.strip() if method == "password" else "api key", "login_failed", method, "refused")
        st.error("Wrong user name, password or API key.")
        return
    st.session_state[FAILURES_KEY] = 0
    st.session_state[SESSION_KEY] = {"name": user.name, "role": user.role,
                                     "projects": None if user.projects is None else list(user.projects)}
    logger.info("dashboard login: %s (%s)", user.name, user.role)
    _audit(user.name, "login", f"{method}, role {user.role}{_projects_note(user.projects)}")
    st.rerun()


def _audit(actor: str, action: str, target: str, outcome: str = "ok") -> None:
    """Append a login event to the security audit log; a failure to write it is logged, the login goes on."""
    from agentotel.dashboard import data  # here: `agentotel dashboard` imports auth, not Streamlit or pandas

    try:
        data.audit_security(data.db_url(), actor or "?", action, target, outcome)
    except Exception:  # noqa: BLE001 - an audit write must not lock people out; it is logged
        logger.exception("cannot write the security audit log")


# Streamlit's OIDC callback (its server, before any script sees the visitor) logs here when Authlib refuses the ID
# token (bad signature, expired, another audience, wrong nonce) or the provider answers with an error.
STREAMLIT_AUTH_LOGGER = "streamlit.web.server.starlette.starlette_auth_routes"
REFUSED_PREFIXES = ("OAuth token exchange failed", "Error during authentication")


class _RefusedTokenAudit(logging.Handler):
    """Appends each OIDC login Streamlit's callback refused to the security audit log (actor unknown: the token
    was not trusted, so its claims are not either)."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if not message.startswith(REFUSED_PREFIXES):
            return
        exc = record.exc_info[1] if record.exc_info else None
        reason = f"{type(exc).__name__}: {exc}" if exc is not None else message
        logger.warning("dashboard login (oidc) refused: %s", reason[:200])
        _audit("?", "login_failed", f"oidc: token refused ({reason[:200]})", "refused")


def audit_refused_tokens() -> None:
    """Audit the OIDC logins Streamlit refuses (once per process; the app calls it on every run)."""
    streamlit_logger = logging.getLogger(STREAMLIT_AUTH_LOGGER)
    if any(isinstance(h, _RefusedTokenAudit) for h in streamlit_logger.handlers):
        return
    if streamlit_logger.getEffectiveLevel() > logging.WARNING:  # `agentotel up` runs Streamlit with errors only
        streamlit_logger.setLevel(logging.WARNING)
    streamlit_logger.addHandler(_RefusedTokenAudit())


def audit_decryption(user: User, target: str) -> None:
    """With content encrypted at rest, append ``user`` reading ``target``'s content (``trace ID``, ``session
    ID``) to the security audit log, once per target in this browser session."""
    import streamlit as st

    from agentotel.dashboard import data  # here: `agentotel dashboard` imports auth, not Streamlit or pandas

    if not data.content_encrypted(data.db_url()):
        return
    seen = st.session_state.setdefault(DECRYPTED_KEY, set())
    if target not in seen:
        seen.add(target)
        _audit(user.name, "decrypt_content", target)


def logout() -> bool:
    """Sign the session out; True when the browser is being redirected (OIDC): the caller must then not
    rerun, which could drop the redirect before it reaches the browser (the cookie would stay)."""
    import streamlit as st

    user = st.session_state.pop(SESSION_KEY, None)
    if user:
        logger.info("dashboard logout: %s", user.get("name"))
        _audit(str(user.get("name")), "logout", "dashboard")
        return False
    claims = _oidc_claims(AuthConfig.from_env())
    if claims:
        logger.info("dashboard logout (oidc): %s", sso.user_name(claims))
        _audit(sso.user_name(claims), "logout", "dashboard (oidc)")
        st.session_state.pop(OIDC_AUDITED_KEY, None)
        st.logout()  # the browser is sent to /auth/logout (the cookie is cleared there), then home
        return True
    return False
