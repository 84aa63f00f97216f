"""Projects (tenancy): the default project and the rule for a project's name.

Every row of the warehouse belongs to one project (``project_id``); rows written before projects existed,
and everything the static API keys (``--api-key`` / ``AGENTOTEL_API_KEYS``) ingest, belong to ``default``.
"""

from __future__ import annotations

import re

DEFAULT_PROJECT = "default"
SCOPES = ("ingest", "read", "admin")  # what an API key may do; admin may do everything
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def check_project_name(name: str) -> str:
    """``name`` if it is a valid project name (lower-case letters, digits, ``-`` and ``_``, at most 64,
    starting with a letter or digit); ``ValueError`` otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"invalid project name {name!r}: use 1-64 lower-case letters, digits, '-' or '_'")
    return name


def may_ingest(scope: str) -> bool:
    return scope in ("ingest", "admin")


# the resource attribute by which the receiver hands a request's project to the processors (set by the
# receiver from the API key; a client's own value is removed)
PROJECT_ATTRIBUTE = "agentotel.project"
