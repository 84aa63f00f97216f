"""Never break the host: instrumentation faults are logged once per site and swallowed."""

from __future__ import annotations

import logging

logger = logging.getLogger("agentotel.instrumentation")

_reported: set[str] = set()


def report(site: str, exc: BaseException | None = None) -> None:
    """Log an internal failure at ``site`` (full traceback the first time, debug afterwards)."""
    if site in _reported:
        logger.debug("agentotel instrumentation error in %s", site, exc_info=exc or True)
        return
    _reported.add(site)
    logger.warning("agentotel instrumentation error in %s (swallowed)", site, exc_info=exc or True)


def error_type(exc: BaseException) -> str:
    """``error.type``: the provider's code when it has one, else the exception class' qualified name."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return str(status)
    return type(exc).__qualname__ or "_OTHER"
