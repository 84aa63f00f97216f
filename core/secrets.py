"""Secret masking, one marker and one set of rules for every component (RELIABILITY.md S5, P6).

Two ways a secret is recognised:

- **structure** (:func:`redact_secrets`, for JSON-like configuration, audit snapshots, exported
  attributes): a key that names a secret (``api_key``, ``password``, ``access_token``, …) or a value with
  the shape of a credential (``sk-…``, ``Bearer …``, a PEM private key). Keys ending in ``_env`` /
  ``_file`` hold a *reference* to a secret (a variable or file name) and are kept;
- **known values** (:func:`redact_text`, for free text such as error messages and log records): every
  value passed to :func:`register_secret` (channel tokens, webhook URLs, …), and credential-shaped tokens.

Both replace what they hide with :data:`REDACTED`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(
    r"(?:^|[_\-.\s])(?:secret|password|passwd|pwd|passphrase|api[_\-]?key|apikey|access[_\-]?key|"
    r"private[_\-]?key|client[_\-]?secret|credentials?|authorization|bearer|auth[_\-]?token|"
    r"session[_\-]?key|signing[_\-]?key|webhook[_\-]?url|dsn)(?:$|[_\-.\s])|(?:^|[_\-.\s])token$",
    re.IGNORECASE,
)
_REFERENCE_KEY = re.compile(r"[_\-.](?:env|env_var|file|path|name)$", re.IGNORECASE)
_CREDENTIAL = (
    r"sk-[A-Za-z0-9_\-]{8,}|(?:ghp|gho|ghs|github_pat|xox[abpr])[_\-][A-Za-z0-9_\-]{8,}|"
    r"AKIA[0-9A-Z]{16}|Bearer\s+[A-Za-z0-9._~+/=\-]{8,}"
)
_SECRET_VALUE = re.compile(rf"^(?:{_CREDENTIAL}|-----BEGIN [A-Z ]*PRIVATE KEY-----.*)$", re.DOTALL)
_CREDENTIAL_IN_TEXT = re.compile(_CREDENTIAL)
_MIN_SECRET_LENGTH = 4

_known: set[str] = set()
_known_lock = threading.Lock()


def is_secret_key(key: str) -> bool:
    """True when ``key`` names a secret value (and is not a reference such as ``api_key_env``)."""
    normalized = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)  # apiKey -> api_Key
    return bool(_SECRET_KEY.search(normalized)) and not _REFERENCE_KEY.search(normalized)


def redact_secrets(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with every secret replaced by :data:`REDACTED`."""
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if is_secret_key(str(k)) and v not in (None, "") else redact_secrets(v))
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_secrets(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.match(value.strip()):
        return REDACTED
    return value


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact_text` (and :class:`RedactingFilter`) hide it everywhere."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _known_lock:
            _known.add(value)


def redact_text(text: Any) -> str:
    """``text`` with every registered secret and credential-shaped token replaced by :data:`REDACTED`."""
    out = str(text)
    for secret in sorted(_known, key=len, reverse=True):
        if secret in out:
            out = out.replace(secret, REDACTED)
    return _CREDENTIAL_IN_TEXT.sub(REDACTED, out)


class RedactingFilter(logging.Filter):
    """Rewrites log records so that no registered secret is emitted (httpx logs request URLs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _known:
            message = record.getMessage()
            cleaned = redact_text(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            if record.exc_info:
                record.exc_text = redact_text(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def install_log_filter(logger_names: tuple[str, ...]) -> None:
    """Attach one :class:`RedactingFilter` to each named logger (filters do not reach child loggers)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())
