"""UTC time: every timestamp agentotel stores or compares is timezone-aware UTC."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, overload

from agentotel.core.durations import parse_duration


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)


@overload
def as_utc(value: None) -> None: ...
@overload
def as_utc(value: datetime | str) -> datetime: ...
def as_utc(value: Any) -> datetime | None:
    """``value`` (datetime, pandas Timestamp or ISO-8601 text) as an aware UTC datetime; naive means UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    to_pydatetime = getattr(value, "to_pydatetime", None)  # pandas.Timestamp, without importing pandas
    if to_pydatetime is not None:
        value = to_pydatetime()
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


_AGE_WITH_UNIT = re.compile(r"^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*$", re.IGNORECASE)


def parse_time(value: str | None, now: datetime | None = None) -> datetime | None:
    """ISO 8601 (naive = UTC) or an age with a unit (``24h`` = 24 hours before ``now``)."""
    if value is None:
        return None
    if _AGE_WITH_UNIT.match(value):
        return (now or utcnow()) - parse_duration(value)
    try:
        return as_utc(value)
    except ValueError:
        raise ValueError(
            f"invalid time {value!r}: use ISO 8601 (2026-01-31, 2026-01-31T12:00:00Z) or an age like 24h"
        ) from None
