"""API-key authentication: keys are kept as SHA-256 digests and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


class ApiKeyAuth:
    """Accepts ``authorization: Bearer KEY`` or ``x-api-key: KEY``; disabled when no key is configured."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys if k]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def check(self, authorization: str | None, x_api_key: str | None) -> bool:
        if not self._digests:
            return True
        presented = None
        if authorization:
            scheme, _, token = authorization.strip().partition(" ")
            if scheme.lower() == "bearer" and token:
                presented = token.strip()
        if presented is None and x_api_key:
            presented = x_api_key.strip()
        if not presented:
            return False
        digest = hashlib.sha256(presented.encode()).digest()
        ok = False
        for known in self._digests:  # no early exit: time does not depend on which key matched
            ok |= hmac.compare_digest(digest, known)
        return ok
