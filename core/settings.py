"""Settings read from the environment (argument > environment > default).

The names come from the design document: ``MONITORING_DB_URL``, ``MONITORING_DB_SSL``,
``MONITORING_DB_POOL_SIZE``, ``MONITORING_DB_MAX_OVERFLOW``. Every secret may also be given as
``NAME_FILE`` pointing at a file that holds it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

DEFAULT_DB_URL = "sqlite:///monitoring.db"


def env_str(name: str, default: str | None = None) -> str | None:
    """Value of ``name``, or the contents of the file named by ``name_FILE``, else ``default``."""
    value = os.environ.get(name)
    if value is not None and value != "":
        return value
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read().strip()
        except OSError as exc:
            logger.warning("cannot read %s_FILE: %s", name, exc.strerror)
    return default


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        logger.warning("%s=%r is not an integer; using %d", name, raw, default)
        return default


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        logger.warning("%s=%r is not a number; using %s", name, raw, default)
        return default


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
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


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = DEFAULT_DB_URL
    ssl: str | None = None  # libpq sslmode, e.g. "require"; None leaves the URL as given
    pool_size: int = 5
    max_overflow: int = 10

    @classmethod
    def from_env(cls, url: str | None = None) -> DatabaseSettings:
        ssl = env_str("MONITORING_DB_SSL")
        if ssl is not None and ssl.lower() in ("1", "true", "yes", "on"):
            ssl = "require"
        elif ssl is not None and ssl.lower() in ("0", "false", "no", "off"):
            ssl = "disable"
        return cls(
            url=url or env_str("MONITORING_DB_URL", DEFAULT_DB_URL) or DEFAULT_DB_URL,
            ssl=ssl,
            pool_size=env_int("MONITORING_DB_POOL_SIZE", 5),
            max_overflow=env_int("MONITORING_DB_MAX_OVERFLOW", 10),
        )


@dataclass(frozen=True)
class ReceiverSettings:
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
            redact_pii=env_bool("AGENTOTEL_REDACT_PII", True),
            pricing_file=env_str("AGENTOTEL_PRICING_FILE"),
        )
