"""Secret redaction for stored configuration and audit diffs (RELIABILITY.md S5, P6).

A value is redacted when its key names a secret (``api_key``, ``password``, ``access_token``, …) or
when the value itself has the shape of a credential (``sk-…``, ``Bearer …``, a PEM private key).
Keys ending in ``_env`` or ``_file`` hold a *reference* to a secret (an environment variable or file
name), which is kept: that is how a configuration should point at its credentials.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***REDACTED***"

_SECRET_KEY = re.compile(
    r"(?:^|[_\-.\s])(?:secret|password|passwd|pwd|passphrase|api[_\-]?key|apikey|access[_\-]?key|"
    r"private[_\-]?key|client[_\-]?secret|credentials?|authorization|auth[_\-]?token|"
    r"session[_\-]?key|signing[_\-]?key|webhook[_\-]?url|dsn)(?:$|[_\-.\s])|(?:^|[_\-.\s])token$",
    re.IGNORECASE,
)
_REFERENCE_KEY = re.compile(r"[_\-.](?:env|env_var|file|path|name)$", re.IGNORECASE)
_SECRET_VALUE = re.compile(
    r"^(?:sk-[A-Za-z0-9_\-]{8,}|(?:ghp|gho|ghs|github_pat|xox[abpr])[_\-][A-Za-z0-9_\-]{8,}|"
    r"AKIA[0-9A-Z]{16}|Bearer\s+\S{8,}|-----BEGIN [A-Z ]*PRIVATE KEY-----.*)$",
    re.DOTALL,
)


def is_secret_key(key: str) -> bool:
    """True when ``key`` names a secret value (and is not a reference such as ``api_key_env``)."""
    normalized = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", key)  # apiKey -> api_Key
    return bool(_SECRET_KEY.search(normalized)) and not _REFERENCE_KEY.search(normalized)


def redact_secrets(value: Any) -> Any:
    """A copy of ``value`` (JSON-like) with every secret replaced by ``REDACTED``."""
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
