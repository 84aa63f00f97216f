"""Server-side settings: every environment variable the server reads, read here and nowhere else.

Argument > environment > default. Each concern has one frozen settings object with ``from_env(...)``
(environment > default; explicit values as keywords win) and, where the command line has flags for it,
``resolve(args)`` (a flag given on the command line wins). Commands resolve once, at the edge (the
``cli`` modules, ``agentotel up``, the dashboard's script run), and pass the objects or plain values
down; components never read the environment themselves.

Every variable may also be given as ``NAME_FILE`` naming a file that holds the value (Docker and
Kubernetes secrets); ``NAME`` wins over ``NAME_FILE``. The one lookup of a variable chosen by the user is
:func:`secret_from_env`, for a secret that a rules file names (``url_env: SLACK_URL``).

The database names come from the design document: ``MONITORING_DB_URL``, ``MONITORING_DB_SSL``,
``MONITORING_DB_POOL_SIZE``, ``MONITORING_DB_MAX_OVERFLOW``. The instrumentation, which runs inside the
user's agent process, reads its own ``OTEL_*`` settings (``agentotel.instrumentation``).
"""

from __future__ import annotations

import dataclasses
import getpass
import logging
import os
from argparse import Namespace
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from agentotel.core.projects import DEFAULT_PROJECT

logger = logging.getLogger(__name__)

DEFAULT_DB_URL = "sqlite:///monitoring.db"
DEFAULT_RECEIVER_METRICS_URL = "http://127.0.0.1:9464/metrics"

# database (design document)
DB_URL_ENV = "MONITORING_DB_URL"
DB_SSL_ENV = "MONITORING_DB_SSL"
DB_POOL_SIZE_ENV = "MONITORING_DB_POOL_SIZE"
DB_MAX_OVERFLOW_ENV = "MONITORING_DB_MAX_OVERFLOW"
MASTER_KEY_ENV = "AGENTOTEL_MASTER_KEY"  # opt-in encryption at rest of captured content (warehouse/content_keys.py)
# dashboard (its Streamlit process receives its warehouse URL from ``agentotel dashboard`` here)
DASHBOARD_DB_URL_ENV = "AGENTOTEL_DASHBOARD_DB_URL"
DASHBOARD_HOST_ENV = "AGENTOTEL_DASHBOARD_HOST"
DASHBOARD_PORT_ENV = "AGENTOTEL_DASHBOARD_PORT"
DASHBOARD_RECEIVER_METRICS_ENV = "AGENTOTEL_DASHBOARD_RECEIVER_METRICS_URL"
DASHBOARD_RECEIVER_METRICS_KEY_ENV = "AGENTOTEL_DASHBOARD_RECEIVER_METRICS_KEY"  # the receiver has API keys
DASHBOARD_USERS_ENV = "AGENTOTEL_DASHBOARD_USERS"
DASHBOARD_API_KEYS_ENV = "AGENTOTEL_DASHBOARD_API_KEYS"
DASHBOARD_ANONYMOUS_ROLE_ENV = "AGENTOTEL_DASHBOARD_ANONYMOUS_ROLE"
OIDC_ISSUER_ENV = "AGENTOTEL_OIDC_ISSUER"  # OIDC login of the dashboard (dashboard/oidc.py); the other AGENTOTEL_OIDC_* too
# alerting, registry, evaluation
ALERT_RULES_ENV = "AGENTOTEL_ALERT_RULES"
ALERT_ALLOW_HOSTS_ENV = "AGENTOTEL_ALERT_ALLOW_HOSTS"
REGISTRY_GATE_ENV = "AGENTOTEL_REGISTRY_GATE"
ACTOR_ENV = "AGENTOTEL_ACTOR"
PROJECT_ENV = "AGENTOTEL_PROJECT"  # the project eval, alerts and registry act in
JUDGE_BASE_URL_ENV = "AGENTOTEL_JUDGE_BASE_URL"
ONLINE_EVALUATION_ENV = "AGENTOTEL_ONLINE_EVALUATION"
OPENAI_BASE_URL_ENV = "OPENAI_BASE_URL"
OPENAI_API_KEY_ENV = "OPENAI_API_KEY"
PRICING_FILE_ENV = "AGENTOTEL_PRICING_FILE"


