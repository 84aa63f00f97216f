"""API-key authentication: keys are kept as SHA-256 digests and compared in constant time.

Static keys (``--api-key`` / ``AGENTOTEL_API_KEYS``) belong to the ``default`` project. Keys made with
``agentotel keys create`` live in the warehouse (``api_keys``, digests only); ``KeyStore`` keeps a copy of
the active ones in memory and refreshes it in the background every ``refresh_seconds``, so a check never
waits on the database and a revocation takes effect within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterable

from agentotel.core.projects import DEFAULT_PROJECT, may_ingest

logger = logging.getLogger(__name__)

KeyLoader = Callable[[], dict[bytes, tuple[str, str]]]  # digest -> (project, scope)


class KeyStore:
    """The active project keys, loaded by ``load`` (e.g. ``warehouse.api_keys.active_keys``)."""

    def __init__(self, load: KeyLoader, refresh_seconds: float = 5.0) -> None:
        self._load = load
        self.refresh_seconds = refresh_seconds
        self.keys: dict[bytes, tuple[str, str]] = load()
        self._loaded_at = time.monotonic()
        self._refreshing = threading.Lock()

    def lookup(self, digest: bytes) -> tuple[str, str] | None:
        if time.monotonic() - self._loaded_at > self.refresh_seconds and self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh, name="api-key-refresh", daemon=True).start()
        return self.keys.get(digest)  # a dict lookup by a digest: time does not depend on the key

    def _refresh(self) -> None:
        try:
            self.keys = self._load()
        except Exception as exc:  # noqa: BLE001 - keep the last good copy; the next check tries again
            logger.warning("cannot refresh the API keys (keeping the last copy): %s", exc)
        finally:
            self._loaded_at = time.monotonic()
            self._refreshing.release()


class ApiKeyAuth:
    """Accepts ``authorization: Bearer KEY`` or ``x-api-key: KEY``; disabled when no key is configured."""

    def __init__(self, keys: Iterable[str] = (), store: KeyStore | None = None) -> None:
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys if k]
        self.store = store

    @property
    def enabled(self) -> bool:
        return bool(self._digests) or bool(self.store is not None and self.store.keys)

    def check(self, authorization: str | None, x_api_key: str | None) -> bool:
        return self.project_of(authorization, x_api_key) is not None

    def project_of(self, authorization: str | None, x_api_key: str | None) -> str | None:
        """The project the presented key may ingest into; None when it is missing, unknown, revoked or
        of the ``read`` scope. Without any key configured, everything goes to the default project."""
        if not self.enabled:
            return DEFAULT_PROJECT
        found = self._key_of(authorization, x_api_key)
        return found[0] if found is not None and may_ingest(found[1]) else None

    def reader_project(self, authorization: str | None, x_api_key: str | None) -> str | None:
        """The project whose figures the presented key may read (a key of any scope reads its own project;
        a static key is the default project's); None when it is missing, unknown or revoked. Without any key
        configured, the default project."""
        if not self.enabled:
            return DEFAULT_PROJECT
        found = self._key_of(authorization, x_api_key)
        return found[0] if found is not None else None

    def _key_of(self, authorization: str | None, x_api_key: str | None) -> tuple[str, str] | None:
        """(project, scope) of the presented key: ``Authorization: Bearer`` first, then ``x-api-key``."""
        presented = None
        if authorization:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and token:
                presented = token.strip()
        if presented is None and x_api_key:
            presented = x_api_key.strip()
        if not presented:
            return None
        digest = hashlib.sha256(presented.encode()).digest()
        ok = False
        for known in self._digests:  # no early exit: time does not depend on which key matched
            ok |= hmac.compare_digest(digest, known)
        if ok:
            return DEFAULT_PROJECT, "admin"
        return self.store.lookup(digest) if self.store is not None else None
