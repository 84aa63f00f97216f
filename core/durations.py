"""Durations, one parser with one meaning everywhere (CLI flags, rule files, settings).

``"500ms"``, ``"30s"``, ``"5m"``, ``"1.5h"``, ``"2d"``, ``"1w"``. A bare number (``30`` or ``"30"``) means
days, as ``agentotel db cleanup --older-than 30`` documents; write a unit for anything shorter.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 86400.0}


def parse_duration(value: Any) -> timedelta:
    """``value`` as a non-negative timedelta; ``ValueError`` naming the accepted forms otherwise."""
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"negative duration: {value!r}")
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h, 2d)")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"negative duration: {value!r}")
        return timedelta(days=float(value))
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h, 2d; a bare number means days)")
    unit = match.group(2).lower() if match.group(2) else None
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[unit])