# -- reading the environment (only here) -------------------------------------------------------------


def _raw(name: str) -> str | None:
    """``name``, else the contents of the file named by ``name_FILE``, else None (empty counts as unset)."""
    value = os.environ.get(name)
    if value is not None and value.strip() != "":
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            logger.warning("cannot read %s_FILE: %s", name, exc.strerror)
    return None


def env_str(name: str, default: str | None = None) -> str | None:
    """Value of ``name``, or the contents of the file named by ``name_FILE``, else ``default``."""
    value = _raw(name)
    return default if value is None else value


def env_int(name: str, default: int) -> int:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        logger.warning("%s=%r is not an integer; using %d", name, raw, default)
        return default


def env_float(name: str, default: float) -> float:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        logger.warning("%s=%r is not a number; using %s", name, raw, default)
        return default


def env_bool(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on", "require", "verify-full", "verify-ca"):
        return True
    if value in ("0", "false", "no", "off", "disable"):
        return False
    logger.warning("%s=%r is not a boolean; using %s", name, raw, default)
    return default


def env_list(name: str) -> list[str]:
    raw = env_str(name)
    if not raw:
        return []
    return [part.strip() for part in raw.split(",") if part.strip()]


def secret_from_env(name: str) -> str | None:
    """The secret in the variable a configuration file names (``url_env: SLACK_URL``), or ``NAME_FILE``.

    The one lookup of a variable the user chooses; everything else the server reads is a setting above.
    """
    return env_str(name)


def child_environment(overrides: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: this process's (or ``base``) with ``overrides`` set. How a
    command hands resolved settings to a process it starts (the dashboard's Streamlit server)."""
    return {**(os.environ if base is None else base), **overrides}


def _given(args: Namespace | None, name: str):
    """The value of flag ``name`` if it was given on the command line (flags default to None)."""
    return None if args is None else getattr(args, name, None)


def _project(given: str | None) -> str:
    """``--project`` > ``AGENTOTEL_PROJECT`` > ``default`` (the command checks the name and that it exists)."""
    return given or env_str(PROJECT_ENV) or DEFAULT_PROJECT


# -- settings objects ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseSettings:
    """The warehouse: ``--db`` > ``MONITORING_DB_URL`` > ``sqlite:///monitoring.db``; pool and SSL."""

    url: str = DEFAULT_DB_URL
    ssl: str | None = None  # libpq sslmode, e.g. "require"; None leaves the URL as given
    pool_size: int = 5
    max_overflow: int = 10
    # AGENTOTEL_MASTER_KEY / _FILE: wraps the data keys of captured content; set = content stored encrypted
    master_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, url: str | None = None) -> DatabaseSettings:
        ssl = env_str(DB_SSL_ENV)
        if ssl is not None and ssl.lower() in ("1", "true", "yes", "on"):
            ssl = "require"
        elif ssl is not None and ssl.lower() in ("0", "false", "no", "off"):
            ssl = "disable"
        return cls(
            url=url or env_str(DB_URL_ENV, DEFAULT_DB_URL) or DEFAULT_DB_URL,
            ssl=ssl,
            pool_size=env_int(DB_POOL_SIZE_ENV, 5),
            max_overflow=env_int(DB_MAX_OVERFLOW_ENV, 10),
            master_key=env_str(MASTER_KEY_ENV),
        )

    @classmethod
    def resolve(cls, args: Namespace | None = None) -> DatabaseSettings:
        """``args.db`` (``core.cli_args.add_database_argument``) > environment > default."""
        return cls.from_env(_given(args, "db"))

    @property
    def display_url(self) -> str:
        """The URL with its password hidden, for messages and logs."""
        return mask_url_password(self.url)


def mask_url_password(url: str) -> str:
    """``scheme://user:***@host/db`` for a URL with a password; other URLs unchanged."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{hostinfo}").geturl()


# flag (argparse dest) -> ReceiverSettings field, for the flags that map one to one
_RECEIVER_FLAGS = (
    "host", "grpc_port", "http_port", "metrics_port", "tls_cert", "tls_key", "spool_dir", "spool_max_bytes",
    "max_request_bytes", "sample_rate", "pricing_file",
)  # fmt: skip


@dataclass(frozen=True)
class ReceiverSettings:
    """The receiver and its pipeline (``agentotel receive``/``up``): listeners, limits, spool, processing."""

    host: str = "127.0.0.1"
    grpc_port: int = 4317
    http_port: int = 4318
    metrics_port: int = 9464
    api_keys: tuple[str, ...] = ()
    tls_cert: str | None = None
    tls_key: str | None = None
    max_request_bytes: int = 64 * 1024 * 1024
    spool_dir: str = ".agentotel-spool"
    spool_max_bytes: int = 1024 * 1024 * 1024
    max_attributes: int = 1000
    max_attribute_length: int = 1024 * 1024
    sample_rate: float = 1.0
    sample_decision_wait: float = 5.0  # seconds a trace not sampled in by id waits for an error span
    sample_max_held_spans: int = 50_000  # spans held for those decisions at most (memory bound)
    redact_pii: bool = True
    pricing_file: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> ReceiverSettings:
        return cls(
            host=env_str("AGENTOTEL_HOST", "127.0.0.1") or "127.0.0.1",
            grpc_port=env_int("AGENTOTEL_GRPC_PORT", 4317),
            http_port=env_int("AGENTOTEL_HTTP_PORT", 4318),
            metrics_port=env_int("AGENTOTEL_METRICS_PORT", 9464),
            api_keys=tuple(env_list("AGENTOTEL_API_KEYS")),
            tls_cert=env_str("AGENTOTEL_TLS_CERT"),
            tls_key=env_str("AGENTOTEL_TLS_KEY"),
            max_request_bytes=env_int("AGENTOTEL_MAX_REQUEST_BYTES", 64 * 1024 * 1024),
            spool_dir=env_str("AGENTOTEL_SPOOL_DIR", ".agentotel-spool") or ".agentotel-spool",
            spool_max_bytes=env_int("AGENTOTEL_SPOOL_MAX_BYTES", 1024 * 1024 * 1024),
            max_attributes=env_int("AGENTOTEL_MAX_ATTRIBUTES", 1000),
            max_attribute_length=env_int("AGENTOTEL_MAX_ATTRIBUTE_LENGTH", 1024 * 1024),
            sample_rate=env_float("AGENTOTEL_SAMPLE_RATE", 1.0),
            sample_decision_wait=env_float("AGENTOTEL_SAMPLE_DECISION_WAIT", 5.0),
            sample_max_held_spans=env_int("AGENTOTEL_SAMPLE_MAX_HELD_SPANS", 50_000),
            redact_pii=env_bool("AGENTOTEL_REDACT_PII", True),
            pricing_file=env_str(PRICING_FILE_ENV),
        )

    @classmethod
    def resolve(cls, args: Namespace | None = None) -> ReceiverSettings:
        """The flags of ``agentotel receive`` given on the command line > environment > defaults.

        ``--api-key`` (repeatable) replaces ``AGENTOTEL_API_KEYS``; ``--no-redact`` turns redaction off.
        """
        base = cls.from_env()
        given = {name: _given(args, name) for name in _RECEIVER_FLAGS}
        changes = {name: value for name, value in given.items() if value is not None}
        if _given(args, "api_key"):
            changes["api_keys"] = tuple(args.api_key)  # type: ignore[union-attr]
        if _given(args, "no_redact"):
            changes["redact_pii"] = False
        return dataclasses.replace(base, **changes)


@dataclass(frozen=True)
class RegistrySettings:
    """The promotion gate's policies (raw: ``ENV=LEVEL,…`` or a YAML/JSON document, e.g. from
    ``AGENTOTEL_REGISTRY_GATE_FILE``; parsed by the registry) and who acts."""

    gate: str | None = None
    actor: str | None = None
    project: str = DEFAULT_PROJECT

    @classmethod
    def from_env(cls, actor: str | None = None, project: str | None = None) -> RegistrySettings:
        return cls(gate=env_str(REGISTRY_GATE_ENV), actor=actor or env_str(ACTOR_ENV), project=_project(project))

    @classmethod
    def resolve(cls, args: Namespace | None = None) -> RegistrySettings:
        """``--actor`` > ``AGENTOTEL_ACTOR`` (``who`` falls back to the login name); ``--project`` >
        ``AGENTOTEL_PROJECT`` > ``default``."""
        return cls.from_env(actor=_given(args, "actor"), project=_given(args, "project"))

    @property
    def who(self) -> str:
        """Who acts, for audit logs: ``--actor`` > ``AGENTOTEL_ACTOR`` > the login name (``unknown`` without
        one, as in a container without a passwd entry)."""
        if self.actor:
            return self.actor
        try:
            return getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name: still name the change
            return "unknown"


@dataclass(frozen=True)
class DashboardSettings:
    """The dashboard: its warehouse, address, the receiver's /metrics, login entries (hashed secrets)."""

    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    host: str = "127.0.0.1"
    port: int = 8501
    receiver_metrics_url: str = DEFAULT_RECEIVER_METRICS_URL
    receiver_metrics_key: str | None = field(default=None, repr=False)  # an API key of the receiver for /metrics
    users: str = ""  # name:role:pbkdf2_sha256$… entries, parsed by agentotel.dashboard.auth
    api_keys: str = ""  # name:role:sha256:… entries
    anonymous_role: str = "operator"  # validated by agentotel.dashboard.auth
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    # OIDC login (st.login through Authlib): issuer URL, client, cookie secret, roles from a claim
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = field(default=None, repr=False)
    oidc_cookie_secret: str | None = field(default=None, repr=False)
    oidc_redirect_uri: str | None = None  # default http://HOST:PORT/oauth2callback
    oidc_roles_claim: str = "groups"
    oidc_roles: str = ""  # "admin=GROUP,operator=GROUP,viewer=GROUP" (a user gets the highest role matched)
    oidc_projects_claim: str = ""  # the claim projects are mapped from (default: the roles claim)
    oidc_projects: str = ""  # "PROJECT=GROUP,*=GROUP" (projects readable; unset: all, set: none unless matched)

    @classmethod
    def from_env(cls, db_url: str | None = None) -> DashboardSettings:
        """Warehouse: ``db_url`` > ``AGENTOTEL_DASHBOARD_DB_URL`` > ``MONITORING_DB_URL`` > default."""
        return cls(
            database=DatabaseSettings.from_env(db_url or env_str(DASHBOARD_DB_URL_ENV)),
            host=env_str(DASHBOARD_HOST_ENV, "127.0.0.1") or "127.0.0.1",
            port=env_int(DASHBOARD_PORT_ENV, 8501),
            receiver_metrics_url=env_str(DASHBOARD_RECEIVER_METRICS_ENV) or DEFAULT_RECEIVER_METRICS_URL,
            receiver_metrics_key=env_str(DASHBOARD_RECEIVER_METRICS_KEY_ENV),
            users=env_str(DASHBOARD_USERS_ENV) or "",
            api_keys=env_str(DASHBOARD_API_KEYS_ENV) or "",
            anonymous_role=(env_str(DASHBOARD_ANONYMOUS_ROLE_ENV) or "operator").strip().lower(),
            registry=RegistrySettings.from_env(),
            oidc_issuer=env_str(OIDC_ISSUER_ENV),
            oidc_client_id=env_str("AGENTOTEL_OIDC_CLIENT_ID"),
            oidc_client_secret=env_str("AGENTOTEL_OIDC_CLIENT_SECRET"),
            oidc_cookie_secret=env_str("AGENTOTEL_OIDC_COOKIE_SECRET"),
            oidc_redirect_uri=env_str("AGENTOTEL_OIDC_REDIRECT_URI"),
            oidc_roles_claim=env_str("AGENTOTEL_OIDC_ROLES_CLAIM") or "groups",
            oidc_roles=env_str("AGENTOTEL_OIDC_ROLES") or "",
            oidc_projects_claim=env_str("AGENTOTEL_OIDC_PROJECTS_CLAIM") or "",
            oidc_projects=env_str("AGENTOTEL_OIDC_PROJECTS") or "",
        )

    @classmethod
    def resolve(cls, args: Namespace | None = None) -> DashboardSettings:
        """``--db``, ``--host``, ``--port``, ``--receiver-metrics`` > environment > defaults."""
        base = cls.from_env(_given(args, "db"))
        changes = {"host": _given(args, "host"), "port": _given(args, "port"),
                   "receiver_metrics_url": _given(args, "receiver_metrics")}
        return dataclasses.replace(base, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class AlertingSettings:
    """The rules file and the hosts notification channels may reach although internal (SSRF allow-list)."""

    rules_file: str | None = None
    allow_hosts: tuple[str, ...] = ()
    project: str = DEFAULT_PROJECT

    @classmethod
    def from_env(cls, rules_file: str | None = None, project: str | None = None) -> AlertingSettings:
        return cls(rules_file=rules_file or env_str(ALERT_RULES_ENV), allow_hosts=tuple(env_list(ALERT_ALLOW_HOSTS_ENV)),
                   project=_project(project))

    @classmethod
    def resolve(cls, args: Namespace | None = None) -> AlertingSettings:
        """``--rules`` > ``AGENTOTEL_ALERT_RULES``; ``--project`` > ``AGENTOTEL_PROJECT`` > ``default``."""
        return cls.from_env(rules_file=_given(args, "rules"), project=_given(args, "project"))


@dataclass(frozen=True)
class EvaluationSettings:
    """What evaluators and endpoint agents need from the environment: the OpenAI key, the judge's base
    URL (``AGENTOTEL_JUDGE_BASE_URL`` > ``OPENAI_BASE_URL``), the pricing file merged over the
    project's table, and the online evaluation configuration file (``AGENTOTEL_ONLINE_EVALUATION``)."""

    openai_api_key: str | None = None
    judge_base_url: str | None = None
    pricing_file: str | None = None
    online_config: str | None = None
    project: str = DEFAULT_PROJECT

    @classmethod
    def from_env(cls, openai_api_key: str | None = None, online_config: str | None = None,
                 project: str | None = None) -> EvaluationSettings:
        return cls(
            openai_api_key=openai_api_key or env_str(OPENAI_API_KEY_ENV),
            judge_base_url=env_str(JUDGE_BASE_URL_ENV) or env_str(OPENAI_BASE_URL_ENV),
            pricing_file=env_str(PRICING_FILE_ENV),
            online_config=online_config or env_str(ONLINE_EVALUATION_ENV),
            project=_project(project),
        )

    @classmethod
    def resolve(cls, args: Namespace | None = None) -> EvaluationSettings:
        """``--api-key`` > ``OPENAI_API_KEY``; ``--config`` (``eval online``) > ``AGENTOTEL_ONLINE_EVALUATION``;
        ``--project`` > ``AGENTOTEL_PROJECT`` > ``default``."""
        return cls.from_env(openai_api_key=_given(args, "api_key"), online_config=_given(args, "online_config"),
                            project=_given(args, "project"))
