"""Failed warehouse writes, classified once: retryable (the database) or permanent (the rows).

The ingest writers (spans, metric points, log records) run their transaction inside ``classified()``, so a
database failure reaches the receiver as a ``StorageError`` that says whether retrying can help; the
receiver's drain maps the class at its edge (retry ``StorageUnavailable`` with back-off, isolate the rows
of a ``StorageRejected``), as the OTel Collector's ``consumererror`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc


class StorageError(Exception):
    """A warehouse write that failed; ``retryable`` says whether the same rows can succeed later."""

    retryable = False


class StorageUnavailable(StorageError):
    """The database is down, locked, out of space or lost the connection: retry the same rows later."""

    retryable = True


class StorageRejected(StorageError):
    """The database refuses these rows (a value, a constraint): retrying them cannot succeed."""


_RETRYABLE = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError, OSError,
)  # fmt: skip


def classify(error: BaseException) -> StorageError:
    """The ``StorageError`` for a SQLAlchemy or OS error raised by a write (message kept; SQL parameters are
    hidden by the engine)."""
    retryable = isinstance(error, _RETRYABLE) or (
        isinstance(error, sa_exc.DBAPIError) and bool(error.connection_invalidated)
    )
    kind = StorageUnavailable if retryable else StorageRejected
    return kind(f"{type(error).__name__}: {error}")


@contextmanager
def classified() -> Iterator[None]:
    """Raise a database or OS failure inside the block as its ``StorageError``; other errors pass unchanged."""
    try:
        yield
    except StorageError:
        raise
    except (sa_exc.SQLAlchemyError, OSError) as error:
        raise classify(error) from error
